"""The study's tables from the per-run statistics: Table 1 (ρ), Table 2 (Δℓ), Table 3 (rank
sweep), the noise-injection table and the per-run key table.

Every builder takes tables (``docs/ARCHITECTURE.md`` columns) and returns a
:class:`~contested.report.render.ReportTable`: numeric columns for CSV and formatted strings for
Markdown, LaTeX and HTML. Seeds are replicates: a condition's mean ± std is over its seeds (sample
std, ddof = 1; a single seed shows the mean alone).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from contested.errors import ContestedError
from contested.report.conditions import (
    CONDITION_COLUMNS,
    OPTIONAL_COLUMNS,
    RUN_CONDITION_COLUMNS,
    condition_display,
    metric_rows,
    present_columns,
    require_columns,
    sort_conditions,
    value_text,
    varies,
)
from contested.report.render import (
    MISSING,
    ReportTable,
    fmt_ci,
    fmt_int,
    fmt_mean_std,
    fmt_num,
    fmt_p,
)
from contested.report.style import metric_name
from contested.stats import seed_aggregate

__all__ = ["key_table", "noise_table", "paired_table", "rank_table", "rho_table", "unlearning_table"]


def _without_noise(rows: pd.DataFrame) -> pd.DataFrame:
    # Noise-injection runs answer a different question (Appendix D) and have their own table.
    if "noise_rate" in rows.columns:
        return rows[rows["noise_rate"].fillna(0) == 0]
    return rows


#: Run-level columns the tables take from the runs table where the per-run statistics lack them.
_RUN_VALUES = ("val_accuracy", "heldout_accuracy", "majority_rate", *RUN_CONDITION_COLUMNS)


def _with_runs(run_stats: pd.DataFrame, runs: pd.DataFrame | None,
               columns: tuple[str, ...] = _RUN_VALUES) -> pd.DataFrame:
    """Add run-level columns (accuracy, condition, …) that the per-run statistics lack (or hold
    only missing values of), by ``run_id``."""
    if runs is None:
        return run_stats.assign(**{c: np.nan for c in columns if c not in run_stats.columns})
    require_columns(runs, ("run_id",), "runs table")
    add = [c for c in columns if c in runs.columns and (c not in run_stats.columns or run_stats[c].isna().all())]
    return run_stats.drop(columns=add, errors="ignore").merge(runs[["run_id", *add]], on="run_id", how="left")


def _by_condition(rows: pd.DataFrame, values: list[str]) -> pd.DataFrame:
    """Mean and std over seeds of ``values`` per condition, plus the number of seeds."""
    keys = present_columns(rows, CONDITION_COLUMNS)
    grouped = rows.groupby(keys, dropna=False, sort=True)
    out = grouped[values].agg(["mean", "std"])
    out.columns = [f"{v}_{s}" for v, s in out.columns]
    out.insert(0, "n_seeds", grouped.size())
    return sort_conditions(out.reset_index())


def rho_table(run_stats: pd.DataFrame, runs: pd.DataFrame | None = None, *, metric: str = "aulc") -> ReportTable:
    """Table 1: ρ(H, metric) mean ± std over seeds per condition, with accuracy.

    A condition is every column of :data:`~contested.report.conditions.CONDITION_COLUMNS` (runs that
    differ in learning rate or mitigation are two conditions, not two seeds of one); the learning
    rate and mitigation are shown where the conditions differ in them.

    Parameters
    ----------
    run_stats
        Per-run statistics (``rho``, ``partial_rho`` and the condition columns).
    runs
        Runs table (``run_id, val_accuracy, heldout_accuracy, majority_rate``) from
        :func:`contested.report.runs.runs_table`; accuracy columns are blank without it.
    metric
        Which metric's ρ (``aulc`` is the study's).

    Returns
    -------
    ReportTable
        One row per condition; noise-injection runs (``noise_rate`` > 0) are left out.
    """
    require_columns(run_stats, ("run_id", "rho", "n"), "per-run statistics")
    rows = _without_noise(_with_runs(metric_rows(run_stats, metric, "Table 1"), runs))
    keys = present_columns(rows, CONDITION_COLUMNS)
    # ρ mean ± std and the Fisher-z pooled ρ come from the statistics layer; accuracy is added here.
    pooled = seed_aggregate(rows, by=keys)
    acc = _by_condition(rows, ["val_accuracy", "heldout_accuracy", "majority_rate"]).drop(columns="n_seeds")
    for key in keys:  # seed_aggregate's rows turn an all-missing Int64 rank (no LoRA run) into object
        pooled[key] = pooled[key].astype(acc[key].dtype)
    data = sort_conditions(pooled.merge(acc, on=keys, how="left"))
    display = pd.DataFrame({
        **condition_display(data),
        "Seeds": data["n_seeds"].astype(str),
        f"ρ(H, {metric_name(metric)})": [fmt_mean_std(m, s) for m, s in zip(data["rho_mean"], data["rho_std"], strict=True)],
        "pooled ρ [95% CI]": fmt_ci(data["rho_pooled"], data["pooled_ci_low"], data["pooled_ci_high"]),
        "partial ρ": [fmt_mean_std(m, s) for m, s in zip(data["partial_rho_mean"], data["partial_rho_std"], strict=True)],
        "val. acc.": [fmt_mean_std(m, s) for m, s in zip(data["val_accuracy_mean"], data["val_accuracy_std"], strict=True)],
        "majority rate": data["majority_rate_mean"].map(fmt_num),
        "held-out acc.": data["heldout_accuracy_mean"].map(fmt_num),
    })
    return ReportTable(
        name="table1_rho", title="Table 1: entropy–AULC correlation by condition",
        caption=(f"Spearman ρ between annotation entropy H (nats) and per-item {metric_name(metric)} over the tracked "
                 "items, mean ± std over seeds, and pooled over seeds by Fisher z with its 95% CI; partial ρ controls premise, hypothesis and total length. "
                 "val. acc. is the accuracy on the held-out multi-annotator items against their training "
                 "label at the last epoch (majority rate: the share of the most common label there); "
                 "held-out acc. is on bulk items never trained on."),
        data=data, display=display,
    )


def unlearning_table(run_stats: pd.DataFrame) -> ReportTable:
    """Table 2: mean Δℓ = final − initial loss (nats) of contested vs clean items, per condition.

    Parameters
    ----------
    run_stats
        Per-run statistics with ``mean_delta_clean``, ``mean_delta_contested`` and the
        ``share_unlearned_*`` columns (one row per run; the metric does not matter here).

    Returns
    -------
    ReportTable
        One row per condition: Δℓ of clean, ambiguous, contested (mean ± std over seeds), the
        contested − clean gap and the share of items with Δℓ > 0.
    """
    cols = ("mean_delta_clean", "mean_delta_contested", "share_unlearned_clean", "share_unlearned_contested")
    require_columns(run_stats, ("run_id", *cols), "per-run statistics")
    rows = _without_noise(run_stats.drop_duplicates("run_id"))
    rows = rows.assign(delta_gap=rows["mean_delta_contested"] - rows["mean_delta_clean"])
    values = ["mean_delta_clean", "mean_delta_ambiguous", "mean_delta_contested", "delta_gap",
              "share_unlearned_clean", "share_unlearned_contested"]
    rows = rows.assign(**{v: np.nan for v in values if v not in rows.columns})
    data = _by_condition(rows, values)

    def pair(v: str, signed: bool = True) -> list[str]:
        return [fmt_mean_std(m, s, signed=signed) for m, s in zip(data[f"{v}_mean"], data[f"{v}_std"], strict=True)]

    display = pd.DataFrame({
        **condition_display(data),
        "Seeds": data["n_seeds"].astype(str),
        "Δℓ clean": pair("mean_delta_clean"),
        "Δℓ ambiguous": pair("mean_delta_ambiguous"),
        "Δℓ contested": pair("mean_delta_contested"),
        "contested − clean": pair("delta_gap"),
        "share Δℓ > 0 clean": data["share_unlearned_clean_mean"].map(lambda v: fmt_num(v, 2)),
        "share Δℓ > 0 contested": data["share_unlearned_contested_mean"].map(lambda v: fmt_num(v, 2)),
    })
    return ReportTable(
        name="table2_unlearning", title="Table 2: un-learning of contested vs clean items",
        caption=("Δℓ = loss at the final checkpoint − loss at step 0 (nats, eval-mode snapshots), mean over "
                 "the items of a bin, then mean ± std over seeds; a positive Δℓ means the item's loss "
                 "rose over training (un-learning). Shares are of items with Δℓ > 0, mean over seeds."),
        data=data, display=display,
    )


def rank_table(run_stats: pd.DataFrame, *, metric: str = "aulc") -> ReportTable:
    """Table 3: the rank sweep: ρ per LoRA rank and Spearman(rank, ρ), per model × dataset (× learning
    rate and mitigation where the LoRA runs differ in them).

    Spearman(rank, ρ) is computed over every LoRA run of the model (all seeds), so with one seed
    per rank it is the study's statistic and with several it uses the replicates too.

    Parameters
    ----------
    run_stats
        Per-run statistics with ``method``, ``rank`` and ``rho``.
    metric
        Which metric's ρ.

    Returns
    -------
    ReportTable
        Numeric columns ``rho_r<rank>`` (seed mean), ``spearman_rank_rho``, ``spearman_p``.
    """
    require_columns(run_stats, ("method", "rank", "rho"), "per-run statistics")
    rows = _without_noise(metric_rows(run_stats, metric, "Table 3"))
    lora = rows[(rows["method"] == "lora") & rows["rank"].notna()].copy()
    if lora.empty:
        raise ContestedError("Table 3: no LoRA runs with a rank among the runs")
    lora["rank"] = lora["rank"].astype(int)
    # One row per condition but the rank: runs at another learning rate or mitigation are another row.
    keys = present_columns(lora, tuple(c for c in CONDITION_COLUMNS if c not in ("method", "rank")))
    records, shown = [], []
    for key, sub in lora.groupby(keys, sort=True, dropna=False) if keys else [((), lora)]:
        key = key if isinstance(key, tuple) else (key,)
        means = sub.groupby("rank")["rho"].agg(["mean", "std"])
        test = stats.spearmanr(sub["rank"], sub["rho"]) if sub["rank"].nunique() > 1 else None
        rec = dict(zip(keys, key, strict=True))
        disp = {}
        for r, (m, s) in means.iterrows():
            rec[f"rho_r{r}"] = m
            disp[f"r={r}"] = fmt_mean_std(m, s)
        rec["spearman_rank_rho"] = test.statistic if test is not None else np.nan
        rec["spearman_p"] = test.pvalue if test is not None else np.nan
        rec["n_runs"] = len(sub)
        records.append(rec)
        shown.append(disp)
    data = pd.DataFrame(records)
    ranks = pd.DataFrame(shown).fillna(MISSING)
    ranks = ranks[sorted(ranks.columns, key=lambda c: int(c[2:]))]
    display = pd.concat([pd.DataFrame(condition_display(data)), ranks], axis=1)
    display["Spearman(rank, ρ)"] = data["spearman_rank_rho"].map(lambda v: fmt_num(v, 2, signed=True))
    display["p"] = data["spearman_p"].map(fmt_p)
    data = data[[*keys, *sorted((c for c in data.columns if c.startswith("rho_r")), key=lambda c: int(c[5:])),
                 "spearman_rank_rho", "spearman_p", "n_runs"]]
    return ReportTable(
        name="table3_rank_sweep", title="Table 3: LoRA rank sweep",
        caption=(f"ρ(H, {metric_name(metric)}) per LoRA rank (α = 2r), mean ± std over seeds where there are several; "
                 "Spearman(rank, ρ) over all LoRA runs of the model."),
        data=data, display=display,
    )


#: Columns of the noise-injection test table (one row per noise rate > 0 vs its control).
NOISE_COLUMNS = ("noise_rate", "n_pairs", "mean_noisy", "mean_control", "p_value", "cohens_dz")


def noise_table(noise_tests: pd.DataFrame, run_stats: pd.DataFrame | None = None, *,
                metric: str = "aulc") -> ReportTable:
    """The noise-injection table: clean-item AULC of noisy runs vs the control, and ρ.

    Parameters
    ----------
    noise_tests
        One row per condition × noise rate with :data:`NOISE_COLUMNS` (and the condition columns,
        e.g. ``model, method, rank, lr``, where it has them): the rate (share of clean tracked items
        flipped) and the result of :func:`contested.stats.noise_injection_test` for it (pairs of
        seed × item, mean clean-item metric of the noisy runs and of the control in nats, the
        one-sided paired Wilcoxon p (noisy > control) and the paired Cohen's d_z).
    run_stats
        Per-run statistics with a ``noise_rate`` column; adds ρ mean ± std per condition and rate
        (the control row, rate 0, included).

    Returns
    -------
    ReportTable
        One row per condition × noise rate, each condition's control first.
    """
    require_columns(noise_tests, NOISE_COLUMNS, "noise tests")
    # One block of rows per condition (e.g. LoRA and full FT side by side), each with its control.
    keys = present_columns(noise_tests, tuple(c for c in CONDITION_COLUMNS if c != "noise_rate"))
    data = noise_tests[[*keys, *NOISE_COLUMNS]].copy()
    if run_stats is not None and "noise_rate" in run_stats.columns:
        rows = metric_rows(run_stats, metric, "noise table")
        rows = rows.assign(noise_rate=rows["noise_rate"].fillna(0.0))
        keys = [k for k in keys if k in rows.columns]
        # Controls are the rate-0 runs of the conditions (but the rate) that have noisy runs, not every run.
        noisy = rows.loc[rows["noise_rate"] > 0, keys].drop_duplicates()
        if keys and not noisy.empty:
            rows = rows.merge(noisy, on=keys, how="inner")
        rho = (rows.groupby([*keys, "noise_rate"], dropna=False)["rho"]
               .agg(rho_mean="mean", rho_std="std", n_seeds="size").reset_index())
        data = rho.merge(data, on=[*keys, "noise_rate"], how="outer")
    else:
        data = data.assign(rho_mean=np.nan, rho_std=np.nan, n_seeds=np.nan)
    data = sort_conditions(data)  # per condition (LoRA by rank, then full FT), then by rate
    conditions = {name: col for name, col in condition_display(data).items() if name != OPTIONAL_COLUMNS["noise_rate"]}
    display = pd.DataFrame({
        **conditions,
        "noise rate": data["noise_rate"].map(lambda v: f"{float(v):.0%}"),
        "seeds": data["n_seeds"].map(lambda v: MISSING if pd.isna(v) else str(int(v))),
        "pairs": data["n_pairs"].map(fmt_int),
        f"clean {metric_name(metric)} (noisy)": data["mean_noisy"].map(fmt_num),
        f"clean {metric_name(metric)} (control)": data["mean_control"].map(fmt_num),
        "Wilcoxon p (one-sided)": data["p_value"].map(fmt_p),
        "Cohen's d (paired)": data["cohens_dz"].map(lambda v: fmt_num(v, 2, signed=True)),
        f"ρ(H, {metric_name(metric)})": [fmt_mean_std(m, s) for m, s in zip(data["rho_mean"], data["rho_std"], strict=True)],
    })
    return ReportTable(
        name="table_noise", title="Noise injection",
        caption=("A share of the clean (H < 0.4 nats) tracked items is flipped to a random other class for "
                 "training and still tracked against the original label. Clean-item AULC in nats, mean "
                 "over items and seeds; the test pairs each item × seed with the control run (rate 0)."),
        data=data, display=display,
    )


def key_table(run_stats: pd.DataFrame, runs: pd.DataFrame | None = None, *, metric: str = "aulc") -> ReportTable:
    """The per-run key numbers: ρ with its CI and p, partial ρ, Δℓ by bin, accuracy.

    Returns
    -------
    ReportTable
        One row per run (``run_stats`` order), what ``contested analyze`` prints.
    """
    require_columns(run_stats, ("run_id", "rho"), "per-run statistics")
    rows = _with_runs(metric_rows(run_stats, metric, "key table"), runs)
    rows = rows.assign(**{c: np.nan for c in ("ci_low", "ci_high", "p_value", "partial_rho",
                                              "mean_delta_clean", "mean_delta_contested", "seed", "n")
                          if c not in rows.columns})
    keep = ["run_id", *present_columns(rows, RUN_CONDITION_COLUMNS), "n", "rho",
            "ci_low", "ci_high", "p_value", "partial_rho", "mean_delta_clean", "mean_delta_contested",
            "val_accuracy", "majority_rate", "heldout_accuracy"]
    data = rows[keep].reset_index(drop=True)
    display = pd.DataFrame({
        "run": data["run_id"].astype(str),
        **condition_display(data, seed=True),
        "n": data["n"].map(fmt_int),
        "ρ [95% CI]": fmt_ci(data["rho"], data["ci_low"], data["ci_high"]),
        "p": data["p_value"].map(fmt_p),
        "partial ρ": data["partial_rho"].map(fmt_num),
        "Δℓ clean": data["mean_delta_clean"].map(lambda v: fmt_num(v, signed=True)),
        "Δℓ contested": data["mean_delta_contested"].map(lambda v: fmt_num(v, signed=True)),
        "val. acc.": data["val_accuracy"].map(fmt_num),
        "majority rate": data["majority_rate"].map(fmt_num),
        "held-out acc.": data["heldout_accuracy"].map(fmt_num),
    })
    return ReportTable(
        name="key_results", title="Per-run results",
        caption=(f"Spearman ρ(H, {metric_name(metric)}) with its percentile-bootstrap 95% CI and p-value, the partial ρ "
                 "(lengths controlled), mean Δℓ (nats) of clean and contested items, and accuracy: val. acc. on "
                 "the held-out multi-annotator items beside their majority-class rate, held-out acc. on bulk "
                 "items never trained on."),
        data=data, display=display,
    )


#: Columns of the paired LoRA − full FT comparison (:func:`contested.stats.paired_rho_difference`);
#: ``lr_lora`` and ``lr_full`` (each arm's learning rate) are optional.
PAIRED_COLUMNS = ("model", "dataset", "rank", "n_items", "n_runs_a", "n_runs_b", "rho_a", "rho_b", "diff",
                  "ci_low", "ci_high", "p_value")
PAIRED_LR_COLUMNS = ("lr_lora", "lr_full")


def paired_table(paired: pd.DataFrame, *, metric: str = "aulc") -> ReportTable:
    """LoRA − full fine-tuning difference in ρ(H, metric) on the same items (the study's LoRA-specific claim).

    Parameters
    ----------
    paired
        One row per model × dataset × LoRA rank (× the two arms' learning rates ``lr_lora``,
        ``lr_full`` where given) with :data:`PAIRED_COLUMNS`: ρ of the LoRA runs (``rho_a``) and of
        the full-FT runs (``rho_b``) on the items both tracked, their difference with its
        item-bootstrap 95% CI and two-sided bootstrap p.

    Returns
    -------
    ReportTable
        One row per comparison, in condition order; the learning rates are shown where the rows
        differ in them.
    """
    require_columns(paired, PAIRED_COLUMNS, "paired LoRA − full comparison")
    lrs = [c for c in PAIRED_LR_COLUMNS if c in paired.columns]
    data = sort_conditions(paired[[*PAIRED_COLUMNS[:3], *lrs, *PAIRED_COLUMNS[3:]]].assign(method="lora"),
                           then=tuple(lrs))
    shown_lr = len(lrs) == 2 and (varies(data["lr_lora"]) or varies(data["lr_full"]))
    display = pd.DataFrame({
        **condition_display(data),
        **({"lr LoRA / full": [f"{value_text('lr', a)} / {value_text('lr', b)}"
                               for a, b in zip(data["lr_lora"], data["lr_full"], strict=True)]}
           if shown_lr else {}),
        "items": data["n_items"].map(fmt_int),
        "seeds (LoRA / full)": [f"{int(a)} / {int(b)}" for a, b in zip(data["n_runs_a"], data["n_runs_b"], strict=True)],
        "ρ LoRA": data["rho_a"].map(fmt_num),
        "ρ full FT": data["rho_b"].map(fmt_num),
        "Δρ (LoRA − full) [95% CI]": fmt_ci(data["diff"], data["ci_low"], data["ci_high"], signed=True),
        "p": data["p_value"].map(fmt_p),
    })
    return ReportTable(
        name="table_paired", title="LoRA vs full fine-tuning on the same items",
        caption=(f"ρ(H, {metric_name(metric)}) of each LoRA rank and of full fine-tuning of the same model on the "
                 "same tracked items (mean over seeds), and their difference with an "
                 "item-bootstrap 95% CI and two-sided p. The study's claim is Δρ > 0: entropy predicts "
                 "un-learning more under LoRA than under full fine-tuning."),
        data=data, display=display,
    )
