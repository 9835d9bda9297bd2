"""Across seeds: mean ± std of ρ, Fisher-z pooling, and the hierarchical bootstrap.

Fisher-z pooling (fixed effect, inverse-variance weights):

    z_i = atanh(ρ_i),  w_i = n_i − 3,  z̄ = Σ w_i z_i / Σ w_i,
    SE(z̄) = √(c / Σ (n_i − 3)),  CI = tanh(z̄ ± Φ⁻¹((1 + conf)/2) · SE(z̄)),
    p = 2·(1 − Φ(|z̄| / SE)).

c = 1.06 for Spearman ρ (Fieller, Hartley & Pearson, 1957: var(atanh ρ_s) ≈ 1.06/(n − 3)),
c = 1 for Pearson r. This treats the seeds as independent samples of items. Seeds of one
condition reuse the *same* items, so the pooled interval is too narrow for a claim about new
items; the hierarchical bootstrap (items × seeds) is the honest interval for that.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from contested.errors import ContestedError
from contested.stats.bootstrap import (
    DEFAULT_CHUNK,
    bootstrap_spearman,
    percentile_ci,
    resample_counts,
)
from contested.stats.correlation import require
from contested.stats.run import CONDITION_COLUMNS

#: Variance factor of atanh(Spearman ρ) relative to Pearson's 1/(n − 3) (Fieller et al. 1957).
FIELLER = 1.06


class PooledRho(NamedTuple):
    """Fisher-z pooled correlation with its CI, two-sided p-value, and standard error of z̄."""

    rho: float
    ci_low: float
    ci_high: float
    p_value: float
    se_z: float


def fisher_z_pool(rho, n, *, confidence: float = 0.95, spearman: bool = True) -> PooledRho:
    """Pool correlations from several samples by inverse-variance weighting on the z scale.

    Parameters
    ----------
    rho
        (m,) correlations.
    n
        (m,) or scalar sample sizes (each > 3).
    confidence
        Coverage of the interval.
    spearman
        Use the Fieller factor 1.06 for Spearman ρ (else 1, Pearson r).

    Returns
    -------
    PooledRho
        See the module docstring for the formula.
    """
    rho = np.asarray(rho, dtype=float)
    n = np.broadcast_to(np.asarray(n, dtype=float), rho.shape)
    keep = ~np.isnan(rho)
    rho, n = rho[keep], n[keep]
    if len(rho) == 0:
        return PooledRho(np.nan, np.nan, np.nan, np.nan, np.nan)
    if (n <= 3).any():
        raise ContestedError("fisher_z_pool: every sample needs n > 3 for the Fisher z variance")
    w = n - 3
    z = np.sum(w * np.arctanh(np.clip(rho, -0.999999, 0.999999))) / w.sum()
    se = np.sqrt((FIELLER if spearman else 1.0) / w.sum())
    q = stats.norm.ppf((1 + confidence) / 2)
    p = 2 * stats.norm.sf(abs(z) / se)
    return PooledRho(
        float(np.tanh(z)),
        float(np.tanh(z - q * se)),
        float(np.tanh(z + q * se)),
        float(p),
        float(se),
    )


def seed_aggregate(
    run_stats: pd.DataFrame,
    *,
    by: Sequence[str] | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Aggregate per-run statistics over seeds: mean ± std of ρ and the Fisher-z pooled ρ.

    Parameters
    ----------
    run_stats
        Per-run statistics (:func:`contested.stats.run_statistics`).
    by
        Condition columns; default: those of :data:`~contested.stats.run.CONDITION_COLUMNS`
        present, plus ``measurement`` and ``metric``. Missing values (e.g. no rank for full FT) form their
        own group.
    confidence
        Coverage of the pooled interval.

    Returns
    -------
    pandas.DataFrame
        One row per condition: the ``by`` columns, ``n_seeds``, ``n_items`` (mean n),
        ``rho_mean``, ``rho_std`` (ddof = 1; NaN for one seed), ``rho_pooled``,
        ``pooled_ci_low``, ``pooled_ci_high``, ``pooled_p``, ``partial_rho_mean``,
        ``partial_rho_std``, ``p_max`` (the largest per-seed p-value).
    """
    require(run_stats, ["rho", "n"], where="per-run statistics")
    if by is None:
        by = [
            c for c in (*CONDITION_COLUMNS, "measurement", "metric") if c in run_stats.columns
        ]
    by = list(by)
    rows = []
    for key, grp in run_stats.groupby(by, dropna=False, sort=True):
        pooled = fisher_z_pool(grp["rho"], grp["n"], confidence=confidence)
        partial = grp["partial_rho"] if "partial_rho" in grp else pd.Series(np.nan, index=grp.index)
        rows.append(
            {
                **dict(zip(by, key, strict=True)),
                "n_seeds": len(grp),
                "n_items": float(grp["n"].mean()),
                "rho_mean": float(grp["rho"].mean()),
                "rho_std": float(grp["rho"].std(ddof=1)),
                "rho_pooled": pooled.rho,
                "pooled_ci_low": pooled.ci_low,
                "pooled_ci_high": pooled.ci_high,
                "pooled_p": pooled.p_value,
                "partial_rho_mean": float(partial.mean()),
                "partial_rho_std": float(partial.std(ddof=1)),
                "p_max": float(grp["p_value"].max()) if "p_value" in grp else np.nan,
            }
        )
    return pd.DataFrame(rows)


def items_by_runs(
    metrics: pd.DataFrame, *, metric: str, run_col: str = "run_id"
) -> tuple[np.ndarray, np.ndarray, list]:
    """Align several runs on their common items.

    Items missing (or NaN) in any run are dropped so that every resample compares the same
    items across runs (the pairing that the paired and hierarchical bootstraps rely on).

    Parameters
    ----------
    metrics
        Per-item metrics of several runs, one row per run × item.
    metric
        Column to collect.
    run_col
        Column naming the run.

    Returns
    -------
    (entropy, values, runs)
        entropy (n,) in nats, values (runs × n), and the run names (sorted), items sorted by id.
    """
    require(metrics, [run_col, "item_id", "entropy", metric], where="per-item metrics")
    dup = metrics.duplicated([run_col, "item_id"])
    if dup.any():
        raise ContestedError(
            f"per-item metrics: item {metrics.loc[dup, 'item_id'].iloc[0]!s} appears twice in one run "
            "(both measurement kinds?); filter to one measurement kind first"
        )
    wide = metrics.pivot_table(
        index="item_id", columns=run_col, values=metric, aggfunc="first", dropna=False
    )
    entropy = metrics.groupby("item_id")["entropy"].first().reindex(wide.index)
    keep = wide.notna().all(axis=1) & entropy.notna()
    if keep.sum() < 3:
        raise ContestedError(
            f"per-item metrics: fewer than 3 items have '{metric}' in every run; "
            "compare runs trained on the same items"
        )
    return (
        entropy[keep].to_numpy(dtype=float),
        wide[keep].to_numpy(dtype=float).T,
        list(wide.columns),
    )


def hierarchical_bootstrap(
    metrics: pd.DataFrame,
    *,
    metric: str = "aulc",
    n_boot: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
    run_col: str = "run_id",
    chunk: int = DEFAULT_CHUNK,
) -> dict:
    """Two-level bootstrap CI of the seed-mean Spearman ρ(entropy, metric) of one condition.

    Each resample draws the seeds (runs) with replacement and, independently, the items with
    replacement; items are crossed with seeds (every run saw the same items), so one item draw
    is applied to all runs. The resample's statistic is the mean, over the drawn runs, of each
    run's ρ on the drawn items. Vectorised: ρ of every run on every item resample comes from
    :func:`bootstrap_spearman`; the seed draw only re-weights those ρ.

    Parameters
    ----------
    metrics
        Per-item metrics of the runs of ONE condition (e.g. 3 seeds; one measurement kind).
    metric
        Column correlated with ``entropy``.
    n_boot, seed, confidence, chunk
        Resamples, seed (items use ``seed``; runs use an independent stream from it), coverage,
        vectorisation block.
    run_col
        Column naming the run.

    Returns
    -------
    dict
        ``n_runs, n_items, rho_mean`` (mean of per-run ρ), ``ci_low, ci_high``.
    """
    x, ys, runs = items_by_runs(metrics, metric=metric, run_col=run_col)
    rng = np.random.default_rng(seed)
    item_rng, run_rng = rng.spawn(2)
    rho_boot = bootstrap_spearman(x, ys, n_boot=n_boot, seed=item_rng, chunk=chunk)  # (S, B)
    s = len(runs)
    picks = run_rng.integers(0, s, size=(n_boot, s))
    weights = resample_counts(picks, s) / s  # (B, S): how often each run was drawn
    dist = np.sum(weights * rho_boot.T, axis=1)
    point = np.mean([stats.spearmanr(x, y).statistic for y in ys])
    lo, hi = percentile_ci(dist, confidence=confidence)
    return {"n_runs": s, "n_items": len(x), "rho_mean": float(point), "ci_low": lo, "ci_high": hi}
