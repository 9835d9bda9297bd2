"""The training layer: HF Trainer + peft with a per-item learning-dynamics recorder.

Public API (imported lazily, so ``import contested.train.recorder`` stays light)::

    run(config, *, runs_dir="runs", force=False, progress=True) -> Path    # one run directory
    RunConfig, TrainConfig, RecordConfig                                     # configs
    DynamicsRecorder                   # update(item_ids, logits, labels, *, step, ...) / finalize()
    DynamicsCallback, EvalSet          # snapshots in your own HF Trainer
    InflightLossMixin, DynamicsTrainer # in-flight per-item losses from the training forward pass
    EarlyWarningCallback, EarlyWarningConfig   # early warning of un-learning (docs/early_warning.md)

See ``docs/training.md``.
"""

from __future__ import annotations

from contested._lazy import lazy_exports

_EXPORTS = {
    "run": "pipeline",
    "RunConfig": "config", "TrainConfig": "config", "RecordConfig": "config",
    "DynamicsRecorder": "recorder",
    "DynamicsCallback": "callbacks",
    "EvalSet": "snapshot", "take_snapshot": "snapshot",
    "InflightLossMixin": "trainer", "DynamicsTrainer": "trainer",
    "DynamicsCollator": "data", "tokenised_dataset": "data", "class_weights": "data",
    "EarlyWarningCallback": "early_warning", "EarlyWarningConfig": "early_config",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
