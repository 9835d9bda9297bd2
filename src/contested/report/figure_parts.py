"""Pieces the per-run figures share: row selection, per-item bins, per-bin bands.

Tables in (``docs/ARCHITECTURE.md`` columns); the band helper draws on a given matplotlib ``Axes``
(object API only, like :mod:`contested.report.figures`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from contested.errors import ContestedError
from contested.report.conditions import require_columns
from contested.report.style import bin_styles

__all__ = ["TABLE_COLUMNS", "bin_bands", "item_bins", "select_rows"]

#: Where the input tables' columns are documented (for :func:`~contested.report.conditions.require_columns`).
TABLE_COLUMNS = "docs/ARCHITECTURE.md for the table's columns"


def select_rows(
    df: pd.DataFrame, *, run_id: str | None = None, measurement: str | None = "snapshot",
    split: str | None = "tracked", what: str = "table",
) -> pd.DataFrame:
    """Rows of one run, one measurement kind and one split (filters skip absent columns).

    Parameters
    ----------
    df
        Dynamics table or per-item metrics (``docs/ARCHITECTURE.md``).
    run_id
        Keep this run; None requires the table to hold a single run.
    measurement, split
        Keep these values (None: keep all).
    what
        Name of the table in error messages.

    Returns
    -------
    pandas.DataFrame
        The selected rows.

    Raises
    ------
    ContestedError
        When the table holds several runs and ``run_id`` is not given, or nothing is left.
    """
    out = df
    if run_id is not None:
        require_columns(out, ("run_id",), what, see=TABLE_COLUMNS)
        out = out[out["run_id"] == run_id]
    elif "run_id" in out.columns and out["run_id"].nunique() > 1:
        runs = sorted(map(str, out["run_id"].unique()))
        raise ContestedError(f"{what} holds {len(runs)} runs ({', '.join(runs[:3])}, …); pass run_id=")
    if measurement is not None and "measurement" in out.columns:
        out = out[out["measurement"] == measurement]
    if split is not None and "split" in out.columns:
        out = out[out["split"] == split]
    if out.empty:
        raise ContestedError(
            f"{what}: no rows for run_id={run_id!r}, measurement={measurement!r}, split={split!r}"
        )
    return out


def item_bins(items: pd.DataFrame) -> pd.DataFrame:
    """One row per item with its entropy and bin (bins do not change across runs on the same items)."""
    require_columns(items, ("item_id", "entropy", "bin"), "items", see=TABLE_COLUMNS)
    return items[["item_id", "entropy", "bin"]].drop_duplicates("item_id")


def bin_bands(ax: Axes, table: pd.DataFrame, column: str, order: Sequence[str]) -> None:
    """Draw the mean of ``column`` vs step per bin, with a band of mean ± 1.96·SEM over the bin's items.

    Parameters
    ----------
    ax
        Where to draw.
    table
        One row per item × checkpoint: ``item_id, step, bin`` and ``column``.
    column
        The value averaged over each bin's items at each step.
    order
        The bins to draw, in legend order (:func:`contested.report.style.bin_order`); each line is
        labelled with its bin's number of items.
    """
    styles = bin_styles(order)
    table = table.assign(bin=table["bin"].astype(str))
    agg = table.groupby(["bin", "step"])[column].agg(["mean", "std", "count"]).reset_index()
    # SEM over items; a bin with one item has no spread, so its band collapses to the line.
    agg["sem"] = (agg["std"] / np.sqrt(agg["count"])).fillna(0.0)
    for name in order:
        rows = agg[agg["bin"] == name].sort_values("step")
        n = table.loc[table["bin"] == name, "item_id"].nunique()
        color, marker = styles[name]
        ax.plot(rows["step"], rows["mean"], color=color, marker=marker, markersize=4, label=f"{name} (n = {n:,})")
        ax.fill_between(rows["step"], rows["mean"] - 1.96 * rows["sem"], rows["mean"] + 1.96 * rows["sem"],
                        color=color, alpha=0.2, linewidth=0)
