"""Pivot the long-form dynamics table into (trajectories × checkpoints) matrices, once.

Every per-item metric is a row-wise numpy reduction over these matrices, so a whole sweep
(75 runs × 1,211 items × 39 checkpoints ≈ 3.5 M rows) is analysed without a Python loop over
items. A trajectory is one run × measurement kind × item; its checkpoints are ordered by
step and left-aligned, so trajectories of different lengths (in-flight losses, where each
item is seen at its own steps) are padded with NaN at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from contested.errors import ContestedError

#: Columns of the dynamics table (docs/ARCHITECTURE.md), in contract order.
DYNAMICS_COLUMNS = (
    "run_id",
    "item_id",
    "split",
    "step",
    "epoch",
    "progress",
    "measurement",
    "loss",
    "logits",
    "p_label",
    "predicted",
    "label_used",
    "is_noisy",
)
#: The columns the metrics need (``logits`` and ``epoch`` are not used by them).
REQUIRED_COLUMNS = (
    "run_id",
    "item_id",
    "step",
    "progress",
    "measurement",
    "loss",
    "p_label",
    "predicted",
    "label_used",
)
MEASUREMENTS = ("snapshot", "inflight")


@dataclass(frozen=True)
class Trajectories:
    """Dynamics of G trajectories (run × measurement × item) on T checkpoint slots.

    Attributes
    ----------
    keys
        DataFrame with G rows: ``run_id, measurement, item_id, split, is_noisy, label_used``,
        sorted by ``run_id``, ``measurement``, ``item_id``.
    loss
        (G, T) float64, per-example cross-entropy in nats; NaN after a trajectory's end.
    p_label
        (G, T) float64, probability of ``label_used``; NaN-padded.
    correct
        (G, T) float64, 1.0 where ``predicted == label_used``, 0.0 where not, NaN-padded.
    step
        (G, T) float64, optimiser step of each checkpoint; NaN-padded.
    progress
        (G, T) float64, step / total steps (0..1); NaN-padded.
    n
        (G,) int64, number of checkpoints of each trajectory (its valid prefix length).
    """

    keys: pd.DataFrame
    loss: np.ndarray
    p_label: np.ndarray
    correct: np.ndarray
    step: np.ndarray
    progress: np.ndarray
    n: np.ndarray


def check_dynamics(dynamics: pd.DataFrame, *, where: str = "dynamics table") -> None:
    """Validate a dynamics table against the contract.

    Parameters
    ----------
    dynamics
        Long-form dynamics table.
    where
        Name used in error messages.

    Raises
    ------
    ContestedError
        A required column is missing, ``measurement`` has an unknown value, or a loss is not
        finite (the message names the run, item and step).
    """
    if not isinstance(dynamics, pd.DataFrame):
        raise ContestedError(f"{where}: expected a pandas DataFrame, got {type(dynamics).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in dynamics.columns]
    if missing:
        raise ContestedError(
            f"{where}: missing column(s) {', '.join(missing)}; a dynamics table needs "
            f"{', '.join(REQUIRED_COLUMNS)} (docs/ARCHITECTURE.md, 'Dynamics table')"
        )
    kinds = set(pd.unique(dynamics["measurement"]))
    unknown = sorted(str(k) for k in kinds - set(MEASUREMENTS))
    if unknown:
        raise ContestedError(
            f"{where}: field 'measurement' has unknown value(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(MEASUREMENTS)}"
        )
    loss = dynamics["loss"].to_numpy(dtype=float)
    bad = ~np.isfinite(loss)
    if bad.any():
        row = dynamics.iloc[int(np.flatnonzero(bad)[0])]
        raise ContestedError(
            f"{where}: field 'loss' is not finite for run {row['run_id']!s}, item {row['item_id']!s}, "
            f"step {row['step']!s} ({int(bad.sum())} rows); drop or re-record those rows"
        )


def trajectories(dynamics: pd.DataFrame, *, measurement: str | None = "snapshot") -> Trajectories:
    """Pivot a dynamics table into NaN-padded (trajectory × checkpoint) matrices.

    Parameters
    ----------
    dynamics
        Long-form dynamics table (docs/ARCHITECTURE.md): one row per run × item × checkpoint
        × measurement. Row order does not matter.
    measurement
        ``"snapshot"`` (eval-mode passes at fixed steps), ``"inflight"`` (training-mode losses
        at each item's own presentation), or ``None`` for both, kept as separate trajectories.

    Returns
    -------
    Trajectories
        Matrices of shape (G, T), G = runs × measurement kinds × items present, T = the largest
        number of checkpoints of any trajectory.

    Raises
    ------
    ContestedError
        Missing columns, unknown measurement kind, non-finite losses, no rows left, or the
        same run × measurement × item recorded twice at one step.
    """
    check_dynamics(dynamics)
    if measurement is not None:
        if measurement not in MEASUREMENTS:
            raise ContestedError(
                f"measurement '{measurement}' is unknown; use one of {', '.join(MEASUREMENTS)} or None"
            )
        dynamics = dynamics[dynamics["measurement"].to_numpy() == measurement]
    if len(dynamics) == 0:
        raise ContestedError(
            f"dynamics table: no rows with measurement '{measurement}'; "
            "record that kind or choose the other one"
        )
    run_c, _ = pd.factorize(dynamics["run_id"], sort=True)
    meas_c, meas_u = pd.factorize(dynamics["measurement"], sort=True)
    item_c, item_u = pd.factorize(dynamics["item_id"], sort=True)
    step = dynamics["step"].to_numpy(dtype=float)
    # One integer key per trajectory; lexsort orders rows by trajectory, then by step.
    key = (run_c.astype(np.int64) * len(meas_u) + meas_c) * len(item_u) + item_c
    order = np.lexsort((step, key))
    key_sorted = key[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = key_sorted[1:] != key_sorted[:-1]
    step_sorted = step[order]
    dup = ~new[1:] & (step_sorted[1:] == step_sorted[:-1])
    if dup.any():
        row = dynamics.iloc[int(order[np.flatnonzero(dup)[0] + 1])]
        raise ContestedError(
            f"dynamics table: run {row['run_id']!s}, item {row['item_id']!s} has two "
            f"'{row['measurement']!s}' rows at step {row['step']!s}; remove duplicated rows"
        )
    gid = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    pos = np.arange(len(order)) - starts[gid]
    n = np.diff(np.append(starts, len(order)))
    shape = (len(starts), int(n.max()))

    def _matrix(values: np.ndarray) -> np.ndarray:
        out = np.full(shape, np.nan)
        out[gid, pos] = values[order]
        return out

    correct = (
        dynamics["predicted"].to_numpy(dtype=np.int64)
        == dynamics["label_used"].to_numpy(dtype=np.int64)
    ).astype(float)
    first = dynamics.iloc[order[starts]]
    keys = pd.DataFrame(
        {
            "run_id": first["run_id"].to_numpy(),
            "measurement": first["measurement"].to_numpy(),
            "item_id": first["item_id"].to_numpy(),
            "split": first["split"].to_numpy() if "split" in first else None,
            "is_noisy": first["is_noisy"].to_numpy(dtype=bool) if "is_noisy" in first else False,
            "label_used": first["label_used"].to_numpy(dtype=np.int64),
        }
    )
    return Trajectories(
        keys=keys,
        loss=_matrix(dynamics["loss"].to_numpy(dtype=float)),
        p_label=_matrix(dynamics["p_label"].to_numpy(dtype=float)),
        correct=_matrix(correct),
        step=_matrix(step),
        progress=_matrix(dynamics["progress"].to_numpy(dtype=float)),
        n=n.astype(np.int64),
    )
