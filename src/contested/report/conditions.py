"""Condition columns and their human-readable labels, shared by tables and figures (and the column check).

A *condition* is everything that defines a run except its seed (model × method × rank × dataset,
plus the noise rate and the training label where they vary); seeds are replicates of a condition.
"""

from __future__ import annotations

import math

import pandas as pd

from contested.errors import ContestedError

#: Condition columns of the per-run statistics (``docs/ARCHITECTURE.md``), without the seed.
CONDITION_COLUMNS: tuple[str, ...] = ("model", "method", "rank", "dataset")
_METHOD_NAMES = {"lora": "LoRA", "full": "full FT", "ia3": "IA³"}


def require_columns(df: pd.DataFrame, columns: tuple[str, ...], what: str, *, see: str = "docs/report.md") -> None:
    """Check that ``df`` has ``columns``.

    Parameters
    ----------
    df
        The table.
    columns
        The columns it needs.
    what
        The table's name in the message.
    see
        Where its columns are documented.

    Raises
    ------
    ContestedError
        ``<what>: missing column(s) a, b; see <see>``.
    """
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ContestedError(f"{what}: missing column(s) {', '.join(missing)}; see {see}")


def metric_rows(run_stats: pd.DataFrame, metric: str, what: str) -> pd.DataFrame:
    """The per-run statistics of one metric, eval-mode snapshots only.

    Parameters
    ----------
    run_stats
        Per-run statistics (one row per run × metric × measurement, or one metric's rows).
    metric
        The metric to keep (``aulc`` is the study's); a table without ``metric`` is kept whole.
    what
        The table or figure being built, for the message.

    Returns
    -------
    pandas.DataFrame
        The rows of ``metric`` (of ``measurement == "snapshot"`` where the column exists: the ρ of
        in-flight losses is a robustness check, not the headline).

    Raises
    ------
    ContestedError
        No row is left.
    """
    rows = run_stats[run_stats["metric"] == metric] if "metric" in run_stats.columns else run_stats
    if "measurement" in rows.columns:
        rows = rows[rows["measurement"] == "snapshot"]
    if rows.empty:
        raise ContestedError(f"{what}: no per-run statistics for metric '{metric}'")
    return rows


def is_missing(value: object) -> bool:
    """True for None and NaN (pandas puts NaN in the rank of full fine-tuning runs)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def method_label(method: object, rank: object = None) -> str:
    """``LoRA r=4``, ``full FT`` or ``IA³``: the rank only where the method has one."""
    name = _METHOD_NAMES.get(str(method), str(method))
    if str(method) == "lora" and not is_missing(rank):
        return f"{name} r={int(float(rank))}"  # type: ignore[arg-type]
    return name


def condition_label(row: pd.Series | dict, *, columns: tuple[str, ...] = CONDITION_COLUMNS) -> str:
    """One line naming a condition, e.g. ``minilm-l6 · LoRA r=4 · chaosnli-snli``."""
    get = row.get
    parts = []
    for col in columns:
        if col == "rank":
            continue
        if col == "method":
            parts.append(method_label(get("method"), get("rank")))
        elif not is_missing(get(col)):
            parts.append(str(get(col)))
    return " · ".join(parts)


def present_columns(df: pd.DataFrame, columns: tuple[str, ...] = CONDITION_COLUMNS) -> list[str]:
    """The condition columns that ``df`` has (a table may lack e.g. ``dataset``)."""
    return [c for c in columns if c in df.columns]



def matches(df: pd.DataFrame, key: dict) -> pd.Series:
    """Boolean mask of the rows of ``df`` equal to ``key`` on its columns (missing equals missing).

    Columns of ``key`` that ``df`` lacks are ignored; nullable columns (``Int64`` rank with
    ``<NA>`` for full fine-tuning) compare without propagating NA.
    """
    mask = pd.Series(True, index=df.index)
    for col, value in key.items():
        if col not in df.columns:
            continue
        if is_missing(value) or value is pd.NA:
            mask &= df[col].isna()
        else:
            mask &= df[col].eq(value).fillna(False).astype(bool)
    return mask


_METHOD_ORDER = {"lora": 0, "ia3": 1, "full": 2}


def sort_conditions(df: pd.DataFrame, *, then: tuple[str, ...] = ()) -> pd.DataFrame:
    """Reading order: per model and dataset, LoRA by rank, then IA³, then full FT, then noise rate.

    ``then`` names further sort keys (e.g. ``("seed", "run_id")`` for one row per run).
    """
    out = df.copy()
    order = [c for c in ("model", "dataset") if c in out.columns]
    if "method" in out.columns:
        out["_m"] = out["method"].map(_METHOD_ORDER).fillna(len(_METHOD_ORDER))
        order.append("_m")
    order += [c for c in ("rank", "noise_rate", *then) if c in out.columns]
    return out.sort_values(order, na_position="last").drop(columns="_m", errors="ignore") \
        .reset_index(drop=True)
