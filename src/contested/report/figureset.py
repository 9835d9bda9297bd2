"""Which figures a report holds, drawn from an :class:`~contested.report.analysis.Analysis`.

Across-run figures (forest plot, rank sweep, un-learning against learning) appear when the runs
allow them; per-run figures (hero, JSD to the annotators by bin when the runs carry logits,
trajectories, entropy vs AULC, data map) are drawn for one run per condition (its lowest
seed), so a 75-run sweep gives a readable page rather than 300 figures.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from contested.report.analysis import Analysis
from contested.report.condition_figures import forest_figure, rank_figure
from contested.report.conditions import CONDITION_COLUMNS, condition_labels, present_columns
from contested.report.figures import (
    data_map_figure,
    entropy_histogram_figure,
    entropy_metric_figure,
    hero_figure,
    save_figure,
    trajectories_figure,
)
from contested.report.human_figures import jsd_by_bin_figure, learning_curves_figure
from contested.report.mitigation_views import pareto_figure


@dataclasses.dataclass(frozen=True)
class FigureEntry:
    """A saved figure: where it is and what the report says about it."""

    name: str
    title: str
    caption: str
    png: Path
    pdf: Path
    group: str  # "overview" or the condition label of a per-run block
    embed_png: bytes = dataclasses.field(repr=False, default=b"")  # the page's copy (EMBED_DPI)


def representative_runs(runs_table: pd.DataFrame, *, max_conditions: int = 12) -> pd.DataFrame:
    """One run per condition (lowest seed), in the runs table's order, at most ``max_conditions``."""
    keys = present_columns(runs_table, CONDITION_COLUMNS)
    first = runs_table.sort_values("seed", kind="stable").groupby(keys, dropna=False, sort=False).head(1)
    return runs_table[runs_table["run_id"].isin(first["run_id"])].head(max_conditions)


#: Resolution of the PNGs embedded in the HTML page: sharp at the page's width, a third of the
#: bytes of the 200-dpi files (trajectory plots of 300 translucent lines compress poorly).
EMBED_DPI = 150


def _entry(fig: Figure, out: Path, name: str, title: str, caption: str, group: str) -> FigureEntry:
    # Datasets may be file paths ("data/my.csv"): keep file names flat and portable.
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")
    png, pdf = save_figure(fig, out / name)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=EMBED_DPI)
    return FigureEntry(name=name, title=title, caption=caption, png=png, pdf=pdf, group=group,
                       embed_png=buf.getvalue())


def make_figures(analysis: Analysis, out_dir: str | os.PathLike, *, max_conditions: int = 12) -> list[FigureEntry]:
    """Draw and save (PNG + PDF) every figure of the report under ``out_dir``.

    Parameters
    ----------
    analysis
        The analysed runs.
    out_dir
        Folder of the figure files (``<report>/figures``).
    max_conditions
        Per-run figure blocks are drawn for at most this many conditions.

    Returns
    -------
    list of FigureEntry
        In report order: overview figures first, then one block per condition.
    """
    out = Path(out_dir)
    metric = analysis.metric
    entries: list[FigureEntry] = []
    head = analysis.headline()
    stats = analysis.run_stats
    for dataset, run_id in analysis.runs_table.groupby("dataset", sort=True)["run_id"].first().items():
        items = next(r.items for r in analysis.runs if r.run_id == run_id)
        tracked = items[items["split"] == "tracked"] if "split" in items.columns else items
        entries.append(_entry(
            entropy_histogram_figure(tracked, title=f"Annotation entropy of the tracked items ({dataset})"),
            out, f"entropy_histogram_{dataset}", f"Annotation entropy: {dataset}",
            "Histogram of annotation entropy (nats) of the tracked items with the study's bin edges "
            "(0.4 and 0.7 nats, scaled by ln K / ln 3) and the maximum ln K.", "overview"))
    clean = stats[stats["noise_rate"].fillna(0) == 0] if "noise_rate" in stats.columns else stats
    if clean["run_id"].nunique() > 1:  # one run's ρ is in its own figures already
        pooled = analysis.conditions
        pooled = pooled[pooled["noise_rate"].fillna(0) == 0] if "noise_rate" in pooled.columns else pooled
        entries.append(_entry(
            forest_figure(clean, pooled=pooled.assign(metric=metric, measurement="snapshot"), metric=metric),
            out, "forest_rho", "ρ across conditions",
            "Spearman ρ(H, AULC) per run with its percentile-bootstrap 95% CI (coloured by seed) and the "
            "seed-pooled ρ (Fisher z, black diamond) per condition.", "overview"))
    lora = clean[(clean["method"] == "lora") & clean["rank"].notna()]
    if lora["rank"].nunique() > 1:
        entries.append(_entry(
            rank_figure(clean, metric=metric), out, "rank_sweep", "ρ vs LoRA rank",
            "ρ(H, AULC) of each LoRA run (points) and the seed mean (line) against the rank; dotted lines "
            "mark full fine-tuning of the same model. Spearman(rank, ρ) in the legend.", "overview"))
    curves = analysis.learning_curves
    if "noise_rate" in curves.columns:  # noise injection answers another question (its own table)
        curves = curves[curves["noise_rate"].fillna(0) == 0]
    if not curves.empty:
        entries.append(_entry(
            learning_curves_figure(curves), out, "learning_unlearning",
            "Un-learning against learning",
            "Each run's mean Δℓ of the contested tracked items (loss at a checkpoint − loss at step 0, nats) "
            "against how much it had learnt by then (mean loss drop of the clean tracked items since step 0, "
            "nats), one marker per checkpoint, coloured by method; dashed: no change. Runs that learnt the "
            "same amount are compared at the same x. Right (with logits): the share of contested items whose "
            "JSD to the annotator distribution rose since step 0. Noise-injection runs are left out.", "overview"))
    if analysis.mitigation.get("val_jsd", pd.Series(dtype=float)).notna().any():
        entries.append(_entry(
            pareto_figure(analysis.mitigation), out, "mitigation_pareto", "Mitigations: accuracy vs fit",
            "Held-out accuracy against validation JSD to the annotators (final checkpoint), one point per "
            "condition (colour: mitigation; marker: method and lr, open = full FT) with 95% CIs over seeds and "
            "items; thin lines join each mitigation to its majority-label control. Up and left is better.",
            "overview"))
    shown = representative_runs(analysis.runs_table, max_conditions=max_conditions)
    # Named by what the analysed runs differ in (the lr only where they differ in it).
    labels = dict(zip(analysis.runs_table["run_id"], condition_labels(analysis.runs_table), strict=True))
    for run in shown.itertuples(index=False):
        row = run._asdict()
        label = f"{labels[row['run_id']]} · seed {row['seed']}"
        loaded = next(r for r in analysis.runs if r.run_id == row["run_id"])
        mine = head[head["run_id"] == row["run_id"]]
        st = stats[(stats["run_id"] == row["run_id"]) & (stats["metric"] == metric)
                   & (stats["measurement"] == "snapshot")].iloc[0]
        stem = f"run_{row['run_id']}"
        entries += [
            _entry(hero_figure(loaded.dynamics, loaded.items, title=f"Mean loss by entropy bin\n{label}"),
                   out, f"{stem}_hero", "Loss by entropy bin",
                   "Mean per-example cross-entropy (nats, eval-mode snapshots of the tracked items) per bin "
                   "with a 95% CI (mean ± 1.96·SEM); dashed: ln 2.", label),
            *([_entry(jsd_by_bin_figure(loaded.dynamics, loaded.items, title=f"JSD to the annotators by bin\n{label}"),
                      out, f"{stem}_jsd", "Fit to the annotators by entropy bin",
                      "Mean Jensen–Shannon distance (natural log) between the model's predicted distribution and "
                      "the annotators' label distribution per bin over training (tracked items, eval-mode "
                      "snapshots), with a 95% CI (mean ± 1.96·SEM); lower is closer to the humans.", label)]
              if "logits" in loaded.dynamics.columns else []),
            _entry(trajectories_figure(loaded.dynamics, loaded.items, title=f"Individual trajectories\n{label}"),
                   out, f"{stem}_trajectories", "Individual trajectories",
                   "Loss trajectories of up to 300 tracked items (seeded sample), coloured by annotation "
                   "entropy; black ticks on the colour bar mark the bin edges.", label),
            _entry(entropy_metric_figure(mine, metric=metric, rho=float(st["rho"]), title=label,
                                         ci=(float(st["ci_low"]), float(st["ci_high"]))),
                   out, f"{stem}_entropy_{metric}", "Entropy vs AULC",
                   "Per-item AULC (mean of checkpoint losses, nats) against annotation entropy; black: "
                   "means within entropy deciles. ρ and its bootstrap CI in the title.", label),
            _entry(data_map_figure(mine, title=f"Data map\n{label}"), out, f"{stem}_data_map", "Data map",
                   "Dataset Cartography: confidence (mean p(label)) vs variability (its std over "
                   "checkpoints), coloured by annotation entropy.", label),
        ]
    return entries
