"""The training layer: HF Trainer + peft with a per-item learning-dynamics recorder.

Public API (imported lazily, so ``import contested.train.recorder`` stays light)::

    run(config, *, runs_dir="runs", force=False, progress=True) -> Path    # one run directory
    RunConfig, TrainConfig, RecordConfig                                     # configs
    DynamicsRecorder                   # update(item_ids, logits, labels, *, step, ...) / finalize()
    DynamicsCallback, EvalSet          # snapshots in your own HF Trainer
    InflightLossMixin, DynamicsTrainer # in-flight per-item losses from the training forward pass

See ``docs/training.md``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "run": "contested.train.pipeline",
    "RunConfig": "contested.train.config",
    "TrainConfig": "contested.train.config",
    "RecordConfig": "contested.train.config",
    "DynamicsRecorder": "contested.train.recorder",
    "DynamicsCallback": "contested.train.callbacks",
    "EvalSet": "contested.train.snapshot",
    "take_snapshot": "contested.train.snapshot",
    "InflightLossMixin": "contested.train.trainer",
    "DynamicsTrainer": "contested.train.trainer",
    "DynamicsCollator": "contested.train.data",
    "tokenised_dataset": "contested.train.data",
    "class_weights": "contested.train.data",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'contested.train' has no attribute {name!r}")
