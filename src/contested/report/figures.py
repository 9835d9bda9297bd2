"""Per-run figures: functions that take tables and return matplotlib Figures.

Inputs follow ``docs/ARCHITECTURE.md``: the long-form dynamics table (``item_id, step, loss, …``),
an item table or the per-item metrics (``item_id, entropy, bin, …``). Only the object API is used
(``Figure(...)``, never ``pyplot``), so the functions are safe under the Agg backend, in threads and
in notebooks, and never leave global figures open.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from scipy import stats

from contested.errors import ContestedError
from contested.io import atomic_path
from contested.report.conditions import require_columns
from contested.report.figure_parts import TABLE_COLUMNS, bin_bands, item_bins, select_rows
from contested.report.style import (
    ENTROPY_CMAP,
    ENTROPY_LABEL,
    LOSS_LABEL,
    NATS_METRICS,
    STEP_LABEL,
    bin_order,
    bin_styles,
    bin_thresholds,
    figure_style,
    infer_num_classes,
    metric_name,
)

__all__ = [
    "data_map_figure",
    "entropy_histogram_figure",
    "entropy_metric_figure",
    "hero_figure",
    "save_figure",
    "trajectories_figure",
]


def hero_figure(
    dynamics: pd.DataFrame, items: pd.DataFrame, *, run_id: str | None = None,
    measurement: str = "snapshot", split: str = "tracked", title: str | None = None,
) -> Figure:
    """Mean per-example loss vs training step per entropy bin, with a shaded 95 % CI.

    The band is mean ± 1.96·SEM over the items of a bin at each checkpoint; the dashed line marks
    ln 2 ≈ 0.693 nats (the loss of a 50/50 prediction on the training label).

    Parameters
    ----------
    dynamics
        Long-form dynamics table (``item_id, step, loss`` in nats, ``measurement``, ``split``).
    items
        Item table or per-item metrics with ``item_id, entropy, bin``.
    run_id
        Which run, when ``dynamics`` holds several.
    measurement, split
        Rows to use (the study: eval-mode ``snapshot`` losses of the ``tracked`` items).
    title
        Axes title; a default names the run.

    Returns
    -------
    matplotlib.figure.Figure
        One axes with one line and band per bin; the legend gives each bin's n.
    """
    dyn = select_rows(dynamics, run_id=run_id, measurement=measurement, split=split, what="dynamics")
    require_columns(dyn, ("item_id", "step", "loss"), "dynamics", see=TABLE_COLUMNS)
    merged = dyn[["item_id", "step", "loss"]].merge(item_bins(items), on="item_id", how="inner")
    if merged.empty:
        raise ContestedError("hero figure: no dynamics item_id matches the items table")
    order = bin_order(merged["bin"], merged["entropy"])
    with figure_style():
        fig = Figure(figsize=(7.5, 4.6))
        ax = fig.add_subplot()
        bin_bands(ax, merged, "loss", order)
        ax.axhline(np.log(2), color="0.3", linestyle="--", linewidth=1.2, label="ln 2 ≈ 0.693 nats")
        ax.set_xlabel(STEP_LABEL)
        ax.set_ylabel(f"mean {LOSS_LABEL}")
        ax.set_title(title or f"Loss by annotation-entropy bin ({measurement}, mean ± 95% CI)")
        ax.legend(title="entropy bin", loc="best")
    return fig


def trajectories_figure(
    dynamics: pd.DataFrame, items: pd.DataFrame, *, run_id: str | None = None,
    measurement: str = "snapshot", split: str = "tracked", max_items: int = 300, seed: int = 0,
    num_classes: int | None = None, title: str | None = None,
) -> Figure:
    """Individual loss trajectories coloured by annotation entropy (diverging colour map).

    Parameters
    ----------
    dynamics, items, run_id, measurement, split
        As in :func:`hero_figure`.
    max_items
        Draw at most this many items, a seeded uniform sample (all when fewer).
    seed
        Seed of that sample.
    num_classes
        K, for the colour scale's maximum ln K; inferred from ``items`` when None.

    Returns
    -------
    matplotlib.figure.Figure
        One axes with one line per drawn item and a colour bar in nats.
    """
    dyn = select_rows(dynamics, run_id=run_id, measurement=measurement, split=split, what="dynamics")
    require_columns(dyn, ("item_id", "step", "loss"), "dynamics", see=TABLE_COLUMNS)
    bins = item_bins(items)
    ids = np.intersect1d(dyn["item_id"].unique(), bins["item_id"].to_numpy())
    if ids.size == 0:
        raise ContestedError("trajectories figure: no dynamics item_id matches the items table")
    rng = np.random.default_rng(seed)
    if ids.size > max_items:
        ids = rng.choice(ids, size=max_items, replace=False)
    # Random drawing order: sorting by entropy would paint the contested items over the rest.
    ids = rng.permutation(ids)
    entropy = bins.set_index("item_id")["entropy"]
    grouped = dict(tuple(dyn[dyn["item_id"].isin(ids)].sort_values("step").groupby("item_id")))
    segments = [grouped[i][["step", "loss"]].to_numpy(dtype=float) for i in ids]
    k = num_classes or infer_num_classes(items)
    norm = Normalize(vmin=0.0, vmax=float(np.log(k)))
    with figure_style():
        fig = Figure(figsize=(7.5, 4.6))
        ax = fig.add_subplot()
        lines = LineCollection(segments, cmap=ENTROPY_CMAP, norm=norm, linewidths=0.9, alpha=0.55)
        lines.set_array(entropy.loc[ids].to_numpy(dtype=float))
        ax.add_collection(lines)
        ax.autoscale_view()
        cbar = fig.colorbar(lines, ax=ax, pad=0.02)
        cbar.set_label(ENTROPY_LABEL)
        for t in bin_thresholds(k)[:2]:
            cbar.ax.axhline(t, color="k", linewidth=1.0)
        ax.set_xlabel(STEP_LABEL)
        ax.set_ylabel(LOSS_LABEL)
        ax.set_title(title or f"Individual trajectories ({len(ids):,} items, {measurement})")
    return fig


def entropy_histogram_figure(
    items: pd.DataFrame, *, num_classes: int | None = None, bins: int = 30, title: str | None = None,
) -> Figure:
    """Histogram of annotation entropy with the study's bin thresholds (scaled for K classes).

    Parameters
    ----------
    items
        Item table (or per-item metrics) with ``item_id, entropy`` (nats) and ``bin``.
    num_classes
        K; the thresholds are 0.4·s, 0.7·s and ln K with s = ln K / ln 3. Inferred when None.
    bins
        Number of histogram bars between 0 and ln K.

    Returns
    -------
    matplotlib.figure.Figure
        One axes: bars, three vertical threshold lines, and each study bin's share in the legend.
    """
    data = item_bins(items)
    k = num_classes or infer_num_classes(items)
    low, high, hmax = bin_thresholds(k)
    order = bin_order(data["bin"], data["entropy"])
    styles = bin_styles(order)
    with figure_style():
        fig = Figure(figsize=(7.5, 4.2))
        ax = fig.add_subplot()
        # Bar edges include the thresholds, so no bar straddles two bins.
        cuts = (0.0, low, high, hmax)
        edges = np.unique(np.concatenate([
            np.linspace(a, b, max(1, round((b - a) / hmax * bins)) + 1)
            for a, b in itertools.pairwise(cuts)
        ]))
        _, edges, patches = ax.hist(data["entropy"], bins=edges, color="0.6", edgecolor="white",
                                    linewidth=0.6)
        study = set(order) <= {"clean", "ambiguous", "contested"}
        if study:
            # Colour each bar by the study bin its centre falls in, so bars and legend agree.
            for patch, left, right in zip(patches, edges[:-1], edges[1:], strict=True):
                centre = (left + right) / 2
                name = "clean" if centre < low else "ambiguous" if centre < high else "contested"
                patch.set_facecolor(styles.get(name, ("0.6",))[0])
        handles = [
            Patch(color=styles[name][0] if study else "0.6",
                  label=f"{name}: {(data['bin'].astype(str) == name).mean():.1%} of {len(data):,} items")
            for name in order
        ]
        for value, text in ((low, f"{low:.2f}"), (high, f"{high:.2f}"), (hmax, f"ln {k} = {hmax:.2f}")):
            ax.axvline(value, color="k", linestyle="--", linewidth=1.1)
            ax.annotate(text, xy=(value, 1.0), xycoords=("data", "axes fraction"), xytext=(0, 3),
                        textcoords="offset points", ha="center", va="bottom", fontsize=9.5)
        ax.set_xlim(0, hmax * 1.02)
        ax.set_xlabel(ENTROPY_LABEL)
        ax.set_ylabel("items")
        ax.set_title(title or "Annotation entropy and the study's bins", pad=16)
        ax.legend(handles=handles, loc="upper left")
    return fig


def entropy_metric_figure(
    metrics: pd.DataFrame, *, metric: str = "aulc", run_id: str | None = None,
    measurement: str = "snapshot", split: str = "tracked", rho: float | None = None,
    ci: tuple[float, float] | None = None, title: str | None = None,
) -> Figure:
    """Annotation entropy vs a per-item metric (AULC by default), Spearman ρ in the title.

    Parameters
    ----------
    metrics
        Per-item metrics (``entropy``, ``bin`` and ``metric``; losses in nats).
    metric
        Column on the y axis.
    rho, ci
        The run's ρ and its bootstrap CI from the per-run statistics; when ``rho`` is None it is
        computed here with :func:`scipy.stats.spearmanr` (and no CI is shown).
    title
        First title line; ρ (and its CI) always follows on the last line.

    Returns
    -------
    matplotlib.figure.Figure
        Scatter coloured by bin plus the mean of ``metric`` in entropy deciles.
    """
    df = select_rows(metrics, run_id=run_id, measurement=measurement, split=split, what="per-item metrics")
    require_columns(df, ("entropy", "bin", metric), "per-item metrics", see=TABLE_COLUMNS)
    df = df.dropna(subset=["entropy", metric])
    if rho is None:
        rho = float(stats.spearmanr(df["entropy"], df[metric]).statistic)
    order = bin_order(df["bin"], df["entropy"])
    styles = bin_styles(order)
    with figure_style():
        fig = Figure(figsize=(7.0, 4.8))
        ax = fig.add_subplot()
        for name in order:
            rows = df[df["bin"].astype(str) == name]
            color, marker = styles[name]
            ax.scatter(rows["entropy"], rows[metric], s=12, alpha=0.5, color=color, marker=marker,
                       linewidths=0, label=f"{name} (n = {len(rows):,})")
        # Decile means show the trend that a cloud of 1,000+ points hides.
        deciles = pd.qcut(df["entropy"].rank(method="first"), q=min(10, len(df)), labels=False)
        trend = df.groupby(deciles)[["entropy", metric]].mean()
        ax.plot(trend["entropy"], trend[metric], color="k", marker="D", markersize=4,
                label="decile means")
        ci_text = f", 95% CI [{ci[0]:.2f}, {ci[1]:.2f}]" if ci is not None else ""
        name = metric_name(metric)
        ax.set_xlabel(ENTROPY_LABEL)
        ax.set_ylabel(f"{name}{' (nats)' if metric in NATS_METRICS else ''}")
        rho_text = f"Spearman ρ = {rho:.3f}{ci_text}"
        ax.set_title(f"{title}\n{rho_text}" if title else f"Entropy vs {name}: {rho_text}")
        ax.legend(loc="best", markerscale=1.5)
    return fig


def data_map_figure(
    metrics: pd.DataFrame, *, run_id: str | None = None, measurement: str = "snapshot",
    split: str = "tracked", num_classes: int | None = None, title: str | None = None,
) -> Figure:
    """Dataset-Cartography data map: variability vs confidence, coloured by annotation entropy.

    Parameters
    ----------
    metrics
        Per-item metrics with ``confidence`` (mean p(label) over checkpoints), ``variability``
        (their standard deviation) and ``entropy`` (nats).

    Returns
    -------
    matplotlib.figure.Figure
        One scatter axes and a colour bar in nats.
    """
    df = select_rows(metrics, run_id=run_id, measurement=measurement, split=split, what="per-item metrics")
    require_columns(df, ("confidence", "variability", "entropy"), "per-item metrics", see=TABLE_COLUMNS)
    k = num_classes or infer_num_classes(metrics)
    order = np.argsort(df["entropy"].to_numpy())  # contested on top: they are the points of interest
    rows = df.iloc[order]
    with figure_style():
        fig = Figure(figsize=(6.6, 5.2))
        ax = fig.add_subplot()
        points = ax.scatter(rows["variability"], rows["confidence"], c=rows["entropy"], s=14,
                            cmap=ENTROPY_CMAP, norm=Normalize(0.0, float(np.log(k))), alpha=0.8,
                            linewidths=0)
        cbar = fig.colorbar(points, ax=ax, pad=0.02)
        cbar.set_label(ENTROPY_LABEL)
        ax.set_xlabel("variability (std of p(label) over checkpoints)")
        ax.set_ylabel("confidence (mean p(label) over checkpoints)")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(left=0)
        ax.set_title(title or f"Data map ({len(df):,} items, {measurement})")
    return fig


def save_figure(fig: Figure, path_stem: str | os.PathLike, *, dpi: int = 200,
                formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """Write ``fig`` as ``<path_stem>.png`` and ``.pdf`` (atomically each).

    Parameters
    ----------
    fig
        The figure.
    path_stem
        Output path without suffix; parent folders are created.
    dpi
        Raster resolution of the PNG (≥ 150 for print).

    Returns
    -------
    list of Path
        The written files, in ``formats`` order.
    """
    if dpi < 150:
        raise ContestedError(f"save_figure: dpi must be ≥ 150 for legible figures (got {dpi})")
    stem = Path(path_stem)
    written = []
    for fmt in formats:
        target = stem.with_name(f"{stem.name}.{fmt}")
        with atomic_path(target) as tmp:
            # The temporary name ends in .tmp, so the format must be explicit.
            fig.savefig(tmp, format=fmt, dpi=dpi)
        written.append(target)
    return written
