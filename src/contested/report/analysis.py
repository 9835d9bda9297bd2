"""From finished run directories to every table of the study (what ``contested analyze`` does).

This module only orchestrates: per-item metrics come from :mod:`contested.dynamics`, every
statistic from :mod:`contested.stats`, the renderings from :mod:`contested.report.tables`.
The study's headline numbers use eval-mode snapshot losses of the tracked (trained-on) items;
in-flight rows and validation items are kept in the per-item table for other analyses.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from contested.dynamics import item_metrics
from contested.errors import ContestedError
from contested.io import write_table
from contested.report.conditions import CONDITION_COLUMNS, RUN_CONDITION_COLUMNS, sort_conditions
from contested.report.human import human_results, merge_fit_items
from contested.report.human_tables import annotator_fit_table, decomposition_table, matched_table
from contested.report.mitigation import mitigation_effects, mitigation_summary
from contested.report.mitigation_views import mitigation_effects_table, mitigation_table
from contested.report.render import ReportTable
from contested.report.runs import Run, runs_table
from contested.report.tables import (
    key_table,
    noise_table,
    paired_table,
    rank_table,
    rho_table,
    unlearning_table,
)
from contested.stats import (
    bin_means,
    correct_across_conditions,
    hierarchical_bootstrap,
    noise_injection_test,
    paired_rho_difference,
    rho_by_label,
    run_statistics,
    seed_aggregate,
    seed_stability,
)

#: Most resamples of the mitigation tables' two-level bootstraps (one pass per quantity × condition).
MITIGATION_MAX_BOOT = 2000
#: Run columns copied onto every per-item row (so one file answers "which run was this?").
RUN_COLUMNS = RUN_CONDITION_COLUMNS


@dataclasses.dataclass(frozen=True)
class Analysis:
    """Everything ``contested analyze`` computes (see ``docs/report.md`` for the columns).

    Attributes
    ----------
    runs
        The loaded runs.
    runs_table
        One row per run: condition, accuracy, paths.
    item_metrics
        One row per run × item × measurement kind (tracked and validation items).
    run_stats
        Per-run statistics (one row per run × measurement × metric) + condition columns.
    conditions
        Seed aggregate per condition (snapshot, tracked) with Holm / BH adjusted pooled p,
        the hierarchical-bootstrap CI and cross-seed stability.
    by_label
        ρ(entropy, metric) within each training label, per run × measurement (tracked items).
    bin_means
        Mean metric and Δℓ per run × measurement × entropy bin with t-based 95% CIs (nats).
    paired
        LoRA − full-FT difference in ρ on the same items, per model × dataset × LoRA rank.
    noise_tests
        Noise-injection tests, one row per condition × noise rate > 0.
    human_fit
        ChaosNLI's scores (mean JSD, KL, accuracy vs majority / old label) per run × split ×
        checkpoint; empty without logits (:mod:`contested.report.human`).
    decomposition
        Of the items whose loss rose, the share moving toward / away from their human
        distribution, per run × bin; empty without logits.
    learning_curves
        Learning (clean-item loss drop, nats) and un-learning coordinates per run × checkpoint.
    matched
        LoRA − full FT at matched learning, one row per pair × metric.
    mitigation
        Per mitigation condition (and its control): fit to the annotators, accuracy, un-learning,
        with CIs over seeds and items (:func:`contested.report.mitigation.mitigation_summary`);
        empty without mitigation runs.
    mitigation_effects
        Each mitigation minus its control, with the verdicts behind the report's "what to change".
    tables
        The rendered study tables.
    metric
        The metric correlated with entropy in the tables (``aulc``).
    has_logits
        Whether every run carried logits (the human-fit tables need them).
    notes
        What could not be computed and why (shown in the report).
    """

    runs: list[Run]
    runs_table: pd.DataFrame
    item_metrics: pd.DataFrame
    run_stats: pd.DataFrame
    conditions: pd.DataFrame
    by_label: pd.DataFrame
    bin_means: pd.DataFrame
    paired: pd.DataFrame
    noise_tests: pd.DataFrame
    tables: list[ReportTable]
    metric: str
    human_fit: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    decomposition: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    learning_curves: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    matched: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    mitigation: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    mitigation_effects: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    has_logits: bool = False
    notes: tuple[str, ...] = ()

    def headline(self) -> pd.DataFrame:
        """Per-item metrics of the tracked items' snapshots (what every figure and ρ is about)."""
        m = self.item_metrics
        return m[(m["measurement"] == "snapshot") & (m["split"] == "tracked")]


def _item_metrics(runs: Sequence[Run], table: pd.DataFrame) -> pd.DataFrame:
    frames = []
    for run in runs:
        # Both measurement kinds when recorded: the in-flight ones are a robustness check.
        frames.append(item_metrics(run.dynamics, run.items, measurement=None))
    out = pd.concat(frames, ignore_index=True)
    cond = table[["run_id", *RUN_COLUMNS]]
    return out.merge(cond, on="run_id", how="left")


def _groups(df: pd.DataFrame, keys: Sequence[str]):
    keys = [k for k in keys if k in df.columns]
    return keys, df.groupby(keys, dropna=False, sort=True)


def _conditions(headline: pd.DataFrame, run_stats: pd.DataFrame, *, metric: str, n_boot: int,
                seed: int) -> pd.DataFrame:
    rows = run_stats[(run_stats["metric"] == metric) & (run_stats["measurement"] == "snapshot")]
    agg = seed_aggregate(rows, by=[c for c in CONDITION_COLUMNS if c in rows.columns])
    extra = []
    keys, groups = _groups(headline, CONDITION_COLUMNS)
    for key, grp in groups:
        rec = dict(zip(keys, key, strict=True))
        if grp["run_id"].nunique() > 1:
            st = seed_stability(grp, metric=metric)
            rec |= {"seed_pairwise_spearman": st["mean_pairwise_spearman"], "kendalls_w": st["kendalls_w"]}
            if n_boot > 0:  # n_boot 0 asks for no CIs
                hb = hierarchical_bootstrap(grp, metric=metric, n_boot=n_boot, seed=seed)
                rec |= {"hier_ci_low": hb["ci_low"], "hier_ci_high": hb["ci_high"]}
        extra.append(rec)
    out = agg.merge(pd.DataFrame(extra), on=keys, how="left")
    return sort_conditions(correct_across_conditions(out, p_col="pooled_p"))


def _paired(headline: pd.DataFrame, *, metric: str, n_boot: int, seed: int) -> pd.DataFrame:
    """LoRA (each rank and learning rate) vs full FT (each learning rate) of the same model and
    dataset, on the items both saw."""
    if n_boot == 0:  # the paired difference is a bootstrap comparison; 0 resamples asks for none
        return pd.DataFrame()
    clean = headline[headline["noise_rate"].fillna(0) == 0]
    if "mitigation" in clean.columns:  # the study's comparison: majority-label training, no mitigation
        clean = clean[clean["mitigation"].fillna("none") == "none"]
    rows = []
    keys, groups = _groups(clean, ("model", "dataset"))
    for key, grp in groups:
        fulls = grp[grp["method"] == "full"].groupby("lr", dropna=False)
        loras = grp[(grp["method"] == "lora") & grp["rank"].notna()]
        for (rank, lr_lora), lora in loras.groupby(["rank", "lr"], dropna=False):
            for lr_full, full in fulls:
                res = paired_rho_difference(lora, full, metric=metric, n_boot=n_boot, seed=seed)
                rows.append({**dict(zip(keys, key, strict=True)), "rank": int(rank), "lr_lora": lr_lora,
                             "lr_full": lr_full, **res})
    return pd.DataFrame(rows)


def _noise(headline: pd.DataFrame, *, metric: str) -> pd.DataFrame:
    rows = []
    keys, groups = _groups(headline, tuple(c for c in CONDITION_COLUMNS if c != "noise_rate"))
    for key, grp in groups:
        control = grp[grp["noise_rate"].fillna(0) == 0]
        for rate, noisy in grp[grp["noise_rate"] > 0].groupby("noise_rate"):
            if control.empty:
                raise ContestedError(
                    f"noise rate {rate:g} of {dict(zip(keys, key, strict=True))} has no control run "
                    "(noise rate 0, otherwise the same condition); add it to the analysed paths"
                )
            res = noise_injection_test(noisy, control, metric=metric)
            rows.append({**dict(zip(keys, key, strict=True)), "noise_rate": rate, **res})
    return pd.DataFrame(rows)


def _by_label(tracked: pd.DataFrame, *, metric: str) -> pd.DataFrame:
    """ρ within each training label: does entropy predict the metric beyond which class an item is?"""
    labelled = tracked.dropna(subset=["training_label"])
    if labelled.empty:
        return pd.DataFrame()
    return rho_by_label(labelled, metric=metric, by=("run_id", "measurement"))


def _bin_means(tracked: pd.DataFrame, *, metric: str) -> pd.DataFrame:
    """Per-bin means with 95% CIs of the metric and of Δℓ, in long form (one ``value`` per row)."""
    keys = ["run_id", "measurement", "bin"]
    parts = [bin_means(tracked, value=value, by=keys).assign(value=value)
             for value in dict.fromkeys([metric, "delta_loss"])]
    return pd.concat(parts, ignore_index=True)


def analyze(runs: Sequence[Run], *, metric: str = "aulc", n_boot: int = 10_000, seed: int = 0) -> Analysis:
    """Per-item metrics, per-run statistics, across-run statistics and the study tables.

    Parameters
    ----------
    runs
        Loaded runs (:func:`contested.report.runs.load_runs`).
    metric
        Per-item metric correlated with entropy in the tables (the study: ``aulc``, nats).
    n_boot
        Bootstrap resamples of every CI (the study: 10,000).
    seed
        Seed of the bootstrap draws.

    Returns
    -------
    Analysis
    """
    if not runs:
        raise ContestedError("no runs to analyse")
    table = runs_table(runs)
    metrics = _item_metrics(runs, table)
    tracked = metrics[metrics["split"] == "tracked"]
    stats = run_statistics(tracked, metric=list(dict.fromkeys([metric, "aulc", "aulc_trapz", "delta_loss"])),
                           n_boot=n_boot, seed=seed, conditions=table)
    stats = stats.merge(table[["run_id", "label_scheme"]], on="run_id", how="left")
    order = {run_id: i for i, run_id in enumerate(table["run_id"])}  # the runs table's reading order
    stats = stats.sort_values(["run_id", "measurement", "metric"], key=lambda c: c.map(order) if c.name == "run_id" else c)
    stats = stats.reset_index(drop=True)
    headline = tracked[tracked["measurement"] == "snapshot"]
    conditions = _conditions(headline, stats, metric=metric, n_boot=n_boot, seed=seed)
    paired = _paired(headline, metric=metric, n_boot=n_boot, seed=seed)
    noise = _noise(headline, metric=metric)
    tables = [key_table(stats, table, metric=metric), rho_table(stats, table, metric=metric),
              unlearning_table(stats[stats["measurement"] == "snapshot"])]
    lora = stats[(stats["method"] == "lora") & stats["rank"].notna()]
    if lora["rank"].nunique() > 1:
        tables.append(rank_table(stats, metric=metric))
    if not paired.empty:
        tables.append(paired_table(paired, metric=metric))
    if not noise.empty:
        tables.append(noise_table(noise, stats, metric=metric))
    human = human_results(runs, table, n_boot=n_boot, seed=seed, item_metrics=metrics)
    if not human.human_fit.empty and human.human_fit["split"].eq("validation").any():  # imported runs have none
        tables.append(annotator_fit_table(human.human_fit))
    if not human.decomposition.empty:
        tables.append(decomposition_table(human.decomposition))
    if not human.matched.empty:
        tables.append(matched_table(human.matched))
    items = merge_fit_items(metrics, human.fit_items)
    boot = min(n_boot, MITIGATION_MAX_BOOT)
    mitigation = mitigation_summary(items, table, n_boot=boot, seed=seed)
    effects = mitigation_effects(items, table, n_boot=boot, seed=seed)
    if not mitigation.empty:
        tables.append(mitigation_table(mitigation))
    if not effects.empty:
        tables.append(mitigation_effects_table(effects))
    return Analysis(runs=list(runs), runs_table=table, item_metrics=items,
                    run_stats=stats, conditions=conditions, by_label=_by_label(tracked, metric=metric),
                    bin_means=_bin_means(tracked, metric=metric), paired=paired, noise_tests=noise,
                    tables=tables, metric=metric, human_fit=human.human_fit, decomposition=human.decomposition,
                    learning_curves=human.learning_curves, matched=human.matched, mitigation=mitigation,
                    mitigation_effects=effects, has_logits=human.has_logits,
                    notes=human.notes)


def write_analysis(analysis: Analysis, out_dir: str | os.PathLike) -> list[Path]:
    """Write the analysis tables under ``out_dir`` (atomically, CSV and Parquet; tables also as MD/TeX).

    Returns
    -------
    list of Path
        Every file written.
    """
    out = Path(out_dir)
    written: list[Path] = []
    frames = {"runs": analysis.runs_table, "item_metrics": analysis.item_metrics,
              "run_statistics": analysis.run_stats, "conditions": analysis.conditions,
              "rho_by_label": analysis.by_label, "bin_means": analysis.bin_means,
              "paired_lora_vs_full": analysis.paired, "noise_tests": analysis.noise_tests,
              "human_fit": analysis.human_fit, "unlearning_decomposition": analysis.decomposition,
              "learning_curves": analysis.learning_curves, "matched": analysis.matched,
              "mitigation": analysis.mitigation, "mitigation_effects": analysis.mitigation_effects}
    optional = ("paired_lora_vs_full", "noise_tests", "human_fit", "unlearning_decomposition", "learning_curves",
                "matched", "mitigation", "mitigation_effects")
    for name, frame in frames.items():
        if frame.empty and name in optional:
            continue  # the sweep had no such runs; an empty file would suggest it had
        for suffix in (".csv", ".parquet"):
            written.append(write_table(frame, out / f"{name}{suffix}"))
    for table in analysis.tables:
        written += table.write(out / "tables")
    return written
