"""Per-item learning-dynamics metrics: AULC, un-learning, cartography, forgetting.

All metrics are row-wise reductions over the matrices of :func:`trajectories`, so they work
unchanged for eval-mode snapshots and for in-flight (training-mode) losses, and for any number
of runs at once. Definitions (one trajectory = one run × measurement kind × item, its
checkpoints ordered by step):

* ``aulc``: plain mean of the checkpoint losses (the study's Eq. 2; step 0 included when recorded).
* ``aulc_trapz``: trapezoid integral of loss over training progress, divided by the progress
  span, i.e. a time-weighted mean in nats. Equal to the raw trapezoid area when progress runs
  0..1; for in-flight losses (which start after step 0) it stays on the same scale as ``aulc``.
* ``delta_loss`` = final − initial loss (initial = the first checkpoint, step 0 for snapshots);
  ``unlearned`` = ``delta_loss > 0``.
* ``max_rise`` = (largest loss at or after the minimum) − minimum: how far the item climbed back
  after its best point; 0 when the minimum is the last checkpoint.
* Dataset Cartography (Swayamdipta et al., 2020): ``confidence`` = mean p(label),
  ``variability`` = population std (ddof = 0, as in their code) of p(label), ``correctness`` =
  share of checkpoints with ``predicted == label_used``.
* Forgetting (Toneva et al., 2019): ``forgetting_events`` = number of consecutive checkpoint
  pairs (t, t+1) with correct at t and incorrect at t+1. **Never-learnt rule:** an item never
  predicted correctly at any checkpoint gets ``never_learnt = True`` and
  ``forgetting_events = n_checkpoints`` (the count of presentations), the convention of the
  authors' reference code, which ranks never-learnt items above every learnt one (a learnt item
  can be forgotten at most ⌊T/2⌋ times). Filter on ``never_learnt`` before averaging counts.
* ``first_step_learned`` = step of the first checkpoint with a correct prediction (Toneva's
  "first learned"); NaN when never learnt.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contested.dynamics.trajectories import Trajectories, trajectories
from contested.errors import ContestedError

#: Columns taken from the item table when it is given (those present are kept).
ITEM_COLUMNS = (
    "entropy",
    "bin",
    "training_label",
    "majority_label",
    "majority_share",
    "n_annotators",
    "premise_len",
    "hypothesis_len",
    "total_len",
)
#: Per-item metrics columns, in contract order (docs/ARCHITECTURE.md); covariates follow.
METRIC_COLUMNS = (
    "run_id",
    "item_id",
    "split",
    "entropy",
    "bin",
    "training_label",
    "measurement",
    "n_checkpoints",
    "aulc",
    "aulc_trapz",
    "initial_loss",
    "final_loss",
    "delta_loss",
    "unlearned",
    "max_rise",
    "confidence",
    "variability",
    "correctness",
    "forgetting_events",
    "never_learnt",
    "first_step_learned",
)


def metrics_from_trajectories(traj: Trajectories) -> pd.DataFrame:
    """Compute every per-item metric from pivoted trajectories (vectorised over rows).

    Parameters
    ----------
    traj
        Output of :func:`contested.dynamics.trajectories`; G trajectories × T slots.

    Returns
    -------
    pandas.DataFrame
        G rows: the key columns of ``traj.keys`` and ``n_checkpoints, aulc, aulc_trapz,
        initial_loss, final_loss, delta_loss, unlearned, max_rise, confidence, variability,
        correctness, forgetting_events, never_learnt, first_step_learned``. Losses in nats,
        steps in optimiser steps, shares in 0..1.
    """
    loss, prog, n = traj.loss, traj.progress, traj.n
    rows = np.arange(len(n))
    last = n - 1
    aulc = np.nanmean(loss, axis=1)

    # Trapezoid segments exist only where both ends are recorded (padding is at the end).
    seg = 0.5 * (loss[:, 1:] + loss[:, :-1]) * np.diff(prog, axis=1)
    span = prog[rows, last] - prog[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        trapz = np.nansum(seg, axis=1) / span
    # One checkpoint (or no progress span) has no area: the time-weighted mean is that loss.
    trapz = np.where((n > 1) & (span > 0), trapz, aulc)

    initial = loss[:, 0]
    final = loss[rows, last]
    delta = final - initial

    imin = np.nanargmin(loss, axis=1)
    after_min = np.where(np.arange(loss.shape[1])[None, :] >= imin[:, None], loss, np.nan)
    max_rise = np.nanmax(after_min, axis=1) - loss[rows, imin]

    correct = traj.correct
    is_correct = correct == 1.0  # NaN padding compares False
    forgotten = np.sum(is_correct[:, :-1] & (correct[:, 1:] == 0.0), axis=1)
    ever = is_correct.any(axis=1)
    forgetting = np.where(ever, forgotten, n).astype(np.int64)
    first = traj.step[rows, np.argmax(is_correct, axis=1)]

    out = traj.keys.copy()
    out["n_checkpoints"] = n
    out["aulc"] = aulc
    out["aulc_trapz"] = trapz
    out["initial_loss"] = initial
    out["final_loss"] = final
    out["delta_loss"] = delta
    out["unlearned"] = delta > 0
    out["max_rise"] = max_rise
    out["confidence"] = np.nanmean(traj.p_label, axis=1)
    out["variability"] = np.nanstd(traj.p_label, axis=1)
    out["correctness"] = np.nanmean(correct, axis=1)
    out["forgetting_events"] = forgetting
    out["never_learnt"] = ~ever
    out["first_step_learned"] = np.where(ever, first, np.nan)
    return out


def item_metrics(
    dynamics: pd.DataFrame,
    items: pd.DataFrame | None = None,
    *,
    measurement: str | None = "snapshot",
) -> pd.DataFrame:
    """Per-item metrics table (one row per run × item × measurement kind).

    Parameters
    ----------
    dynamics
        Long-form dynamics table (docs/ARCHITECTURE.md), one or many runs.
    items
        Item table (``item_id``, ``entropy``, ``bin``, ``training_label``, covariates). With a
        ``run_id`` column it is joined on ``(run_id, item_id)`` (runs on different datasets),
        otherwise on ``item_id``. ``None`` leaves ``entropy``, ``bin`` and ``training_label``
        missing (NA).
    measurement
        ``"snapshot"``, ``"inflight"`` or ``None`` (both kinds, as separate rows).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`METRIC_COLUMNS` (losses in nats), then the item covariates present
        (``majority_label, majority_share, n_annotators, premise_len, hypothesis_len,
        total_len``), then ``label_used`` and ``is_noisy``. Sorted by run, measurement, item.

    Raises
    ------
    ContestedError
        Bad dynamics table (see :func:`trajectories`), an item table without ``item_id`` or
        with duplicated ids, or dynamics items that the item table lacks.
    """
    out = metrics_from_trajectories(trajectories(dynamics, measurement=measurement))
    if items is None:
        for col in ("entropy", "bin", "training_label"):
            out[col] = pd.NA
    else:
        out = _join_items(out, items)
        for col in ("entropy", "bin", "training_label"):
            # A bare dataset table (load_items) has no training_label: the run's items.parquet has.
            if col not in out.columns:
                out[col] = pd.NA
    extra = [c for c in ITEM_COLUMNS if c in out.columns and c not in METRIC_COLUMNS]
    return out[[*METRIC_COLUMNS, *extra, "label_used", "is_noisy"]].reset_index(drop=True)


def _join_items(metrics: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    if "item_id" not in items.columns:
        raise ContestedError("item table: missing column 'item_id'; pass the run's items.parquet")
    on = ["run_id", "item_id"] if "run_id" in items.columns else ["item_id"]
    cols = [c for c in ITEM_COLUMNS if c in items.columns]
    table = items[[*on, *cols]]
    if table.duplicated(on).any():
        dup = table.loc[table.duplicated(on), "item_id"].iloc[0]
        raise ContestedError(
            f"item table: item_id {dup!s} appears twice; for several datasets add a 'run_id' "
            "column so items join per run"
        )
    merged = metrics.merge(table, on=on, how="left", indicator=True, validate="many_to_one")
    missing = merged["_merge"] == "left_only"
    if missing.any():
        example = merged.loc[missing, "item_id"].iloc[0]
        raise ContestedError(
            f"item table: lacks {int(missing.sum())} item(s) seen in the dynamics (e.g. {example!s}); "
            "pass the items.parquet of the same run"
        )
    return merged.drop(columns="_merge")
