"""Multiple-comparison corrections across conditions: Holm (FWER) and Benjamini–Hochberg (FDR).

Benjamini–Hochberg is ``scipy.stats.false_discovery_control(method="bh")``. scipy has no
Holm step-down, so it is written here (five lines) and tested against a textbook vector and
pingouin. NaN p-values (e.g. a run too small to test) are left NaN and do not count towards m.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from contested.errors import ContestedError
from contested.stats.correlation import require

METHODS = ("holm", "bh")


def holm(p) -> np.ndarray:
    """Holm step-down adjusted p-values.

    Sorted ascending, p_(i) becomes max_{j ≤ i} min(1, (m − j + 1)·p_(j)) (1-based j), so
    rejecting adjusted p ≤ α controls the family-wise error rate at α.

    Parameters
    ----------
    p
        (m,) p-values in [0, 1]; NaN entries are ignored and stay NaN.

    Returns
    -------
    numpy.ndarray
        (m,) adjusted p-values in the input order.
    """
    p = _check(p)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if m:
        order = ok[np.argsort(p[ok], kind="stable")]
        scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
        out[order] = np.maximum.accumulate(scaled)
    return out


def benjamini_hochberg(p) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (``scipy.stats.false_discovery_control``).

    Parameters
    ----------
    p
        (m,) p-values in [0, 1]; NaN entries are ignored and stay NaN.

    Returns
    -------
    numpy.ndarray
        (m,) adjusted p-values in the input order (reject ≤ q controls the FDR at q).
    """
    p = _check(p)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = stats.false_discovery_control(p[ok], method="bh")
    return out


def adjust_pvalues(p, *, method: str = "holm") -> np.ndarray:
    """Adjust p-values for multiple comparisons.

    Parameters
    ----------
    p
        (m,) p-values; NaN entries stay NaN.
    method
        ``"holm"`` (family-wise error) or ``"bh"`` (false discovery rate).

    Returns
    -------
    numpy.ndarray
        (m,) adjusted p-values.
    """
    if method == "holm":
        return holm(p)
    if method == "bh":
        return benjamini_hochberg(p)
    raise ContestedError(
        f"multiple-comparison method '{method}' unknown; use one of {', '.join(METHODS)}"
    )


def correct_across_conditions(
    table: pd.DataFrame,
    *,
    p_col: str = "p_value",
    methods: Sequence[str] = METHODS,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Add adjusted p-values and reject flags across the rows of ``table``.

    Parameters
    ----------
    table
        One row per condition (or run), e.g. per-run statistics or a seed aggregate.
    p_col
        Column with the raw p-values (e.g. ``p_value``, ``partial_p``, ``pooled_p``).
    methods
        Any of ``"holm"``, ``"bh"``.
    alpha
        Level of the reject flags.

    Returns
    -------
    pandas.DataFrame
        A copy with ``<p_col>_<method>`` (adjusted p) and ``reject_<method>`` (adjusted ≤ alpha)
        per method; the family is all rows of ``table``.
    """
    require(table, [p_col], where="table to correct")
    out = table.copy()
    for method in methods:
        adj = adjust_pvalues(out[p_col].to_numpy(dtype=float), method=method)
        out[f"{p_col}_{method}"] = adj
        out[f"reject_{method}"] = adj <= alpha
    return out


def _check(p) -> np.ndarray:
    p = np.asarray(p, dtype=float).ravel()
    bad = (p < 0) | (p > 1)
    if bad.any():
        raise ContestedError(f"p-values must lie in [0, 1]; got {p[bad][0]!r}")
    return p
