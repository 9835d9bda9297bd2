"""Early warning while training: an HF ``TrainerCallback`` that predicts which items will un-learn.

Once the snapshots have passed the first ``window`` share of training, the callback applies an
early-warning predictor (:mod:`contested.dynamics.early_model`) to the rows recorded so far with
progress ≤ window, and writes ``early_warning.parquet`` (one row per item: ``item_id, split,
risk, at_risk, aulc_rank_pred, step, progress, loss0, loss_now, delta_now``) atomically into the
output folder. It rewrites the file at every later snapshot: the risks stay those of the window
(features never read past it), ``loss_now``/``delta_now`` follow the item's loss so far.

In your own HF ``Trainer``::

    recorder = DynamicsRecorder(run_id="mine")
    callbacks = [DynamicsCallback(recorder, eval_sets, collator=collator, every=50),
                 EarlyWarningCallback(recorder, EarlyWarningConfig(warning=True, window=0.2),
                                      out_dir="out/")]            # after the DynamicsCallback

``contested train --early-warning`` adds it to the run being built (the run directory is only
installed when training finishes, so the file appears there with the rest).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from transformers import TrainerCallback

from contested.dynamics.early import PROGRESS_TOLERANCE, RunData
from contested.dynamics.early_model import Predictor, default_predictor, predict_risk
from contested.errors import ContestedError
from contested.io import write_table
from contested.rundir.layout import EARLY_WARNING
from contested.train.early_config import EarlyWarningConfig
from contested.train.recorder import DynamicsRecorder

COLUMNS = ("item_id", "split", "risk", "at_risk", "aulc_rank_pred", "step", "progress", "loss0", "loss_now",
           "delta_now")


def _pandas(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(types_mapper=lambda t: pd.ArrowDtype(t) if pa.types.is_list(t) else None)


class EarlyWarningCallback(TrainerCallback):
    """Predict un-learning from the first ``window`` of training; write ``early_warning.parquet``.

    Parameters
    ----------
    recorder
        The recorder a :class:`~contested.train.callbacks.DynamicsCallback` fills (put that callback
        before this one; the step-0 snapshot is the reference of every feature).
    predictor
        A :class:`~contested.dynamics.early_model.Predictor`, an :class:`EarlyWarningConfig`
        (its predictor file or the default, its window and threshold), or None for the shipped
        default at window 0.2 (fitted on the project's MiniLM-L6 ChaosNLI-SNLI runs: refit it on yours).
    out_dir
        Folder of ``early_warning.parquet``; default: the Trainer's ``output_dir``.
    items
        Item table with ``item_id`` and ``entropy``: needed only by predictors that use entropy.
    threshold
        Risk cutoff of ``at_risk``; default: the config's, else the predictor's.
    on_update
        Called with the table after each write.

    Attributes
    ----------
    table_ : pandas.DataFrame or None
        The last table written.
    steps_ : list of int
        Snapshot steps at which it was written.
    """

    def __init__(self, recorder: DynamicsRecorder, predictor: Predictor | EarlyWarningConfig | None = None, *,
                 out_dir: str | os.PathLike | None = None, items: pd.DataFrame | None = None,
                 threshold: float | None = None, on_update: Callable[[pd.DataFrame], None] | None = None) -> None:
        if isinstance(predictor, EarlyWarningConfig):
            threshold = predictor.threshold if threshold is None else threshold
            predictor = predictor.load_predictor()
        self.predictor = predictor if predictor is not None else default_predictor()
        if self.predictor.uses_entropy and (items is None or "entropy" not in items.columns):
            raise ContestedError("early warning: the predictor uses annotation entropy; pass items= with an "
                                 "'entropy' column or use a predictor fitted without it")
        self.recorder = recorder
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.items = items
        self.threshold = self.predictor.threshold if threshold is None else float(threshold)
        self.on_update = on_update
        self.table_: pd.DataFrame | None = None
        self.steps_: list[int] = []
        self._risk: pd.DataFrame | None = None

    @property
    def window(self) -> float:
        """Share of training the predictor reads."""
        return self.predictor.window

    def on_train_begin(self, args, state, control, **kwargs):
        if self.out_dir is None:
            self.out_dir = Path(args.output_dir)

    def on_step_end(self, args, state, control, **kwargs):
        self.refresh(state.max_steps)

    def on_epoch_end(self, args, state, control, **kwargs):
        self.refresh(state.max_steps)

    def on_train_end(self, args, state, control, **kwargs):
        self.refresh(state.max_steps, finished=True)

    def refresh(self, total_steps: int, *, finished: bool = False) -> pd.DataFrame | None:
        """Write the table if a new snapshot at or after the window was recorded; return it (or None).

        ``finished``: training is over, so every row of the window exists even if no snapshot
        reached it.
        """
        # Called after every optimiser step: a constant-time check, no scan of the recorded rows.
        step = self.recorder.last_snapshot_step
        if step is None or (self.steps_ and step == self.steps_[-1]):
            return None
        progress = step / max(total_steps, 1)
        if progress < self.window - PROGRESS_TOLERANCE and not finished:
            return None
        table = self.recorder.to_arrow()
        if self._risk is None:
            self._risk = self._predict(table)
        now = _pandas(table.filter(pc.and_(pc.equal(table["measurement"], "snapshot"),
                                           pc.equal(table["step"], step))).select(["item_id", "loss"]))
        out = self._risk.merge(now.rename(columns={"loss": "loss_now"}).astype({"loss_now": float}),
                               on="item_id", how="left")
        out["step"], out["progress"] = int(step), float(progress)
        out["delta_now"] = out["loss_now"] - out["loss0"]
        out = out[list(COLUMNS)]
        if self.out_dir is not None:
            write_table(out, self.out_dir / EARLY_WARNING)
        self.table_ = out
        self.steps_.append(int(step))
        if self.on_update is not None:
            self.on_update(out)
        return out

    def _predict(self, table: pa.Table) -> pd.DataFrame:
        window = table.filter(pc.less_equal(table["progress"], self.window + PROGRESS_TOLERANCE))
        dynamics = _pandas(window)
        run_id = str(dynamics["run_id"].iloc[0]) if len(dynamics) else self.recorder.run_id
        risk = predict_risk(RunData(run_id, dynamics, self.items), self.predictor, threshold=self.threshold)
        risk["loss0"] = risk["loss0"] * np.log(risk["n_classes"])  # the feature is nats / ln K; here nats
        return risk[["item_id", "split", "risk", "at_risk", "aulc_rank_pred", "loss0"]]


def early_warning_callback(options: EarlyWarningConfig | None, recorder: DynamicsRecorder, out_dir: Path, *,
                           items: pd.DataFrame | None = None, console: Any = None,
                           bar: Any = None) -> EarlyWarningCallback | None:
    """The callback ``contested train`` adds when ``options.warning`` is on (None otherwise).

    It prints one line when the window closes (to ``console``, a rich Console) and shows the count
    of tracked items at risk beside the progress bar (``bar``, a
    :class:`~contested.train.callbacks.RichProgressCallback`).
    """
    if options is None or not options.warning:
        return None
    predictor = options.load_predictor()
    holder: dict[str, EarlyWarningCallback] = {}

    def report(table: pd.DataFrame) -> None:
        tracked = table[table["split"] == "tracked"] if (table["split"] == "tracked").any() else table
        n = int(tracked["at_risk"].sum())
        if bar is not None:
            bar.set_note(f"{n:,} at risk")
        cb = holder["cb"]
        if console is not None and len(cb.steps_) == 1:
            console.print(f"early warning at step {int(table['step'].iloc[0]):,} (first {cb.window:.0%} of "
                          f"training): {n:,} of {len(tracked):,} tracked items at risk of un-learning (risk ≥ "
                          f"{cb.threshold:.2f}) → {EARLY_WARNING}", markup=False, soft_wrap=True)

    cb = EarlyWarningCallback(recorder, predictor, out_dir=out_dir, items=items, threshold=options.threshold,
                              on_update=report)
    holder["cb"] = cb
    return cb


__all__ = ["COLUMNS", "EarlyWarningCallback", "early_warning_callback"]
