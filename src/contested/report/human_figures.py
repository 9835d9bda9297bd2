"""Figures of un-learning against learning and of the fit to the annotators over training.

Tables in, matplotlib ``Figure`` out, object API only (``Figure(...)``, never ``pyplot``), like
:mod:`contested.report.figures`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from contested.dynamics import human_fit_table
from contested.errors import ContestedError
from contested.report.conditions import method_label, require_columns
from contested.report.figure_parts import bin_bands, select_rows
from contested.report.style import (
    MARKERS,
    OKABE_ITO,
    STEP_LABEL,
    bin_order,
    figure_style,
)

__all__ = ["jsd_by_bin_figure", "learning_curves_figure"]

LEARNING_LABEL = "learning: mean loss drop of the clean items since step 0 (nats)"
JSD_LABEL = "JSD to the annotator distribution"


def _method_order(labels: pd.Series, methods: pd.Series, ranks: pd.Series) -> list[str]:
    """LoRA by rank, then other methods, full fine-tuning last."""
    first = pd.DataFrame({"label": labels, "method": methods, "rank": pd.to_numeric(ranks, errors="coerce")})
    first = first.drop_duplicates("label")
    first["order"] = first["method"].map({"lora": 0, "ia3": 1, "full": 3}).fillna(2)
    return first.sort_values(["order", "rank", "label"], na_position="last")["label"].tolist()


def learning_curves_figure(curves: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Un-learning against learning: mean Δℓ of the contested items vs the clean items' loss drop.

    Parameters
    ----------
    curves
        One row per run × checkpoint: ``run_id, step, learning`` (nats), ``delta_contested``
        (nats), optionally ``share_away`` (0..1) and the run's ``method, rank``
        (:func:`contested.dynamics.matched.curve_table` plus run columns).
    title
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        One line per run with a marker at each checkpoint, coloured by method; a dashed line at
        y = 0. A second panel shows the share of contested items whose JSD to the annotators rose,
        when the runs had logits.
    """
    require_columns(curves, ("run_id", "step", "learning", "delta_contested"), "learning curves")
    if curves.empty:
        raise ContestedError("learning curves: no rows")
    df = curves.sort_values(["run_id", "step"])
    methods = df["method"] if "method" in df.columns else pd.Series("run", index=df.index)
    ranks = df["rank"] if "rank" in df.columns else pd.Series(np.nan, index=df.index)
    labels = pd.Series([method_label(m, None if pd.isna(r) else r) for m, r in zip(methods, ranks, strict=True)],
                       index=df.index)
    order = _method_order(labels, methods, ranks)
    styles = {lab: (OKABE_ITO[i % len(OKABE_ITO)], MARKERS[i % len(MARKERS)]) for i, lab in enumerate(order)}
    panels = [("delta_contested", "mean Δℓ of the contested items (nats)", "Contested items' loss change")]
    if "share_away" in df.columns and np.isfinite(df["share_away"].to_numpy(dtype=float)).any():
        panels.append(("share_away", "share of contested items whose JSD rose",
                       "Contested items moving away from the annotators"))
    with figure_style():
        fig = Figure(figsize=(7.0 * len(panels), 4.8))
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, (col, ylabel, sub) in zip(axes, panels, strict=True):
            for _, run in df.groupby("run_id", sort=False):
                color, marker = styles[labels[run.index[0]]]
                ax.plot(run["learning"], run[col], color=color, marker=marker, markersize=4, alpha=0.8,
                        linewidth=1.4)
            ax.axhline(0.0, color="0.3", linestyle="--", linewidth=1.1)
            ax.set_xlabel(LEARNING_LABEL)
            ax.set_ylabel(ylabel)
            ax.set_title(sub)
        counts = labels.groupby(df["run_id"]).first().value_counts()
        handles = [Line2D([], [], color=styles[lab][0], marker=styles[lab][1], label=f"{lab} ({counts[lab]} run"
                          f"{'s' if counts[lab] > 1 else ''})") for lab in order]
        axes[0].legend(handles=handles, loc="best", title="method")
        if title:
            fig.suptitle(title)
    return fig


def jsd_by_bin_figure(dynamics: pd.DataFrame, items: pd.DataFrame, *, run_id: str | None = None,
                      split: str = "tracked", title: str | None = None) -> Figure:
    """Mean JSD to the annotator distribution vs training step per entropy bin, with a 95% CI band.

    Parameters
    ----------
    dynamics
        Long-form dynamics table with ``logits`` (eval-mode ``snapshot`` rows are used).
    items
        Item table with ``item_id, label_dist, majority_label, entropy, bin``.
    run_id
        Which run, when ``dynamics`` holds several.
    split
        ``tracked`` (trained on, the default) or ``validation``.
    title
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
        One line per bin (mean over its items at each checkpoint) with a band of mean ± 1.96·SEM.
    """
    dyn = select_rows(dynamics, run_id=run_id, measurement="snapshot", split=split, what="dynamics")
    table = human_fit_table(dyn, items)
    if "bin" not in table.columns:
        raise ContestedError("JSD figure: the item table has no 'bin' column")
    order = bin_order(table["bin"], table.get("entropy"))
    with figure_style():
        fig = Figure(figsize=(7.5, 4.6))
        ax = fig.add_subplot()
        bin_bands(ax, table, "jsd", order)
        ax.set_xlabel(STEP_LABEL)
        ax.set_ylabel(f"mean {JSD_LABEL}")
        ax.set_title(title or f"JSD to the annotators by entropy bin ({split} items, mean ± 95% CI)")
        ax.legend(title="entropy bin", loc="best")
    return fig
