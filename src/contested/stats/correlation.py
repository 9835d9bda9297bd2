"""Rank correlations of annotation entropy with a dynamics metric, with controls.

* :func:`spearman_ci` — Spearman ρ, its p-value (scipy) and a seeded percentile bootstrap CI.
* :func:`kendall_tau` — Kendall τ-b (scipy).
* :func:`partial_spearman` — rank-transform, regress the covariates out by OLS, Pearson of the
  residuals; df = n − k − 2, p from Student's t (the study's recipe; pingouin's as well).
* :func:`rho_by_label` — ρ within each training label, per run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from contested.errors import ContestedError
from contested.stats.bootstrap import DEFAULT_CHUNK, bootstrap_spearman, percentile_ci


class SpearmanResult(NamedTuple):
    """Spearman ρ with p-value (two-sided, scipy) and percentile bootstrap CI; n valid pairs."""

    rho: float
    p_value: float
    ci_low: float
    ci_high: float
    n: int


class PartialResult(NamedTuple):
    """Partial Spearman ρ, its two-sided p-value, degrees of freedom n − k − 2, and n."""

    rho: float
    p_value: float
    df: int
    n: int


def _pairs(x, y) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ContestedError(
            f"correlation: x and y must be 1-D of equal length (got {x.shape}, {y.shape})"
        )
    keep = ~(np.isnan(x) | np.isnan(y))
    return x[keep], y[keep]


def spearman_ci(
    x,
    y,
    *,
    n_boot: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
    chunk: int = DEFAULT_CHUNK,
) -> SpearmanResult:
    """Spearman ρ(x, y) with p-value and a seeded percentile bootstrap CI over items.

    Parameters
    ----------
    x, y
        (n,) arrays, e.g. entropy (nats) and AULC (nats). Pairs with a NaN are dropped.
    n_boot
        Bootstrap resamples (0 skips the CI: NaN bounds).
    seed
        Seed of the resample indices (same seed → same CI).
    confidence
        Two-sided coverage of the percentile interval.
    chunk
        Resamples per vectorised pass (memory bound; does not change the result).

    Returns
    -------
    SpearmanResult
        ``rho`` (the full-sample statistic), ``p_value``, ``ci_low``, ``ci_high``, ``n``.
    """
    x, y = _pairs(x, y)
    n = len(x)
    if n < 3 or _is_constant(x) or _is_constant(y):
        # ρ is undefined (every resample too): NaN, as scipy gives, without its ConstantInputWarning.
        return SpearmanResult(np.nan, np.nan, np.nan, np.nan, n)
    rho, p_value = spearman(x, y)
    lo = hi = np.nan
    if n_boot:
        lo, hi = percentile_ci(
            bootstrap_spearman(x, y, n_boot=n_boot, seed=seed, chunk=chunk)[0],
            confidence=confidence,
        )
    return SpearmanResult(rho, p_value, lo, hi, n)


def spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``scipy.stats.spearmanr``'s ρ and two-sided p; ``(nan, nan)`` when x or y is constant.

    A constant input (e.g. a metric that is 0 for every item of a full fine-tune) has no rank
    correlation; scipy returns NaN too but warns, which is noise in a sweep of many runs.
    """
    if _is_constant(x) or _is_constant(y):
        return np.nan, np.nan
    res = stats.spearmanr(x, y)
    return float(res.statistic), float(res.pvalue)


def _is_constant(a: np.ndarray) -> bool:
    a = np.asarray(a)
    return a.size > 0 and bool(np.all(a == a.flat[0]))


def kendall_tau(x, y) -> tuple[float, float]:
    """Kendall τ-b and its two-sided p-value (``scipy.stats.kendalltau``).

    Parameters
    ----------
    x, y
        (n,) arrays; pairs with a NaN are dropped.

    Returns
    -------
    (tau_b, p_value)
        NaN for fewer than 3 pairs.
    """
    x, y = _pairs(x, y)
    if len(x) < 3:
        return np.nan, np.nan
    res = stats.kendalltau(x, y, variant="b")
    return float(res.statistic), float(res.pvalue)


def partial_spearman(x, y, covariates) -> PartialResult:
    """Partial Spearman ρ(x, y | covariates).

    All variables are rank-transformed (average ranks); x-ranks and y-ranks are each regressed
    on an intercept and the k covariate ranks by OLS; the statistic is the Pearson correlation
    of the two residual vectors. Its test uses t = r·√(df / (1 − r²)) with df = n − k − 2.

    Parameters
    ----------
    x, y
        (n,) arrays. Rows with a NaN in x, y or any covariate are dropped.
    covariates
        (n, k) array or DataFrame (e.g. premise, hypothesis, total length in tokens).

    Returns
    -------
    PartialResult
        ``rho``, two-sided ``p_value``, ``df`` and ``n``. With k = 0 this is plain Spearman.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    z = np.asarray(covariates, dtype=float)
    z = z.reshape(len(x), -1)
    keep = ~(np.isnan(x) | np.isnan(y) | np.isnan(z).any(axis=1))
    x, y, z = x[keep], y[keep], z[keep]
    n, k = z.shape
    df = n - k - 2
    if df < 1:
        return PartialResult(np.nan, np.nan, df, n)
    design = np.column_stack([np.ones(n), *(stats.rankdata(col) for col in z.T)])
    ranks = np.column_stack([stats.rankdata(x), stats.rankdata(y)])
    coef, *_ = np.linalg.lstsq(design, ranks, rcond=None)
    resid = ranks - design @ coef
    r = float(np.corrcoef(resid.T)[0, 1])
    with np.errstate(divide="ignore"):
        t = r * np.sqrt(df / (1 - r * r))
    p = float(2 * stats.t.sf(abs(t), df))
    return PartialResult(r, p, df, n)


def rho_by_label(
    metrics: pd.DataFrame,
    *,
    metric: str = "aulc",
    label: str = "training_label",
    by: Sequence[str] = ("run_id", "measurement"),
) -> pd.DataFrame:
    """Spearman ρ(entropy, metric) within each training label, per run.

    Parameters
    ----------
    metrics
        Per-item metrics table (:func:`contested.dynamics.item_metrics`).
    metric
        Column to correlate with ``entropy``.
    label
        Column holding the class the item was trained on.
    by
        Grouping columns (those present are used).

    Returns
    -------
    pandas.DataFrame
        One row per group × label: the ``by`` columns, ``metric``, ``training_label``, ``n``,
        ``rho``, ``p_value``.
    """
    require(metrics, ["entropy", metric, label], where="per-item metrics")
    if metrics[label].isna().all():
        raise ContestedError(
            f"per-item metrics: '{label}' is empty; join the run's items.parquet (it has "
            "training_label) or pass label='label_used'"
        )
    keys = [c for c in by if c in metrics.columns] + [label]
    rows = []
    for key, grp in metrics.groupby(keys, sort=True, dropna=False, observed=True):
        x, y = _pairs(grp["entropy"], grp[metric])
        rho, p = spearman(x, y) if len(x) >= 3 else (np.nan, np.nan)
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "metric": metric,
                "n": len(x),
                "rho": rho,
                "p_value": p,
            }
        )
    out = pd.DataFrame(rows)
    return out.rename(columns={label: "training_label"})[
        [*keys[:-1], "metric", "training_label", "n", "rho", "p_value"]
    ]


def require(df: pd.DataFrame, columns, *, where: str) -> None:
    """Raise :class:`ContestedError` naming the columns of ``df`` that are missing."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ContestedError(
            f"{where}: missing column(s) {', '.join(missing)}; build it with "
            "contested.dynamics.item_metrics(dynamics, items) so entropy and covariates are joined"
        )
