"""LoRA vs full fine-tuning at matched learning: un-learning as a function of how much was learnt.

Comparing methods at equal optimiser steps confounds un-learning with how far each method got
(LoRA at a small learning rate barely moves). Here every checkpoint of a run gets

* a **learning coordinate** ``learning``: the mean loss drop of the run's *clean* tracked items
  since step 0, in nats (``mean(ℓ₀ − ℓ_t)`` over H < 0.4·s items);
* **un-learning coordinates** (:data:`UNLEARNING_METRICS`), over the *contested* tracked items
  unless stated: ``delta_contested`` (mean ℓ_t − ℓ₀, nats), ``share_above`` (share with
  ℓ_t > ℓ₀), ``share_away`` (share whose JSD to the human distribution rose since step 0; needs
  logits) and ``rho_loss`` (Spearman ρ between annotation entropy and ℓ_t over all tracked items).

Two runs on the same items are compared along the learning coordinate over the common range
``[0, L*]``, where ``L*`` is the smaller of the two runs' largest learning: at each level ℓ, a
run's un-learning is read at its last checkpoint whose learning lies within ℓ ± 0.1·L* (where it
stood when it left that level; late un-learning while learning has plateaued counts at the
plateau's level). The difference is reported at ``L*`` and averaged over the range, with a percentile CI
from an item bootstrap that resamples the same items in both runs.
Pure numpy/scipy/pandas; the ranking behind ``rho_loss`` is :func:`contested.stats.bootstrap.spearman_of_counts`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from contested.errors import ContestedError
from contested.stats.bootstrap import (
    bootstrap_indices,
    percentile_ci,
    resample_counts,
    spearman_of_counts,
)

#: Un-learning coordinates computed at every checkpoint (see the module docstring).
UNLEARNING_METRICS = ("delta_contested", "share_above", "share_away", "rho_loss")
#: Points of the learning grid over which the matched difference is averaged.
GRID_POINTS = 50
#: Half-width of the learning window around each level, as a share of the common range L*.
BANDWIDTH = 0.1


@dataclasses.dataclass(frozen=True)
class RunMatrices:
    """One run's tracked items × snapshot checkpoints, items sorted by id.

    Attributes
    ----------
    run_id
        The run.
    item_id, entropy, bin
        (n,) item ids, annotation entropy (nats) and entropy bin.
    step
        (T,) optimiser steps of the snapshots, ascending (step 0 first).
    loss
        (n, T) loss against the tracked label, nats.
    jsd
        (n, T) Jensen–Shannon distance to the human distribution, or None without logits.
    """

    run_id: str
    item_id: np.ndarray
    entropy: np.ndarray
    bin: np.ndarray
    step: np.ndarray
    loss: np.ndarray
    jsd: np.ndarray | None


def run_matrices(dynamics: pd.DataFrame, items: pd.DataFrame, *, split: str = "tracked",
                 fit_table: pd.DataFrame | None = None) -> dict[str, RunMatrices]:
    """Pivot the snapshot rows of ``split`` items into per-run matrices (JSD too when logits exist).

    Parameters
    ----------
    dynamics
        Long-form dynamics table of one or many runs (``logits`` optional).
    items
        Item table (``item_id, entropy, bin``; ``label_dist, majority_label`` for JSD); with a
        ``run_id`` column when runs differ in items.
    fit_table
        The :func:`contested.dynamics.human_fit_table` of these snapshots where the caller has it
        already (the logits are not decoded again).

    Returns
    -------
    dict
        ``{run_id: RunMatrices}``; a run whose items lack a step-0 snapshot is an error.
    """
    snap = dynamics.loc[(dynamics["measurement"] == "snapshot")
                        & ((dynamics["split"] == split) if "split" in dynamics.columns else True)]
    jsd_table = fit_table
    if jsd_table is None and "logits" in snap.columns:
        from contested.dynamics.human_fit import human_fit_table

        jsd_table = human_fit_table(snap, items)
    out = {}
    for run_id, run in snap.groupby("run_id", sort=True):
        loss = run.pivot_table(index="item_id", columns="step", values="loss", aggfunc="first").sort_index()
        if loss.isna().to_numpy().any():
            raise ContestedError(f"run {run_id}: snapshots do not cover every {split} item at every step; "
                                 "re-record the run")
        if loss.columns[0] != 0:
            raise ContestedError(f"run {run_id}: no step-0 snapshot, so nothing was measured before learning; "
                                 "record with snapshot_start")
        meta = (items.loc[items["run_id"] == run_id] if "run_id" in items.columns else items)
        meta = meta.drop_duplicates("item_id").set_index("item_id").reindex(loss.index)
        jsd = None
        if jsd_table is not None:
            rows = jsd_table.loc[jsd_table["run_id"] == run_id]
            jsd = rows.pivot_table(index="item_id", columns="step", values="jsd").reindex(
                index=loss.index, columns=loss.columns).to_numpy(dtype=float)
        out[str(run_id)] = RunMatrices(run_id=str(run_id), item_id=loss.index.to_numpy(),
                                       entropy=meta["entropy"].to_numpy(dtype=float),
                                       bin=meta["bin"].astype(str).to_numpy(), step=loss.columns.to_numpy(dtype=float),
                                       loss=loss.to_numpy(dtype=float), jsd=jsd)
    return out


def curves(run: RunMatrices, counts: np.ndarray | None = None, *,
           metrics: Sequence[str] = UNLEARNING_METRICS) -> dict[str, np.ndarray]:
    """Learning and un-learning coordinates at every checkpoint, for B item resamples at once.

    Parameters
    ----------
    run
        The run's matrices.
    counts
        (B, n) how often each item is drawn in each resample; None: the observed sample (B = 1).
    metrics
        The un-learning coordinates to compute (``rho_loss`` costs a ranking per resample).

    Returns
    -------
    dict
        ``learning`` and each of :data:`UNLEARNING_METRICS` as (B, T) arrays (``share_away`` NaN
        without JSD; a coordinate is NaN when its item set is empty).
    """
    n = len(run.item_id)
    counts = np.ones((1, n)) if counts is None else np.asarray(counts, dtype=float)
    clean, contested = run.bin == "clean", run.bin == "contested"
    rise = run.loss - run.loss[:, :1]  # (n, T) ℓ_t − ℓ₀, nats

    def mean_over(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
        weights = counts * mask
        with np.errstate(invalid="ignore", divide="ignore"):
            return weights @ values / weights.sum(axis=1, keepdims=True)

    out = {"learning": -mean_over(clean, rise)}
    if "delta_contested" in metrics:
        out["delta_contested"] = mean_over(contested, rise)
    if "share_above" in metrics:
        out["share_above"] = mean_over(contested, (rise > 0).astype(float))
    if "share_away" in metrics:
        out["share_away"] = (mean_over(contested, (run.jsd > run.jsd[:, :1]).astype(float)) if run.jsd is not None
                             else np.full_like(out["learning"], np.nan))
    if "rho_loss" in metrics:  # exact Spearman of each expanded resample, every checkpoint at once
        out["rho_loss"] = spearman_of_counts(run.entropy, run.loss.T, counts).T
    return out


def curve_table(runs: dict[str, RunMatrices]) -> pd.DataFrame:
    """The observed curves of every run in long form: one row per run × checkpoint.

    Returns
    -------
    pandas.DataFrame
        ``run_id, step, learning`` (nats) and :data:`UNLEARNING_METRICS`.
    """
    frames = []
    for run_id, run in runs.items():
        c = curves(run)
        frames.append(pd.DataFrame({"run_id": run_id, "step": run.step.astype(np.int64),
                                    **{k: v[0] for k, v in c.items()}}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["run_id", "step", "learning", *UNLEARNING_METRICS])


def at_learning(learning: np.ndarray, values: np.ndarray, levels: np.ndarray, *, half_width: float) -> np.ndarray:
    """``values`` at the run's last checkpoint whose learning lies within ``half_width`` of each level.

    "Where the run's un-learning stood by the time it left this learning level": a run passing
    through ℓ is read just before it moved on, a run that plateaus at ℓ at its final checkpoint,
    so un-learning that happens late, while learning has stopped rising, is counted (a reading at
    the first time a run reached ℓ would miss exactly that).

    Parameters
    ----------
    learning, values
        (T,) one run's coordinates at its checkpoints, in step order.
    levels
        (G,) learning levels, nats.
    half_width
        Half-width of the window around each level, nats.

    Returns
    -------
    numpy.ndarray
        (G,) values. A level with no checkpoint within ``half_width`` that the run stepped over
        is read where it crossed (linear between the two checkpoints around it); a level it never
        reached is NaN.
    """
    ok = np.isfinite(learning) & np.isfinite(values)
    near = (np.abs(learning[None, :] - levels[:, None]) <= half_width) & ok[None, :]
    last = near.shape[1] - 1 - np.argmax(near[:, ::-1], axis=1)
    out = np.where(near.any(axis=1), values[last], np.nan)
    # A run that learns fast can step over a level between two checkpoints: read it where it
    # crossed, linearly between the checkpoint before and the first one at or above the level.
    lv, vv = learning[ok], values[ok]
    for g in np.flatnonzero(~near.any(axis=1)):
        above = np.flatnonzero(lv >= levels[g])
        if len(above) and above[0] > 0:
            k = above[0]
            w = (levels[g] - lv[k - 1]) / (lv[k] - lv[k - 1])
            out[g] = vv[k - 1] + w * (vv[k] - vv[k - 1])
    return out


def matched_difference(a: dict[str, np.ndarray], b: dict[str, np.ndarray], metric: str, *,
                       grid_points: int = GRID_POINTS, bandwidth: float = BANDWIDTH) -> dict[str, np.ndarray]:
    """Difference ``a − b`` of an un-learning coordinate at matched learning, per resample.

    The common range is ``[0, L*]`` with ``L*`` the smaller of the two runs' largest learning;
    each run's coordinate at level ℓ is read at its last checkpoint with learning in
    ``ℓ ± bandwidth·L*`` (:func:`at_learning`).

    Parameters
    ----------
    a, b
        :func:`curves` of the two runs computed with the same resample counts (same items).
    metric
        One of :data:`UNLEARNING_METRICS`.
    bandwidth
        Window half-width as a share of ``L*``.

    Returns
    -------
    dict
        (B,) arrays: ``common_learning`` (L*, nats), ``at_max`` (difference at L*) and ``mean``
        (difference averaged over ``grid_points`` levels in [0, L*] where both runs have
        checkpoints); NaN where the runs share no learning range (L* ≤ 0).
    """
    if metric not in UNLEARNING_METRICS:
        raise ContestedError(f"matched comparison: unknown metric '{metric}'; use one of {', '.join(UNLEARNING_METRICS)}")
    la, lb = a["learning"], b["learning"]
    n_boot = la.shape[0]
    common = np.minimum(np.nanmax(la, axis=1), np.nanmax(lb, axis=1))
    at_max, mean = np.full(n_boot, np.nan), np.full(n_boot, np.nan)
    for i in range(n_boot):
        if not common[i] > 0:
            continue
        levels = np.linspace(0.0, common[i], grid_points)
        h = bandwidth * common[i]
        diff = (at_learning(la[i], a[metric][i], levels, half_width=h)
                - at_learning(lb[i], b[metric][i], levels, half_width=h))
        at_max[i] = diff[-1]
        mean[i] = np.nanmean(diff) if np.isfinite(diff).any() else np.nan
    return {"common_learning": common, "at_max": at_max, "mean": mean}


def compare_runs(a: RunMatrices, b: RunMatrices, *, metrics: Sequence[str] = UNLEARNING_METRICS,
                 n_boot: int = 1000, seed: int = 0, confidence: float = 0.95) -> pd.DataFrame:
    """Matched-learning difference ``a − b`` of each metric with item-bootstrap CIs.

    Parameters
    ----------
    a, b
        Two runs on the same tracked items (e.g. LoRA and its full-FT partner).
    n_boot
        Item resamples; the same resamples are used for both runs. 0: the observed differences
        without CIs or p.

    Returns
    -------
    pandas.DataFrame
        One row per metric: ``metric, n_items, common_learning`` (nats), ``diff_at_max, ci_low_at_max,
        ci_high_at_max, diff_mean, ci_low_mean, ci_high_mean, p_mean`` (two-sided bootstrap p of the
        averaged difference).
    """
    if not np.array_equal(a.item_id, b.item_id):
        raise ContestedError(f"matched comparison: runs {a.run_id} and {b.run_id} track different items; "
                             "compare runs of the same data config")
    n = len(a.item_id)
    observed = matched_frame(curves(a, metrics=metrics), curves(b, metrics=metrics), metrics)
    boot: dict[str, dict[str, np.ndarray]] = {}
    if n_boot > 0:
        idx = np.concatenate(list(bootstrap_indices(n, n_boot=n_boot, seed=seed)))
        counts = resample_counts(idx, n)
        boot = matched_frame(curves(a, counts, metrics=metrics), curves(b, counts, metrics=metrics), metrics)
    rows = []
    for metric in metrics:
        if metric not in observed or (n_boot > 0 and metric not in boot):
            continue
        obs = observed[metric]
        if np.isnan(obs["mean"][0]):
            continue
        if n_boot == 0:
            rows.append({"metric": metric, "n_items": n, "common_learning": float(obs["common_learning"][0]),
                         "diff_at_max": float(obs["at_max"][0]), "ci_low_at_max": np.nan, "ci_high_at_max": np.nan,
                         "diff_mean": float(obs["mean"][0]), "ci_low_mean": np.nan, "ci_high_mean": np.nan,
                         "p_mean": np.nan})
            continue
        dist = boot[metric]
        lo_max, hi_max = percentile_ci(dist["at_max"], confidence=confidence)
        lo_mean, hi_mean = percentile_ci(dist["mean"], confidence=confidence)
        finite = dist["mean"][np.isfinite(dist["mean"])]
        # (k + 1) / (B + 1): a bootstrap p is never below the resolution of B resamples.
        tail = min((finite <= 0).sum(), (finite >= 0).sum())
        p = min(1.0, 2 * (tail + 1) / (len(finite) + 1)) if len(finite) else np.nan
        rows.append({"metric": metric, "n_items": n, "common_learning": float(obs["common_learning"][0]),
                     "diff_at_max": float(obs["at_max"][0]), "ci_low_at_max": lo_max, "ci_high_at_max": hi_max,
                     "diff_mean": float(obs["mean"][0]), "ci_low_mean": lo_mean, "ci_high_mean": hi_mean,
                     "p_mean": p})
    return pd.DataFrame(rows)


def matched_frame(a: dict[str, np.ndarray], b: dict[str, np.ndarray],
                  metrics: Sequence[str]) -> dict[str, dict[str, np.ndarray]]:
    """:func:`matched_difference` for each metric (metrics without values, e.g. JSD without logits, skipped)."""
    return {m: matched_difference(a, b, m) for m in metrics if np.isfinite(a[m]).any() and np.isfinite(b[m]).any()}


__all__ = ["BANDWIDTH", "GRID_POINTS", "UNLEARNING_METRICS", "RunMatrices", "at_learning", "compare_runs", "curve_table", "curves",
           "matched_difference", "matched_frame", "run_matrices"]
