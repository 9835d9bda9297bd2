"""Incremental R² of entropy, per-bin means with t intervals, and the un-learning summary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from contested.errors import ContestedError
from contested.stats.correlation import require

BINS = ("clean", "ambiguous", "contested")


class R2Result(NamedTuple):
    """Hierarchical OLS: R² without and with the added predictors, their F-test, and n."""

    r2_base: float
    r2_full: float
    delta_r2: float
    f_stat: float
    f_p: float
    n: int


def _r2(y: np.ndarray, x: np.ndarray) -> float:
    design = np.column_stack([np.ones(len(y)), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    tss = np.sum((y - y.mean()) ** 2)
    return float(1 - resid @ resid / tss)


def incremental_r2(y, base, added) -> R2Result:
    """Incremental R² of ``added`` over ``base`` in an OLS regression of ``y`` (with intercept).

    The F-test of the q added predictors is
    F = ((R²_full − R²_base) / q) / ((1 − R²_full) / (n − p_full − 1)), with p_full the number of
    predictors in the full model, on (q, n − p_full − 1) degrees of freedom.

    Parameters
    ----------
    y
        (n,) outcome, e.g. AULC (nats).
    base
        (n, p) base predictors, e.g. cartography confidence and variability.
    added
        (n, q) or (n,) added predictors, e.g. annotation entropy (nats).

    Returns
    -------
    R2Result
        Rows with any NaN are dropped first; NaN fields if too few rows remain.
    """
    y = np.asarray(y, dtype=float)
    base = np.asarray(base, dtype=float).reshape(len(y), -1)
    added = np.asarray(added, dtype=float).reshape(len(y), -1)
    keep = ~(np.isnan(y) | np.isnan(base).any(axis=1) | np.isnan(added).any(axis=1))
    y, base, added = y[keep], base[keep], added[keep]
    n, q = len(y), added.shape[1]
    p_full = base.shape[1] + q
    df2 = n - p_full - 1
    if df2 < 1 or np.ptp(y) == 0:
        return R2Result(np.nan, np.nan, np.nan, np.nan, np.nan, n)
    r2_base = _r2(y, base)
    r2_full = _r2(y, np.column_stack([base, added]))
    delta = r2_full - r2_base
    f = (delta / q) / ((1 - r2_full) / df2)
    return R2Result(r2_base, r2_full, delta, float(f), float(stats.f.sf(f, q, df2)), n)


def bin_means(
    df: pd.DataFrame,
    *,
    value: str,
    by: str | Sequence[str] = "bin",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Mean of ``value`` per group with a t-based confidence interval.

    Parameters
    ----------
    df
        Any table, e.g. per-item metrics (``value="aulc"``) or a dynamics table joined with bins
        (``value="loss", by=["bin", "step"]`` for the mean loss curve per bin).
    value
        Column to average (NaN ignored).
    by
        Grouping column(s); a categorical ``bin`` keeps its clean → contested order.
    confidence
        Coverage of mean ± t_{(1+c)/2, n−1}·SEM.

    Returns
    -------
    pandas.DataFrame
        The ``by`` columns and ``n, mean, std`` (ddof = 1) ``, sem, ci_low, ci_high`` (units of
        ``value``). NaN interval for groups with n < 2.
    """
    keys = [by] if isinstance(by, str) else list(by)
    require(df, [*keys, value], where="bin_means input")
    if not 0 < confidence < 1:
        raise ContestedError(
            f"bin_means: confidence={confidence} must lie strictly between 0 and 1"
        )
    grouped = df.groupby(keys, observed=True, sort=True)[value]
    out = grouped.agg(n="count", mean="mean", std="std").reset_index()
    n = out["n"].to_numpy(dtype=float)
    out["sem"] = out["std"] / np.sqrt(n)
    with np.errstate(invalid="ignore"):
        half = stats.t.ppf((1 + confidence) / 2, n - 1) * out["sem"].to_numpy()
    out["ci_low"] = out["mean"] - half
    out["ci_high"] = out["mean"] + half
    return out


def unlearning_summary(
    metrics: pd.DataFrame,
    *,
    by: Sequence[str] = ("run_id", "measurement"),
    bins: Sequence[str] = BINS,
) -> pd.DataFrame:
    """Un-learning per run: mean Δℓ and share with Δℓ > 0 in each entropy bin.

    Parameters
    ----------
    metrics
        Per-item metrics with ``bin`` and ``delta_loss`` (nats).
    by
        Grouping columns (those present are used).
    bins
        Bin labels to report.

    Returns
    -------
    pandas.DataFrame
        One row per group: ``mean_delta_<bin>`` (nats), ``share_unlearned_<bin>`` (0..1) and
        ``n_<bin>`` for each bin (NaN mean/share for an empty bin).
    """
    require(metrics, ["bin", "delta_loss"], where="per-item metrics")
    keys = [c for c in by if c in metrics.columns]
    if not keys:
        # One group for the whole table: a constant key keeps the groupby below uniform.
        metrics = metrics.assign(run_id=metrics.get("run_id", "all"))
        keys = ["run_id"]
    bin_col = metrics["bin"].astype(str)
    delta = metrics["delta_loss"].astype(float)
    frame = pd.DataFrame({k: metrics[k] for k in keys})
    parts = []
    for b in bins:
        mask = (bin_col == b) & delta.notna()
        sub = frame.assign(
            d=delta.where(mask), u=(delta > 0).astype(float).where(mask), c=mask.astype(int)
        )
        agg = sub.groupby(keys, dropna=False, sort=True).agg(
            **{
                f"mean_delta_{b}": ("d", "mean"),
                f"share_unlearned_{b}": ("u", "mean"),
                f"n_{b}": ("c", "sum"),
            }
        )
        parts.append(agg)
    out = pd.concat(parts, axis=1).reset_index()
    cols = (
        [f"mean_delta_{b}" for b in bins]
        + [f"share_unlearned_{b}" for b in bins]
        + [f"n_{b}" for b in bins]
    )
    return out[[*keys, *cols]]
