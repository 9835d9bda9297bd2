"""HF ``TrainerCallback``s: snapshot schedule, held-out accuracy and rich progress bars.

:class:`DynamicsCallback` works in any HF ``Trainer``. Callbacks never see the batch or the
outputs (transformers 5.x), so a plain ``Trainer`` gets **snapshots only**; the in-flight rows
need :class:`~contested.train.trainer.InflightLossMixin` mixed into the trainer class.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from contested.train.data import DynamicsCollator
from contested.train.recorder import DynamicsRecorder
from contested.train.snapshot import EvalSet, accuracy, score_logits, take_snapshot


class DynamicsCallback(TrainerCallback):
    """Eval-mode snapshots at step 0, every ``every`` optimiser steps and at every epoch end.

    Parameters
    ----------
    recorder
        Receives the rows (``measurement="snapshot"``).
    eval_sets
        Items to score (e.g. tracked and validation, built with :meth:`EvalSet.from_texts`).
    collator
        Pads snapshot batches (pass the tokenizer's :class:`DynamicsCollator`).
    every
        Optimiser steps between snapshots (≥ 1).
    at_start, at_epoch_end
        Also snapshot at step 0 / at every epoch end. A step is never snapshotted twice.
    batch_size
        Most items per snapshot forward pass (see :func:`~contested.train.snapshot.length_batches`).
    on_batch
        Progress hook, called with ``(items_done_in_batch, items_per_snapshot)``.

    Attributes
    ----------
    steps_ : list[int]
        Snapshotted steps, in order.
    epoch_end_steps_ : dict[int, int]
        Epoch number (1-based) → the optimiser step at its end (snapshotted when ``at_epoch_end``).
    seconds_ : float
        Wall time spent taking snapshots (scoring and recording), so that a run can report its
        snapshot rate directly instead of from the difference of two runs.
    """

    def __init__(
        self,
        recorder: DynamicsRecorder,
        eval_sets: Sequence[EvalSet],
        *,
        collator: DynamicsCollator,
        every: int = 100,
        at_start: bool = True,
        at_epoch_end: bool = True,
        batch_size: int = 64,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> None:
        if every < 1:
            raise ValueError(f"every must be ≥ 1 optimiser step, got {every}")
        self.recorder = recorder
        self.eval_sets = list(eval_sets)
        self.collator = collator
        self.every = every
        self.at_start = at_start
        self.at_epoch_end = at_epoch_end
        self.batch_size = batch_size
        self.on_batch = on_batch
        self.steps_: list[int] = []
        self.epoch_end_steps_: dict[int, int] = {}
        self.seconds_ = 0.0

    @property
    def items_per_snapshot(self) -> int:
        """Items scored by one snapshot."""
        return sum(len(es) for es in self.eval_sets)

    def _snapshot(self, args: TrainingArguments, state: TrainerState, model: Any) -> None:
        if self.steps_ and self.steps_[-1] == state.global_step:
            return  # an epoch end that coincides with a multiple of `every`
        total = self.items_per_snapshot
        hook = (lambda n: self.on_batch(n, total)) if self.on_batch else None
        start = time.perf_counter()
        take_snapshot(
            model,
            self.recorder,
            self.eval_sets,
            step=state.global_step,
            epoch=float(state.epoch or 0.0),
            progress=state.global_step / max(state.max_steps, 1),
            collator=self.collator,
            batch_size=self.batch_size,
            bf16=bool(args.bf16),
            on_batch=hook,
        )
        self.seconds_ += time.perf_counter() - start
        self.steps_.append(state.global_step)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if self.at_start:
            self._snapshot(args, state, model)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every == 0:
            self._snapshot(args, state, model)

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        if self.at_epoch_end:
            self._snapshot(args, state, model)
        self.epoch_end_steps_[round(float(state.epoch or 0.0))] = state.global_step


class HeldoutAccuracyCallback(TrainerCallback):
    """Accuracy on held-out items (never trained on) at every epoch end: did the model learn the task?

    Attributes
    ----------
    accuracy_ : dict[int, float]
        Epoch number → accuracy in [0, 1].
    """

    def __init__(
        self, eval_set: EvalSet, *, collator: DynamicsCollator, batch_size: int = 64
    ) -> None:
        self.eval_set = eval_set
        self.collator = collator
        self.batch_size = batch_size
        self.accuracy_: dict[int, float] = {}

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        logits = score_logits(
            model,
            self.eval_set,
            collator=self.collator,
            batch_size=self.batch_size,
            bf16=bool(args.bf16),
        )
        self.accuracy_[round(float(state.epoch or 0.0))] = accuracy(logits, self.eval_set.labels)


class RichProgressCallback(TrainerCallback):
    """Rich progress bars: optimiser steps (with the last logged loss and ETA) and snapshots.

    Parameters
    ----------
    progress
        A started ``rich.progress.Progress`` with a ``{task.fields[loss]}`` text column.
    """

    def __init__(self, progress: Any) -> None:
        self.progress = progress
        self.train_task: Any = None
        self.snap_task: Any = None
        self._snap_done = 0
        self._loss = ""
        self._note = ""

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw
    ):
        self.train_task = self.progress.add_task("train", total=state.max_steps, loss="")

    def on_step_end(self, args, state, control, **kwargs):
        self.progress.update(self.train_task, completed=state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self._loss = f"loss {float(logs['loss']):.4f}"
            self._show()

    def set_note(self, note: str) -> None:
        """Show ``note`` after the loss (e.g. the early warning's count of items at risk)."""
        self._note = note
        self._show()

    def _show(self) -> None:
        if self.train_task is not None:
            self.progress.update(
                self.train_task, loss=" · ".join(t for t in (self._loss, self._note) if t)
            )

    def snapshot_batch(self, n: int, total: int) -> None:
        """Hook for :class:`DynamicsCallback` (``on_batch``)."""
        if self.snap_task is None:
            self.snap_task = self.progress.add_task("snapshot", total=total, loss="")
        if self._snap_done == 0:
            self.progress.reset(self.snap_task, total=total)
        self._snap_done += n
        self.progress.update(self.snap_task, completed=self._snap_done)
        if self._snap_done >= total:
            self._snap_done = 0

    def on_train_end(self, args, state, control, **kwargs):
        self.progress.update(self.train_task, completed=state.global_step)


def epoch_metrics(dynamics: Any, epoch_end_steps: dict[int, int]) -> list[dict[str, float]]:
    """Validation loss and accuracy at each epoch end, from the snapshot rows.

    Parameters
    ----------
    dynamics
        The Dynamics table (DataFrame).
    epoch_end_steps
        Epoch → step of its end-of-epoch snapshot.

    Returns
    -------
    list of dict
        ``{epoch, step, val_loss (nats, mean unweighted CE), val_accuracy}`` per epoch; None
        where no validation snapshot was taken at that step (JSON has no NaN).
    """
    snap = dynamics[(dynamics["measurement"] == "snapshot") & (dynamics["split"] == "validation")]
    out = []
    for epoch, step in sorted(epoch_end_steps.items()):
        rows = snap[snap["step"] == step]
        found = len(rows) > 0
        out.append(
            {
                "epoch": epoch,
                "step": int(step),
                "val_loss": float(np.mean(rows["loss"])) if found else None,
                "val_accuracy": float((rows["predicted"] == rows["label_used"]).mean())
                if found
                else None,
            }
        )
    return out
