"""Condition columns and their human-readable labels, shared by tables and figures (and the column check).

A *condition* is everything that defines a run except its seed (model × method × rank × dataset ×
noise rate × mitigation × learning rate: :data:`contested.stats.CONDITION_COLUMNS`, the one
definition); seeds are replicates of a condition. Tables and labels show model, method and dataset,
and the learning rate, noise rate and mitigation only where the rows differ in them
(:func:`shown_columns`).
"""

from __future__ import annotations

import math

import pandas as pd

from contested.errors import ContestedError
from contested.report.render import MISSING
from contested.stats.run import CONDITION_COLUMNS, RUN_CONDITION_COLUMNS

__all__ = [
    "CONDITION_COLUMNS", "RUN_CONDITION_COLUMNS", "condition_display", "condition_label", "condition_labels",
    "is_missing", "matches", "method_label", "metric_rows", "present_columns", "require_columns", "shown_columns",
    "sort_conditions", "value_text", "varies",
]

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
    """True for None, NaN and NA (pandas puts NaN or NA in the rank of full fine-tuning runs)."""
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def method_label(method: object, rank: object = None) -> str:
    """``LoRA r=4``, ``full FT`` or ``IA³``: the rank only where the method has one."""
    name = _METHOD_NAMES.get(str(method), str(method))
    if str(method) == "lora" and not is_missing(rank):
        return f"{name} r={int(float(rank))}"  # type: ignore[arg-type]
    return name


#: Condition columns shown only where the rows differ in them (their display names): the rest of a
#: condition (model, method with its rank, dataset) is always shown.
OPTIONAL_COLUMNS = {"lr": "lr", "noise_rate": "noise", "mitigation": "mitigation"}


def varies(values: pd.Series) -> bool:
    """Whether ``values`` hold more than one distinct value (a missing value counts as one)."""
    return values.nunique(dropna=False) > 1


def shown_columns(df: pd.DataFrame, columns: tuple[str, ...] = CONDITION_COLUMNS) -> tuple[str, ...]:
    """The condition columns of ``df`` worth showing beside its rows.

    ``model``, ``method``, ``rank`` and ``dataset`` where ``df`` has them; ``lr`` only where the rows
    differ in it (e.g. an lr ladder), ``noise_rate`` only where a row has label noise and
    ``mitigation`` only where a row has one (the study's runs have neither).
    """
    def shown(col: str) -> bool:
        if col == "lr":
            return varies(df[col])
        if col in ("noise_rate", "mitigation"):  # shown where a row is not the study's setting
            return any(not is_missing(v) and not _is_default(col, v) for v in df[col])
        return True

    return tuple(c for c in present_columns(df, columns) if shown(c))


def value_text(col: str, value: object) -> str:
    """How a condition column's value reads in a cell: ``2e-05`` (``lr``), ``10%`` (``noise_rate``)."""
    if is_missing(value):
        return MISSING
    if col == "lr":
        return f"{float(value):g}"  # type: ignore[arg-type]
    if col == "noise_rate":
        return f"{float(value):.0%}"  # type: ignore[arg-type]
    return str(value)


def _is_default(col: str, value: object) -> bool:
    """No noise, no mitigation: the study's setting, left out of a label."""
    return (col == "noise_rate" and float(value) <= 0) or (col == "mitigation" and value == "none")  # type: ignore[arg-type]


def condition_label(row: pd.Series | dict, *, columns: tuple[str, ...] = CONDITION_COLUMNS) -> str:
    """One line naming a condition, e.g. ``minilm-l6 · LoRA r=4 · chaosnli-snli · lr 0.0002``.

    The noise rate is named only where it is above 0 and the mitigation only where there is one;
    pass ``columns=shown_columns(df)`` (or use :func:`condition_labels`) to leave out the learning
    rate where the rows share it.
    """
    get = row.get
    parts = []
    for col in columns:
        value = get(col)
        if col == "rank":
            continue
        if col == "method":
            parts.append(method_label(value, get("rank")))
        elif is_missing(value) or _is_default(col, value):
            continue
        elif col in ("lr", "noise_rate"):
            parts.append(f"{OPTIONAL_COLUMNS[col]} {value_text(col, value)}")
        else:
            parts.append(str(value))
    return " · ".join(parts)


def condition_labels(df: pd.DataFrame, columns: tuple[str, ...] = CONDITION_COLUMNS) -> list[str]:
    """:func:`condition_label` of every row of ``df``, naming only what :func:`shown_columns` shows."""
    shown = shown_columns(df, columns)
    return [condition_label(row, columns=shown) for row in df.to_dict("records")]


def condition_display(df: pd.DataFrame, *, seed: bool = False) -> dict[str, list[str]]:
    """The display columns naming each row's condition, for a table's display frame.

    ``Model``, ``Method`` (with the LoRA rank) and ``Dataset`` where ``df`` has them, ``seed``
    (with ``seed=True``), then ``lr``, ``noise`` and ``mitigation`` where :func:`shown_columns`
    shows them.
    """
    cols: dict[str, list[str]] = {}
    if "model" in df.columns:
        cols["Model"] = df["model"].astype(str).tolist()
    if "method" in df.columns:
        rank = df["rank"] if "rank" in df.columns else pd.Series([None] * len(df), index=df.index)
        cols["Method"] = [method_label(m, r) for m, r in zip(df["method"], rank, strict=True)]
    if "dataset" in df.columns:
        cols["Dataset"] = df["dataset"].astype(str).tolist()
    if seed:
        seeds = df["seed"] if "seed" in df.columns else [None] * len(df)
        cols["seed"] = [MISSING if is_missing(v) else str(int(v)) for v in seeds]
    shown = shown_columns(df)
    for col, name in OPTIONAL_COLUMNS.items():
        if col in shown:
            cols[name] = [value_text(col, v) for v in df[col]]
    return cols


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
        if is_missing(value):
            mask &= df[col].isna()
        else:
            mask &= df[col].eq(value).fillna(False).astype(bool)
    return mask


_METHOD_ORDER = {"lora": 0, "ia3": 1, "full": 2}


def sort_conditions(df: pd.DataFrame, *, then: tuple[str, ...] = ()) -> pd.DataFrame:
    """Reading order: per model and dataset, LoRA by rank, then IA³, then full FT, then noise rate,
    mitigation and learning rate.

    ``then`` names further sort keys (e.g. ``("seed", "run_id")`` for one row per run).
    """
    out = df.copy()
    order = [c for c in ("model", "dataset") if c in out.columns]
    if "method" in out.columns:
        out["_m"] = out["method"].map(_METHOD_ORDER).fillna(len(_METHOD_ORDER))
        order.append("_m")
    order += [c for c in ("rank", "noise_rate", "mitigation", "lr", *then) if c in out.columns]
    return out.sort_values(order, na_position="last").drop(columns="_m", errors="ignore") \
        .reset_index(drop=True)
