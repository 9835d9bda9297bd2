"""Across-run figures: a forest plot of ρ per condition and ρ vs LoRA rank.

Both take the per-run statistics (one row per run × metric, ``docs/ARCHITECTURE.md``); the forest
plot also takes the seed-pooled table of :func:`contested.stats.seed_aggregate`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy import stats

from contested.errors import ContestedError
from contested.report.conditions import (
    CONDITION_COLUMNS,
    condition_label,
    matches,
    metric_rows,
    present_columns,
    require_columns,
    shown_columns,
    value_text,
    varies,
)
from contested.report.style import MARKERS, OKABE_ITO, figure_style, metric_name

__all__ = ["forest_figure", "rank_figure"]


#: Longest tick label of the forest plot (a full condition name such as
#: ``smollm2-135m · LoRA r=16 · chaosnli-alphanli · lr 0.0001`` fits); longer ones keep their end.
MAX_LABEL = 60


def _short(key: dict) -> dict:
    """``key`` with a model given as a folder path shown by its folder name (the axes would otherwise vanish)."""
    model = key.get("model")
    # A Hub id (``org/name``) stays whole; a local path (absolute, or of several parts) shows its last part.
    if isinstance(model, str) and (model.startswith("/") or model.count("/") > 1 or "\\" in model):
        key = {**key, "model": model.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]}
    return key


def _tick_label(key: dict, named: tuple[str, ...]) -> str:
    """The condition's tick label, cut to :data:`MAX_LABEL` characters from the left if still too long."""
    label = condition_label(_short(key), columns=named)
    return label if len(label) <= MAX_LABEL else "…" + label[-(MAX_LABEL - 1):]


def _metric_rows(run_stats: pd.DataFrame, metric: str, what: str) -> pd.DataFrame:
    """The ρ of ``metric`` per run (:func:`~contested.report.conditions.metric_rows`)."""
    require_columns(run_stats, ("rho",), what)
    return metric_rows(run_stats, metric, what)


def forest_figure(
    run_stats: pd.DataFrame, *, pooled: pd.DataFrame | None = None, metric: str = "aulc",
    columns: tuple[str, ...] = CONDITION_COLUMNS, title: str | None = None,
) -> Figure:
    """Forest plot: ρ(H, metric) with 95 % CIs per condition, per seed and seed-pooled.

    Parameters
    ----------
    run_stats
        Per-run statistics: ``rho, ci_low, ci_high, seed`` + condition columns (+ ``metric``).
    pooled
        Seed-pooled rows from :func:`contested.stats.seed_aggregate` (condition columns +
        ``rho_pooled, pooled_ci_low, pooled_ci_high``: the Fisher-z pooled ρ); black diamonds.
    metric
        Which metric's ρ (rows of ``run_stats`` with this ``metric``).
    columns
        Condition columns that define a row of the plot.

    Returns
    -------
    matplotlib.figure.Figure
        One axes; one row per condition (seeds as small offset points with CI bars).
    """
    rows = _metric_rows(run_stats, metric, "forest plot")
    if pooled is not None:
        pooled = _metric_rows(pooled.rename(columns={"rho_pooled": "rho"}), metric, "pooled table")
        pooled = pooled.rename(columns={"rho": "rho_pooled"})
    cols = present_columns(rows, columns)
    named = shown_columns(rows, tuple(cols))  # the lr only where the conditions differ in it
    conds = rows[cols].drop_duplicates().reset_index(drop=True)
    seeds = sorted(rows["seed"].dropna().unique()) if "seed" in rows.columns else []
    seed_style = {s: (OKABE_ITO[i % len(OKABE_ITO)], MARKERS[i % len(MARKERS)]) for i, s in enumerate(seeds)}
    height = 1.2 + 0.45 * len(conds) * (1 + 0.25 * max(len(seeds) - 1, 0))
    with figure_style():
        fig = Figure(figsize=(8.0, max(3.0, height)))
        ax = fig.add_subplot()
        labels = []
        for y, cond in enumerate(conds.itertuples(index=False)):
            key = dict(zip(cols, cond, strict=True))
            labels.append(_tick_label(key, named))
            sub = rows[matches(rows, key)]
            # The pooled diamond sits on the row's line; seeds go below it so none is hidden.
            top = 0.12 if pooled is not None else -0.3
            offsets = np.linspace(top, 0.36, len(seeds)) if len(seeds) > 1 else np.array([top])
            for offset, seed in zip(offsets, seeds or [None], strict=False):
                r = sub if seed is None else sub[sub["seed"] == seed]
                if r.empty:
                    continue
                color, marker = seed_style.get(seed, ("0.4", "o"))
                xerr = None
                if {"ci_low", "ci_high"} <= set(r.columns):
                    xerr = [r["rho"] - r["ci_low"], r["ci_high"] - r["rho"]]
                ax.errorbar(r["rho"], np.full(len(r), y + offset), xerr=xerr, fmt=marker, color=color,
                            markersize=5, capsize=2, linewidth=1.1)
            if pooled is not None:
                for p in pooled[matches(pooled, key)].itertuples(index=False):
                    lo, hi = p.rho_pooled - p.pooled_ci_low, p.pooled_ci_high - p.rho_pooled
                    ax.errorbar([p.rho_pooled], [y - 0.12], xerr=[[lo], [hi]], fmt="D",
                                color="k", markersize=8, capsize=4, linewidth=2.2, zorder=5)
        ax.axvline(0.0, color="0.3", linewidth=1.0, linestyle=":")
        ax.set_yticks(range(len(conds)), labels)
        ax.invert_yaxis()  # first condition on top, as in a table
        ax.set_xlabel(f"Spearman ρ(annotation entropy, {metric_name(metric)}) with 95% CI")
        ax.grid(axis="y", visible=False)
        handles = [Line2D([], [], color=c, marker=m, linestyle="", label=f"seed {s}")
                   for s, (c, m) in seed_style.items()]
        if pooled is not None:
            handles.append(Line2D([], [], color="k", marker="D", linestyle="-", label="seed-pooled"))
        if handles:
            ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        ax.set_title(title or f"ρ(H, {metric_name(metric)}) by condition")
    return fig


#: What one line of the rank figure shares: the condition but the method and rank.
RANK_GROUP = tuple(c for c in CONDITION_COLUMNS if c not in ("method", "rank"))


def rank_figure(
    run_stats: pd.DataFrame, *, metric: str = "aulc", group: tuple[str, ...] = RANK_GROUP,
    title: str | None = None,
) -> Figure:
    """ρ(H, metric) vs LoRA rank, one line per model (× dataset, learning rate, …), seeds as points.

    Full fine-tuning runs of the same model (and dataset, noise rate, mitigation), when present,
    are drawn as a dotted horizontal reference, one per full-FT learning rate. The legend gives
    each line's Spearman(rank, ρ) over its runs.

    Parameters
    ----------
    run_stats
        Per-run statistics with ``method, rank, rho`` (+ ``metric`` and the ``group`` columns).
    metric
        Which metric's ρ.
    group
        Columns that define one line.

    Returns
    -------
    matplotlib.figure.Figure
        One axes with a log₂ rank axis.
    """
    rows = _metric_rows(run_stats, metric, "rank figure")
    for col in ("method", "rank"):
        if col not in rows.columns:
            raise ContestedError(f"rank figure: missing column '{col}'")
    lora = rows[(rows["method"] == "lora") & rows["rank"].notna()]
    if lora.empty:
        raise ContestedError("rank figure: no LoRA runs with a rank")
    cols = [c for c in group if c in rows.columns]
    named = shown_columns(lora, tuple(cols))
    ranks = sorted(lora["rank"].astype(int).unique())
    with figure_style():
        fig = Figure(figsize=(7.0, 4.6))
        ax = fig.add_subplot()
        for i, (key, sub) in enumerate(lora.groupby(cols, dropna=False) if cols else [((), lora)]):
            key = dict(zip(cols, key if isinstance(key, tuple) else (key,), strict=True))
            name = condition_label(key, columns=named) or "LoRA"
            color, marker = OKABE_ITO[i % len(OKABE_ITO)], MARKERS[i % len(MARKERS)]
            mean = sub.groupby("rank")["rho"].mean().sort_index()
            if sub["rank"].nunique() > 1:
                srho = stats.spearmanr(sub["rank"], sub["rho"])
                name += f" (Spearman(rank, ρ) = {srho.statistic:+.2f}, p = {srho.pvalue:.2g})"
            ax.scatter(sub["rank"], sub["rho"], color=color, marker=marker, s=22, alpha=0.6, linewidths=0)
            ax.plot(mean.index, mean.to_numpy(), color=color, marker=marker, markersize=6, label=name)
            full = rows[rows["method"] == "full"]
            full = full[matches(full, {c: v for c, v in key.items() if c != "lr"})]  # full FT has its own lr
            several = "lr" in full.columns and varies(full["lr"])
            for lr, ref in full.groupby("lr", dropna=False) if several else [(None, full)]:
                if ref.empty:
                    continue
                lr_text = f" (lr {value_text('lr', lr)})" if several else ""
                ax.axhline(ref["rho"].mean(), color=color, linestyle=":", linewidth=1.4,
                           label=f"{name.split(' (')[0]}: full FT{lr_text}")
        ax.set_xscale("log", base=2)
        ax.set_xticks(ranks, [str(r) for r in ranks])
        ax.minorticks_off()
        ax.axhline(0.0, color="0.3", linewidth=0.8)
        ax.set_xlabel("LoRA rank r (log₂ scale; α = 2r)")
        ax.set_ylabel(f"Spearman ρ(H, {metric_name(metric)})")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=1, frameon=False)
        ax.set_title(title or "ρ vs LoRA rank (points: seeds; line: seed mean)")
    return fig
