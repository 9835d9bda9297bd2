"""One training run, top to bottom: config → mixture → model → Trainer + recorder → run directory.

``run(config)`` writes ``runs/<config.digest()>/`` with ``config.json``, ``env.json``,
``items.parquet``, ``dynamics.parquet``, ``noise.parquet``, ``metrics.json`` and, last, ``DONE``
(see :mod:`contested.rundir`). A finished config is a no-op unless ``force=True``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from transformers import PrinterCallback, TrainerCallback

from contested.data import build_mixture
from contested.errors import ContestedError
from contested.io import write_json, write_table
from contested.models import load_for_classification, resolve_model
from contested.provenance import environment_info
from contested.rundir.layout import (
    CONFIG,
    DYNAMICS,
    ENV,
    ITEMS,
    METRICS,
    NOISE,
    building,
    is_finished,
)
from contested.train.callbacks import (
    DynamicsCallback,
    HeldoutAccuracyCallback,
    RichProgressCallback,
    epoch_metrics,
)
from contested.train.config import RunConfig, TrainConfig
from contested.train.data import (
    DynamicsCollator,
    class_weights,
    encode_texts,
    item_weights,
    tokenised_dataset,
)
from contested.train.early_config import EarlyWarningConfig
from contested.train.early_warning import early_warning_callback
from contested.train.recorder import DynamicsRecorder
from contested.train.snapshot import EvalSet
from contested.train.trainer import DynamicsTrainer, training_arguments, use_cpu


def run(
    config: RunConfig,
    *,
    runs_dir: str | os.PathLike = "runs",
    force: bool = False,
    progress: bool = True,
    callbacks: Sequence[TrainerCallback] = (),
    early_warning: EarlyWarningConfig | None = None,
) -> Path:
    """Train ``config`` and record its dynamics; return the finished run directory.

    Parameters
    ----------
    config
        The resolved run configuration; its digest names the directory.
    runs_dir
        Parent folder of run directories.
    force
        Redo a finished run (the old directory is replaced only when the new one is complete).
    progress
        Show rich progress bars on stderr.
    callbacks
        Extra HF ``TrainerCallback``s (e.g. logging to your tracker).
    early_warning
        Early-warning options for this run (default: ``config.early_warning`` when the config has
        that section); with ``warning`` on, ``early_warning.parquet`` is written into the run.

    Returns
    -------
    Path
        ``runs_dir / config.digest()``.

    Raises
    ------
    ContestedError
        Bad data (fewer than two classes), an unavailable device, out of memory, unknown model.
        No run directory is left behind.
    """
    started = time.perf_counter()
    digest = config.digest()
    final = Path(runs_dir) / digest
    if is_finished(final) and not force:
        return final
    _check_device(config.train)
    early_warning = early_warning or config.early_warning
    if early_warning is not None and early_warning.warning:
        early_warning.load_predictor()  # a bad predictor file stops here, before any run directory
    mixture = build_mixture(config.data)
    _check_mixture(mixture)
    spec = resolve_model(config.model)
    with _quiet_transformers(), _out_of_memory_as_error(config.train):
        # Seeds are set inside load_for_classification before the head and before peft wrapping.
        # Loading before the run dir exists: bad targets/ranks never leave a directory behind.
        model, tokenizer = load_for_classification(
            spec, num_labels=mixture.num_classes, method=config.method, seed=config.train.seed,
            dtype=config.train.dtype,
        )
    with _quiet_transformers(), building(runs_dir, digest) as tmp, _out_of_memory_as_error(config.train):
        _train_into(tmp, config, mixture, spec, model, tokenizer, progress=progress,
                    callbacks=callbacks, started=started, early_warning=early_warning)
    return final


def _check_device(train: TrainConfig) -> None:
    if train.device == "cuda" and not torch.cuda.is_available():
        raise ContestedError("field 'train.device' (--device): cuda requested but no CUDA device is "
                             "available; use --device auto or cpu")
    if train.device == "mps" and not torch.backends.mps.is_available():
        raise ContestedError("field 'train.device' (--device): mps requested but not available; "
                             "use --device auto or cpu")
    if train.tf32 and (use_cpu(train.device) or not torch.cuda.is_available()
                       or torch.cuda.get_device_capability()[0] < 8):
        raise ContestedError("field 'train.tf32' (--tf32): TF32 needs an Ampere or newer NVIDIA "
                             "GPU; drop --tf32 on this machine")


def _check_mixture(mixture: Any) -> None:
    if mixture.num_classes < 2:
        raise ContestedError(
            f"dataset has {mixture.num_classes} class(es); classification needs at least two "
            "(check --dataset / the label columns of the file)"
        )
    present = np.unique(np.asarray(mixture.train["label"]))
    if len(present) < 2:
        raise ContestedError(
            f"the training mixture has only class {present.tolist()}; training needs at least two "
            "classes (check --dataset, --bulk-source and --bulk)"
        )
    if len(mixture.tracked) == 0:
        raise ContestedError("the mixture has no tracked items; check --dataset, --tracked-fraction "
                             "and --max-tracked")


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' load reports and tqdm bars (we draw our own); restore afterwards."""
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def _out_of_memory_as_error(train: TrainConfig) -> Iterator[None]:
    try:
        yield
    except torch.OutOfMemoryError as exc:
        raise _oom_error(train) from exc
    except RuntimeError as exc:  # MPS and some CPU allocators raise a plain RuntimeError
        if "out of memory" in str(exc).lower():
            raise _oom_error(train) from exc
        raise


def _oom_error(train: TrainConfig) -> ContestedError:
    dbs = train.per_device_batch
    if dbs > 1:
        fix = (f"rerun with --device-batch-size {max(1, dbs // 2)} (gradient accumulation keeps "
               f"the effective batch at {train.batch_size})")
    else:
        fix = "lower --max-length, use a smaller model, or --bf16 on a GPU"
    return ContestedError(f"out of memory on the device with device_batch_size={dbs}: {fix}")


def _eval_set(frame: pd.DataFrame, tokenizer: Any, *, split: str, label_col: str, train: TrainConfig,
              template: str | None, noisy: dict[str, bool] | None = None) -> EvalSet:
    ids = frame["item_id"].astype(str).tolist()
    return EvalSet.from_texts(
        tokenizer, split=split, item_ids=ids, premises=frame["premise"].tolist(),
        hypotheses=frame["hypothesis"].tolist() if "hypothesis" in frame else None,
        labels=frame[label_col].astype(int).to_numpy(),
        is_noisy=[bool((noisy or {}).get(i, False)) for i in ids],
        max_length=train.max_length, template=template,
    )


def _item_weights(mixture: Any, train: TrainConfig) -> np.ndarray | None:
    """Per-row loss weights of ``mixture.train`` (``train.item_weighting``); None when off."""
    if train.item_weighting == "none":
        return None
    df, tracked = mixture.train, mixture.tracked.set_index(mixture.tracked["item_id"].astype(str))
    ids = df["item_id"].astype(str)
    return item_weights(df["is_tracked"].astype(bool).to_numpy(),
                        ids.map(tracked["entropy"]).astype(float).to_numpy(),
                        ids.map(tracked["bin"].astype(str)).tolist(),
                        mode=train.item_weighting, num_classes=mixture.num_classes,
                        bin_weights=train.bin_weights)


def _train_dataset(mixture: Any, tokenizer: Any, train: TrainConfig, template: str | None,
                   weights: np.ndarray | None = None) -> Any:
    """The training mixture, tokenised; tracked items carry their tracking label (``label_used``),
    soft targets (with ``soft_labels``) and loss weights (``weights``, when item weighting is on)."""
    df = mixture.train
    tracking_label = dict(zip(mixture.tracked["item_id"].astype(str),
                              mixture.tracked["training_label"].astype(int), strict=True))
    ids = df["item_id"].astype(str).tolist()
    feats = encode_texts(tokenizer, df["premise"].tolist(), df["hypothesis"].tolist(),
                         max_length=train.max_length, template=template)
    soft = np.stack(df["label_dist"].map(np.asarray).tolist()) if train.soft_labels else None
    return tokenised_dataset(
        feats, labels=df["label"].astype(int).to_numpy(), item_ids=ids,
        is_tracked=df["is_tracked"].astype(bool).to_numpy(),
        label_used=[tracking_label.get(i, -1) for i in ids],
        is_noisy=df["is_noisy"].astype(bool).to_numpy(), soft_labels=soft, item_weight=weights,
    )


def _mitigation_summary(mixture: Any, config: RunConfig, weights: np.ndarray | None) -> dict[str, Any]:
    """metrics.json: tracked items whose training target is not one-hot; mean item weight per bin."""
    df = mixture.train
    tracked = df["is_tracked"].astype(bool).to_numpy()
    n_soft = 0
    if config.train.soft_labels and tracked.any():  # only soft-label runs have non-one-hot targets
        dist = np.stack(df.loc[tracked, "label_dist"].map(np.asarray).tolist())
        n_soft = int((dist.max(axis=1) < 1.0).sum())
    by_bin = None
    if weights is not None:
        bins = df["item_id"].astype(str).map(
            dict(zip(mixture.tracked["item_id"].astype(str), mixture.tracked["bin"].astype(str), strict=True)))
        frame = pd.DataFrame({"bin": bins[tracked].to_numpy(), "w": weights[tracked]})
        by_bin = {str(b): round(float(w), 6) for b, w in frame.groupby("bin")["w"].mean().items()}
    return {"n_soft_targets": n_soft, "item_weight_by_bin": by_bin}


def _progress_bars(enabled: bool) -> contextlib.AbstractContextManager:
    if not enabled:
        return contextlib.nullcontext(None)
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    return Progress(
        TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[loss]}"), TimeElapsedColumn(), TimeRemainingColumn(),
        console=Console(stderr=True),
    )


def _train_into(tmp: Path, config: RunConfig, mixture: Any, spec: Any, model: Any, tokenizer: Any, *,
                progress: bool, callbacks: Sequence[TrainerCallback], started: float,
                early_warning: EarlyWarningConfig | None = None) -> None:
    train, record = config.train, config.record
    template = spec.text_template
    collator = DynamicsCollator(tokenizer, padding=train.padding, max_length=train.max_length)
    noisy = dict(zip(mixture.train["item_id"].astype(str), mixture.train["is_noisy"].astype(bool),
                     strict=True))
    eval_sets = [
        _eval_set(mixture.tracked, tokenizer, split="tracked", label_col="training_label",
                  train=train, template=template, noisy=noisy),
        _eval_set(mixture.validation, tokenizer, split="validation", label_col="training_label",
                  train=train, template=template),
    ]
    per_item = _item_weights(mixture, train)
    train_ds = _train_dataset(mixture, tokenizer, train, template, per_item)
    weights = class_weights(mixture.train["label"].astype(int).to_numpy(), mixture.num_classes)
    recorder = DynamicsRecorder(run_id=config.digest())

    with _progress_bars(progress) as bars:
        bar_cb = RichProgressCallback(bars) if bars is not None else None
        dyn_cb = DynamicsCallback(
            recorder, eval_sets, collator=collator, every=record.snapshot_every,
            at_start=record.snapshot_start, at_epoch_end=record.snapshot_epoch_end,
            batch_size=record.eval_batch_size, on_batch=bar_cb.snapshot_batch if bar_cb else None,
        )
        cbs: list[TrainerCallback] = [dyn_cb]
        held_cb = None
        if record.heldout_eval and mixture.heldout is not None and len(mixture.heldout):
            held_set = _eval_set(mixture.heldout, tokenizer, split="heldout", label_col="label",
                                 train=train, template=template)
            held_cb = HeldoutAccuracyCallback(held_set, collator=collator,
                                              batch_size=record.eval_batch_size)
            cbs.append(held_cb)
        # --- early warning (issue 13, contested.train.early_warning): after dyn_cb, so it sees each
        # snapshot; writes early_warning.parquet into the run being built (installed with it).
        early_cb = early_warning_callback(
            early_warning, recorder, tmp, items=pd.concat([mixture.tracked, mixture.validation]),
            console=bars.console if bars is not None else None, bar=bar_cb)
        cbs += [early_cb] if early_cb is not None else []
        # --- end early warning
        cbs += [cb for cb in (bar_cb,) if cb is not None] + list(callbacks)
        trainer = DynamicsTrainer(
            model=model, args=training_arguments(train, output_dir=str(tmp)), train_dataset=train_ds,
            data_collator=collator, processing_class=tokenizer, callbacks=cbs,
            recorder=recorder if record.inflight else None,
            class_weights=torch.tensor(weights) if train.class_weighted else None,
            soft_labels=train.soft_labels,
        )
        trainer.remove_callback(PrinterCallback)  # it prints every log dict to stdout
        train_start = time.perf_counter()
        output = trainer.train()
        train_time = time.perf_counter() - train_start

    recorder.write(tmp / DYNAMICS)
    dynamics = recorder.finalize()
    items = pd.concat([mixture.tracked.assign(split="tracked"),
                       mixture.validation.assign(split="validation")], ignore_index=True)
    write_table(items, tmp / ITEMS)
    write_table(mixture.noise, tmp / NOISE)  # flipped training labels (empty without noise)
    write_json(tmp / CONFIG, config.to_dict())
    env = environment_info(mixture.data_files)
    env.update(
        run_id=config.digest(), model_source=spec.source, model_type=spec.model_type,
        seeds={"train": train.seed, "split": config.data.split_seed, "data": config.data.data_seed},
        device=str(trainer.args.device), torch_threads=torch.get_num_threads(),
    )
    write_json(tmp / ENV, env)
    per_epoch = epoch_metrics(dynamics, dyn_cb.epoch_end_steps_)
    for row in per_epoch:
        row["heldout_accuracy"] = held_cb.accuracy_.get(row["epoch"]) if held_cb else None
    n_params = sum(p.numel() for p in model.parameters())
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    write_json(tmp / METRICS, {
        "run_id": config.digest(),
        "epochs": per_epoch,
        "final": per_epoch[-1] if per_epoch else None,
        "train_loss": output.training_loss,
        "total_steps": trainer.state.max_steps,
        "snapshot_steps": dyn_cb.steps_,
        "n_snapshots": len(dyn_cb.steps_),
        "dynamics_rows": len(dynamics),
        "n_train": len(mixture.train), "n_tracked": len(mixture.tracked),
        "n_validation": len(mixture.validation),
        "n_heldout": 0 if mixture.heldout is None else len(mixture.heldout),
        "dropped_overlap": int(mixture.dropped_overlap),
        "class_weights": weights.tolist() if train.class_weighted else None,
        "mitigations": _mitigation_summary(mixture, config, per_item),
        "label_names": list(mixture.label_names),
        "params": n_params, "trainable_params": n_trainable,
        "train_time_s": round(train_time, 3),
        # Part of train_time_s spent in snapshots (benchmarks/bench_snapshot.py reads it).
        "snapshot_time_s": round(dyn_cb.seconds_, 3),
        "wall_time_s": round(time.perf_counter() - started, 3),
        "train_log": trainer.state.log_history,
        "uses_cpu": use_cpu(train.device),
    })

