"""Early-warning features: what the first share ``w`` of training says about each item (no torch).

Every feature of a run × item is computed from the rows of the dynamics table whose ``progress``
(step / total steps) is at most ``w`` — step 0 and the window — and from nothing later, so a
predictor built on them can run while the model trains (``docs/early_warning.md``). The targets
(:func:`early_targets`) are the end-of-training outcomes they are trained to predict.

Features (one row per run × item; progress in 0..1). The features measured in nats — ``loss0``,
``pred_entropy0``, ``slope``, ``curvature`` and ``entropy`` — are divided by ln K, K the run's
number of classes (the length of its logits): an untrained K-class head has a loss and a predicted
entropy near ln K, so in these units they sit near 1 for every K and a predictor fitted on 3-class
runs can be applied to a 2-class run (``docs/early_warning.md``). Likewise the probability
features are measured from chance, 1/K: ``confidence`` as (p − 1/K) / (1 − 1/K) (0 at chance, 1 at
certainty) and ``variability`` in the same units. The column ``n_classes`` holds K.

``loss0``
    Loss at the first snapshot (step 0 when recorded), nats / ln K.
``margin0``
    Logit of the tracked label minus the largest other logit at that snapshot (log-odds units;
    negative: another class is preferred).
``pred_entropy0``
    Entropy of the model's predicted distribution at that snapshot (nats / ln K, 0..1).
``slope``
    Least-squares slope of loss against progress over the window's checkpoints (nats / ln K per
    unit of progress; 0 with fewer than two distinct checkpoints).
``curvature``
    Second derivative of the least-squares quadratic of loss against progress (nats / ln K per
    unit of progress²; 0 with fewer than three distinct checkpoints).
``confidence``, ``variability``
    Dataset Cartography over the window: mean and population std of p(label), both divided by
    1 − 1/K after subtracting chance (1/K) from the mean.
``forgetting``
    Correct → incorrect transitions between consecutive window checkpoints (Toneva et al.; no
    never-learnt convention inside the window).
``entropy``
    Annotation entropy (nats / ln K, 0..1), optional: only when the item table has it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from contested.dynamics.human_fit import logits_matrix
from contested.dynamics.human_scores import prediction_entropy, softmax
from contested.dynamics.metrics import item_metrics
from contested.dynamics.trajectories import MEASUREMENTS, check_dynamics
from contested.errors import ContestedError

#: Features computed from the dynamics (the predictor's default inputs), in order.
DYNAMIC_FEATURES = ("loss0", "margin0", "pred_entropy0", "slope", "curvature", "confidence",
                    "variability", "forgetting")
#: The optional extra feature taken from the item table.
ENTROPY_FEATURE = "entropy"
ALL_FEATURES = (*DYNAMIC_FEATURES, ENTROPY_FEATURE)
#: Features measured in nats, reported divided by ln K (K: the run's number of classes).
NATS_FEATURES = ("loss0", "pred_entropy0", "slope", "curvature", ENTROPY_FEATURE)
#: Features measured in probability of the label, reported from chance: divided by 1 − 1/K
#: (``confidence`` after subtracting 1/K).
PROBABILITY_FEATURES = ("confidence", "variability")
#: Target columns of :func:`early_targets`.
TARGETS = ("unlearned", "delta_loss", "aulc", "aulc_rank")
#: Rows whose progress exceeds the window by less than this still count (float steps / total).
PROGRESS_TOLERANCE = 1e-9


@dataclass(frozen=True)
class RunData:
    """The parts of a run the early warning reads (a :class:`contested.report.runs.Run` also has them).

    Attributes
    ----------
    run_id
        The run's id.
    dynamics
        Its long-form dynamics table, with ``logits``.
    items
        Its item table (``item_id``, optionally ``entropy``); None when unknown.
    """

    run_id: str
    dynamics: pd.DataFrame
    items: pd.DataFrame | None = None


def check_window(window: float) -> float:
    """``window`` as a float in (0, 1]; a one-line error otherwise."""
    try:
        value = float(window)
    except (TypeError, ValueError):
        raise ContestedError(f"early warning: window must be a share of training in (0, 1], got {window!r}") from None
    if not 0 < value <= 1:
        raise ContestedError(f"early warning: window must be a share of training in (0, 1] (e.g. 0.2), got {value:g}")
    return value


def window_rows(dynamics: pd.DataFrame, window: float, *,
                measurements: Sequence[str] = MEASUREMENTS) -> pd.DataFrame:
    """The rows the features may read: ``progress ≤ window`` and a measurement kind in ``measurements``."""
    window = check_window(window)
    keep = (dynamics["progress"].to_numpy(dtype=float) <= window + PROGRESS_TOLERANCE) & \
        dynamics["measurement"].isin(list(measurements)).to_numpy()
    return dynamics[keep]


def early_features(dynamics: pd.DataFrame, items: pd.DataFrame | None = None, *, window: float,
                   measurements: Sequence[str] = MEASUREMENTS) -> pd.DataFrame:
    """Per run × item features from step 0 and the first ``window`` share of training only.

    Parameters
    ----------
    dynamics
        Long-form dynamics table (docs/ARCHITECTURE.md) of one or more runs, with ``logits``.
        Rows after the window are never read (only the set of items is taken from them).
    items
        Item table; its ``entropy`` (nats) becomes the optional feature ``entropy`` (NaN when
        absent). With a ``run_id`` column it joins on ``(run_id, item_id)``.
    window
        Share of training, in (0, 1] (e.g. 0.2: the first 20 % of optimiser steps).
    measurements
        Kinds of rows the window features use: snapshots and/or in-flight losses. The step-0
        features always come from the first snapshot.

    Returns
    -------
    pandas.DataFrame
        ``run_id, item_id, split, n_points`` (window checkpoints used), ``n_classes`` (K, the
        length of the run's logits), then :data:`ALL_FEATURES` (see the module docstring for
        units: :data:`NATS_FEATURES` in nats / ln K, :data:`PROBABILITY_FEATURES` from chance);
        sorted by run and item. A feature that the window
        cannot define for an item (no snapshot in it) is NaN.

    Raises
    ------
    ContestedError
        A bad dynamics table, no ``logits`` column, a bad window, a run without any snapshot
        inside the window, or one with fewer than two classes.
    """
    check_dynamics(dynamics)
    if "logits" not in dynamics.columns:
        raise ContestedError("dynamics table: the early-warning features need the 'logits' column; "
                             "load the run with logits (load_run(path, logits=True))")
    unknown = sorted(set(measurements) - set(MEASUREMENTS))
    if unknown or not measurements:
        raise ContestedError(f"early warning: measurements must be among {', '.join(MEASUREMENTS)}, "
                             f"got {', '.join(map(str, measurements)) or 'none'}")
    keys = _keys(dynamics)
    rows = window_rows(dynamics, window, measurements=measurements)
    snaps = window_rows(dynamics, window, measurements=("snapshot",))
    missing = sorted(set(keys["run_id"]) - set(snaps["run_id"].astype(str)))
    if missing:
        raise ContestedError(f"run {missing[0]}: no snapshot in the first {window:g} of training; the early "
                             "warning needs one at step 0 (record.snapshot_start) or early in the window")
    index = pd.MultiIndex.from_frame(keys[["run_id", "item_id"]])
    out = keys.copy()
    out["n_points"] = 0
    out["n_classes"] = _n_classes(keys, snaps)
    for col in DYNAMIC_FEATURES:
        out[col] = np.nan
    _first_snapshot(out, snaps, index)
    _window_fits(out, rows, index, window)
    out[ENTROPY_FEATURE] = _entropy(keys, items)
    k = out["n_classes"].to_numpy(dtype=float)
    for col in NATS_FEATURES:  # an untrained K-class head: loss and predicted entropy ≈ ln K
        out[col] = out[col].to_numpy(dtype=float) / np.log(k)
    out["confidence"] = (out["confidence"].to_numpy(dtype=float) - 1 / k) / (1 - 1 / k)  # chance: 1/K
    out["variability"] = out["variability"].to_numpy(dtype=float) / (1 - 1 / k)
    return out


def _n_classes(keys: pd.DataFrame, snaps: pd.DataFrame) -> np.ndarray:
    """K of each key's run: the length of the logits of its snapshots in the window."""
    import pyarrow as pa
    import pyarrow.compute as pc

    run = snaps["run_id"].astype(str).to_numpy()
    first = np.unique(run, return_index=True)[1]
    arr = pa.array(snaps["logits"].iloc[first])
    if arr.null_count:
        raise ContestedError("dynamics table: field 'logits' is missing in some snapshot rows; re-record the run")
    per_run = dict(zip(run[first], pc.list_value_length(arr).to_numpy(zero_copy_only=False).astype(np.int64),
                       strict=True))
    few = sorted(r for r, k in per_run.items() if k < 2)
    if few:
        raise ContestedError(f"run {few[0]}: its logits have {per_run[few[0]]} entr(y/ies); the early warning "
                             "needs at least two classes")
    return keys["run_id"].map(per_run).to_numpy(dtype=np.int64)


def _keys(dynamics: pd.DataFrame) -> pd.DataFrame:
    """One row per run × item present anywhere in the table (ids only: no values after the window)."""
    split = dynamics["split"] if "split" in dynamics.columns else pd.Series("tracked", index=dynamics.index)
    keys = pd.DataFrame({"run_id": dynamics["run_id"].astype(str).to_numpy(),
                         "item_id": dynamics["item_id"].astype(str).to_numpy(),
                         "split": split.astype(str).to_numpy()})
    keys = keys.drop_duplicates(["run_id", "item_id"]).sort_values(["run_id", "item_id"])
    return keys.reset_index(drop=True)


def _group(rows: pd.DataFrame, index: pd.MultiIndex) -> np.ndarray:
    return index.get_indexer(pd.MultiIndex.from_arrays([rows["run_id"].astype(str).to_numpy(),
                                                        rows["item_id"].astype(str).to_numpy()]))


def _first_snapshot(out: pd.DataFrame, snaps: pd.DataFrame, index: pd.MultiIndex) -> None:
    """``loss0``, ``margin0``, ``pred_entropy0`` from each item's earliest snapshot in the window."""
    g = _group(snaps, index)
    order = np.lexsort((snaps["step"].to_numpy(dtype=float), g))
    first = order[np.unique(g[order], return_index=True)[1]]
    first_rows = snaps.iloc[first]
    out.loc[g[first], "loss0"] = first_rows["loss"].to_numpy(dtype=float)
    k_rows = out["n_classes"].to_numpy()[g[first]]
    for k in np.unique(k_rows):  # runs with different numbers of classes: one logits matrix per K
        sel = k_rows == k
        rows_k, gi = first_rows[sel], g[first][sel]
        logits = logits_matrix(rows_k["logits"])
        label = rows_k["label_used"].to_numpy(dtype=np.int64)
        picked = logits[np.arange(len(label)), label]
        others = logits.copy()
        others[np.arange(len(label)), label] = -np.inf
        out.loc[gi, "margin0"] = picked - others.max(axis=1)
        out.loc[gi, "pred_entropy0"] = prediction_entropy(softmax(logits))


def _window_fits(out: pd.DataFrame, rows: pd.DataFrame, index: pd.MultiIndex, window: float) -> None:
    """Slope, curvature, cartography and forgetting over each item's window checkpoints."""
    g = _group(rows, index)
    n_groups = len(out)
    x = rows["progress"].to_numpy(dtype=float) / window  # 0..1: well-conditioned normal equations
    y = rows["loss"].to_numpy(dtype=float)
    p = rows["p_label"].to_numpy(dtype=float)

    def total(v: np.ndarray) -> np.ndarray:
        return np.bincount(g, weights=v, minlength=n_groups)

    n = np.bincount(g, minlength=n_groups).astype(float)
    s = [total(x**k) for k in range(5)]
    t = [total(y * x**k) for k in range(3)]
    distinct = np.bincount(pd.DataFrame({"g": g, "x": x}).drop_duplicates()["g"].to_numpy(), minlength=n_groups)
    has = n > 0
    out["n_points"] = n.astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = n * s[2] - s[1] ** 2
        slope = np.where(distinct >= 2, (n * t[1] - s[1] * t[0]) / denom, 0.0)
        mean_p = total(p) / n
        var_p = np.maximum(total(p * p) / n - mean_p**2, 0.0)
    curvature = np.zeros(n_groups)
    quad = np.flatnonzero(distinct >= 3)
    if len(quad):
        gram = np.stack([np.stack([s[i + j][quad] for j in range(3)], axis=-1) for i in range(3)], axis=-2)
        rhs = np.stack([t[i][quad] for i in range(3)], axis=-1)
        coef = np.linalg.solve(gram, rhs[..., None])[..., 0]
        curvature[quad] = 2 * coef[:, 2]
    out["slope"] = np.where(has, slope / window, np.nan)  # per unit of progress, not of window
    out["curvature"] = np.where(has, curvature / window**2, np.nan)
    out["confidence"] = np.where(has, mean_p, np.nan)
    out["variability"] = np.where(has, np.sqrt(var_p), np.nan)
    # Forgetting: consecutive checkpoints of one item, by step (snapshot and in-flight interleaved).
    correct = rows["predicted"].to_numpy(dtype=np.int64) == rows["label_used"].to_numpy(dtype=np.int64)
    order = np.lexsort((rows["measurement"].astype(str).to_numpy(), rows["step"].to_numpy(dtype=float), g))
    gs, cs = g[order], correct[order]
    forgot = (gs[1:] == gs[:-1]) & cs[:-1] & ~cs[1:]
    out["forgetting"] = np.where(has, np.bincount(gs[1:][forgot], minlength=n_groups), np.nan)


def _entropy(keys: pd.DataFrame, items: pd.DataFrame | None) -> np.ndarray:
    if items is None or "entropy" not in items.columns or "item_id" not in items.columns:
        return np.full(len(keys), np.nan)
    on = ["run_id", "item_id"] if "run_id" in items.columns else ["item_id"]
    table = items[[*on, "entropy"]].astype({c: str for c in on}).drop_duplicates(on)
    merged = keys[on].merge(table, on=on, how="left")
    return pd.to_numeric(merged["entropy"], errors="coerce").to_numpy(dtype=float)


def early_targets(dynamics: pd.DataFrame) -> pd.DataFrame:
    """End-of-training outcomes per run × item, from the eval-mode snapshots.

    Returns
    -------
    pandas.DataFrame
        ``run_id, item_id, unlearned`` (Δℓ > 0), ``delta_loss`` (nats), ``aulc`` (nats) and
        ``aulc_rank`` (AULC's percentile rank within its run, in (0, 1]; 1 = highest AULC).
    """
    metrics = item_metrics(dynamics, measurement="snapshot")
    out = metrics[["run_id", "item_id", "unlearned", "delta_loss", "aulc"]].copy()
    out["run_id"] = out["run_id"].astype(str)
    out["item_id"] = out["item_id"].astype(str)
    out["unlearned"] = out["unlearned"].astype(bool)
    out["aulc_rank"] = out.groupby("run_id")["aulc"].rank(pct=True)
    return out.reset_index(drop=True)


def feature_table(run: Any, *, window: float, measurements: Sequence[str] = MEASUREMENTS,
                  targets: bool | pd.DataFrame = True) -> pd.DataFrame:
    """:func:`early_features` of one run (optionally with its :func:`early_targets` joined).

    Parameters
    ----------
    run
        Anything with ``dynamics`` and ``items`` attributes (:class:`RunData`,
        :class:`contested.report.runs.Run`) or a dynamics DataFrame.
    window, measurements
        As :func:`early_features`.
    targets
        Join the end-of-training targets (needs the whole run): True computes them, a DataFrame
        is the run's :func:`early_targets` computed once already (they do not depend on the
        window), False joins none.
    """
    dynamics, items = as_run_parts(run)
    out = early_features(dynamics, items, window=window, measurements=measurements)
    if isinstance(targets, pd.DataFrame) or targets:
        table = targets if isinstance(targets, pd.DataFrame) else early_targets(dynamics)
        out = out.merge(table, on=["run_id", "item_id"], how="left")
    return out


def as_run_parts(run: Any) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """``(dynamics, items)`` of a run-like object or a bare dynamics DataFrame."""
    if isinstance(run, pd.DataFrame):
        return run, None
    if not hasattr(run, "dynamics"):
        raise ContestedError(f"early warning: expected a run (with .dynamics and .items) or a dynamics table, "
                             f"got {type(run).__name__}")
    return run.dynamics, getattr(run, "items", None)


__all__ = ["ALL_FEATURES", "DYNAMIC_FEATURES", "ENTROPY_FEATURE", "NATS_FEATURES",
           "PROBABILITY_FEATURES", "TARGETS", "RunData", "as_run_parts",
           "check_window", "early_features", "early_targets", "feature_table", "window_rows"]
