"""Tables of the fit to the annotators, the un-learning decomposition and LoRA vs full FT at matched learning.

Each builder takes the frames of :mod:`contested.report.human` (columns in ``docs/report.md``) and
returns a :class:`~contested.report.render.ReportTable` (numbers for CSV; formatted strings for
Markdown, LaTeX and HTML), like :mod:`contested.report.tables`.
"""

from __future__ import annotations

import pandas as pd

from contested.errors import ContestedError
from contested.report.conditions import (
    condition_display,
    require_columns,
    sort_conditions,
    value_text,
)
from contested.report.render import MISSING, ReportTable, fmt_ci, fmt_int, fmt_num, fmt_p

__all__ = ["CHAOSNLI_BASELINES", "annotator_fit_table", "decomposition_table", "matched_table"]

#: ChaosNLI's published scores (Nie, Zhou & Bansal, "What Can We Learn from Collective Human Opinions
#: on Natural Language Inference Data?", EMNLP 2020; evaluation code ``easonnie/ChaosNLI``):
#: models fine-tuned on all of SNLI + MNLI, scored on all 1,514 ChaosNLI-SNLI (1,599 ChaosNLI-MNLI)
#: items. JSD is the Jensen–Shannon distance (natural log), KL = KL(human ‖ model) in nats;
#: accuracy vs the new 100-vote majority and vs the old (original) label.
CHAOSNLI_BASELINES = pd.DataFrame([
    ("chaosnli-snli", "bert-base", 1514, 0.2345, 0.4810, 0.7292, 0.7008),
    ("chaosnli-snli", "roberta-base", 1514, 0.2294, 0.5045, 0.7536, 0.7272),
    ("chaosnli-snli", "roberta-large", 1514, 0.2210, 0.4937, 0.7867, 0.7490),
    ("chaosnli-snli", "bart-large", 1514, 0.2203, 0.4714, 0.7827, 0.7424),
    ("chaosnli-snli", "distilbert", 1514, 0.2439, 0.4682, 0.7021, 0.6711),
    ("chaosnli-mnli", "roberta-large", 1599, 0.3112, 0.8701, 0.6354, float("nan")),
    ("chaosnli-mnli", "bert-base", 1599, 0.3055, 0.7204, 0.5591, float("nan")),
], columns=["dataset", "model", "n", "jsd", "kl", "accuracy", "accuracy_old"])
BASELINE_SOURCE = "Nie, Zhou & Bansal 2020"

#: Display names of the matched-learning metrics (:data:`contested.dynamics.matched.UNLEARNING_METRICS`).
MATCHED_METRIC_NAMES = {
    "delta_contested": "mean Δℓ contested (nats)",
    "share_above": "share contested with Δℓ > 0",
    "share_away": "share contested moving away (JSD rose)",
    "rho_loss": "ρ(H, loss)",
}


def annotator_fit_table(human_fit: pd.DataFrame, *, split: str = "validation",
                        baselines: pd.DataFrame | None = None) -> ReportTable:
    """Fit to the annotators at each run's final checkpoint, beside ChaosNLI's published models.

    Parameters
    ----------
    human_fit
        Scores per run × split × checkpoint (``run_id, split, step, n, jsd, kl, accuracy,
        accuracy_old, n_old`` + run columns) from :func:`contested.report.human.human_results`.
    split
        Which items: ``validation`` (never trained on, the default) or ``tracked``.
    baselines
        Published rows (``dataset, model, n, jsd, kl, accuracy, accuracy_old``); default
        :data:`CHAOSNLI_BASELINES` of the runs' ChaosNLI datasets (ChaosNLI-SNLI when none is a
        ChaosNLI set; none for ChaosNLI-αNLI, whose published scores are not tabulated here).

    Returns
    -------
    ReportTable
        One row per run (its last checkpoint), then the published rows (``source`` column).
    """
    require_columns(human_fit, ("run_id", "split", "step", "n", "jsd", "kl", "accuracy", "accuracy_old"), "human fit")
    rows = human_fit[human_fit["split"] == split]
    if rows.empty:
        raise ContestedError(f"fit to the annotators: no scores of {split} items")
    last = rows.loc[rows.groupby("run_id")["step"].transform("max") == rows["step"]]
    runs = sort_conditions(last.assign(source="this study"), then=("seed", "lr", "run_id"))
    if baselines is None:
        present = set(runs["dataset"].astype(str)) if "dataset" in runs.columns else set()
        wanted = present & set(CHAOSNLI_BASELINES["dataset"])
        if not wanted and not any(d.startswith("chaosnli-") for d in present):
            wanted = {"chaosnli-snli"}  # the reference point for a user's own NLI-style data
        # A ChaosNLI set without published rows here (αNLI) gets none: another task's scores mislead.
        baselines = CHAOSNLI_BASELINES[CHAOSNLI_BASELINES["dataset"].isin(wanted)]
    published = baselines.assign(source=BASELINE_SOURCE, method="full")
    keep = ["source", *[c for c in ("run_id", "model", "method", "rank", "dataset", "seed", "noise_rate",
                                    "mitigation", "lr", "step") if c in runs.columns],
            "n", "jsd", "kl", "accuracy", "accuracy_old", *(["n_old"] if "n_old" in runs.columns else [])]
    data = pd.concat([runs[keep], published[[c for c in keep if c in published.columns]]], ignore_index=True)
    shown = condition_display(runs, seed=True)
    pub = len(published)
    display = pd.DataFrame({
        "Model": shown["Model"] + [f"{m} ({BASELINE_SOURCE})" for m in published["model"]],
        "Method": shown["Method"] + ["full FT on SNLI + MNLI"] * pub,
        "Dataset": shown["Dataset"] + [f"{d} (all items)" for d in published["dataset"]],
        "seed": shown["seed"] + [MISSING] * pub,
        **{k: v + [MISSING] * pub for k, v in shown.items() if k not in ("Model", "Method", "Dataset", "seed")},
        "items": [fmt_int(v) for v in data["n"]],
        "JSD": data["jsd"].map(lambda v: fmt_num(v, 4)).tolist(),
        "KL (nats)": data["kl"].map(lambda v: fmt_num(v, 4)).tolist(),
        "acc. (new)": data["accuracy"].map(lambda v: fmt_num(v, 4)).tolist(),
        "acc. (old)": data["accuracy_old"].map(lambda v: fmt_num(v, 4)).tolist(),
    })
    where = "validation items (never trained on)" if split == "validation" else f"{split} items"
    return ReportTable(
        name="table_annotator_fit" if split == "validation" else f"table_annotator_fit_{split}",
        title=f"Fit to the annotators ({split} items)",
        caption=(f"Each run's predicted distribution (softmax of the logits) against the annotators' label "
                 f"distribution, averaged over the {where} at the run's final checkpoint, in ChaosNLI's "
                 "convention: JSD is the Jensen-Shannon distance (square root of the divergence, natural "
                 "log; lower is closer), KL the divergence of the model from the human distribution in nats "
                 "(model probabilities floored at 1e-15), acc. (new) the accuracy against the 100-vote majority "
                 "and acc. (old) against the original label where the item has one. The published rows "
                 "(Nie, Zhou & Bansal 2020, ChaosNLI) differ in protocol: their models were fine-tuned on all "
                 "of SNLI + MNLI and scored on all 1,514 ChaosNLI-SNLI (1,599 ChaosNLI-MNLI) items, ours on a "
                 "bulk sample plus the tracked items and scored on the held-out validation items only: a "
                 "comparable population, not the same evaluation."),
        data=data, display=display,
    )


def decomposition_table(decomposition: pd.DataFrame) -> ReportTable:
    """Un-learning decomposed: of the items whose loss rose, how many moved toward / away from humans.

    Parameters
    ----------
    decomposition
        One row per run × bin (``run_id, bin, n_items, n_unlearned, n_toward, n_away,
        share_toward, share_away, mean_delta_jsd`` + run columns), from
        :func:`contested.dynamics.unlearning_decomposition`.

    Returns
    -------
    ReportTable
        One row per run × bin (clean, ambiguous, contested, all), runs in condition order.
    """
    cols = ("run_id", "bin", "n_items", "n_unlearned", "n_toward", "n_away", "share_toward", "share_away",
            "mean_delta_jsd")
    require_columns(decomposition, cols, "un-learning decomposition")
    if decomposition.empty:
        raise ContestedError("un-learning decomposition: no rows")
    order = {"clean": 0, "ambiguous": 1, "contested": 2, "all": 4}
    data = decomposition.assign(share_unlearned=decomposition["n_unlearned"] / decomposition["n_items"],
                                _bin=decomposition["bin"].map(order).fillna(3))
    data = sort_conditions(data, then=("seed", "lr", "run_id", "_bin")).drop(columns="_bin")
    shown = condition_display(data, seed=True)
    display = pd.DataFrame({
        **shown,
        "bin": data["bin"].astype(str).tolist(),
        "items": [fmt_int(v) for v in data["n_items"]],
        "share Δℓ > 0": [f"{fmt_num(s, 2)} ({fmt_int(n)})" for s, n in zip(data["share_unlearned"], data["n_unlearned"],
                                                                          strict=True)],
        "of those: toward humans": data["share_toward"].map(lambda v: fmt_num(v, 2)).tolist(),
        "away from humans": data["share_away"].map(lambda v: fmt_num(v, 2)).tolist(),
        "mean ΔJSD (Δℓ > 0)": data["mean_delta_jsd"].map(lambda v: fmt_num(v, signed=True)).tolist(),
    })
    return ReportTable(
        name="table_unlearning_decomposed", title="Un-learning decomposed",
        caption=("Tracked items per run and entropy bin: the share whose loss against the training label rose "
                 "over training (Δℓ = final − step-0 loss > 0, nats, eval-mode snapshots; the count in "
                 "brackets), and of those the share whose Jensen-Shannon distance to their annotator "
                 "distribution fell (toward humans: the model's distribution became more like the annotators') "
                 "or rose (away). mean ΔJSD: final − initial distance over the items with Δℓ > 0. Row 'all': "
                 "every tracked item."),
        data=data.reset_index(drop=True), display=display,
    )


def matched_table(matched: pd.DataFrame) -> ReportTable:
    """LoRA − full fine-tuning at matched learning, one row per pair × metric.

    Parameters
    ----------
    matched
        From :func:`contested.report.human.human_results` (``run_id_lora, run_id_full, model,
        dataset, rank, seed, lr_lora, lr_full, metric, common_learning, diff_at_max, ci_low_at_max,
        ci_high_at_max, diff_mean, ci_low_mean, ci_high_mean, p_mean``).

    Returns
    -------
    ReportTable
        Pairs in condition order, metrics in :data:`MATCHED_METRIC_NAMES` order.
    """
    cols = ("run_id_lora", "run_id_full", "model", "dataset", "rank", "seed", "lr_lora", "lr_full", "metric",
            "common_learning", "diff_at_max", "ci_low_at_max", "ci_high_at_max", "diff_mean", "ci_low_mean",
            "ci_high_mean", "p_mean")
    require_columns(matched, cols, "matched comparison")
    if matched.empty:
        raise ContestedError("matched comparison: no rows")
    order = {m: i for i, m in enumerate(MATCHED_METRIC_NAMES)}
    # (sort_conditions uses a column "_m" of its own)
    data = matched.assign(method="lora", _metric=matched["metric"].map(order).fillna(len(order)))
    data = sort_conditions(data, then=("seed", "lr_lora", "lr_full", "_metric")).drop(columns=["_metric", "method"])
    shown = condition_display(data.assign(method="lora"), seed=True)
    display = pd.DataFrame({
        **shown,
        "lr LoRA / full": [f"{value_text('lr', a)} / {value_text('lr', b)}"
                           for a, b in zip(data["lr_lora"], data["lr_full"], strict=True)],
        "L* (nats)": data["common_learning"].map(lambda v: fmt_num(v, 2)).tolist(),
        "metric": [MATCHED_METRIC_NAMES.get(m, m) for m in data["metric"]],
        "LoRA − full at L* [95% CI]": fmt_ci(data["diff_at_max"], data["ci_low_at_max"], data["ci_high_at_max"],
                                             signed=True),
        "mean over [0, L*] [95% CI]": fmt_ci(data["diff_mean"], data["ci_low_mean"], data["ci_high_mean"], signed=True),
        "p (mean)": data["p_mean"].map(fmt_p).tolist(),
    })
    return ReportTable(
        name="table_matched_learning", title="LoRA vs full FT at matched learning",
        caption=("Each LoRA run against the full fine-tuning run of the same model, data, noise rate and seed, "
                 "compared at equal learning rather than equal steps. Learning = mean loss drop of the clean "
                 "tracked items since step 0 (nats); L* = the smaller of the two runs' largest learning. At each "
                 "level in [0, L*] a run is read at its last checkpoint within 0.1 L* of it (where it stepped over "
                 "the level between two checkpoints: linearly where it crossed); the table gives "
                 "LoRA − full at L* and averaged over [0, L*], with 95% percentile CIs from an item bootstrap "
                 "(the same resamples in both runs) and the two-sided bootstrap p of the average. Metrics: mean "
                 "Δℓ of the contested items (ℓ_t − ℓ_0, nats), their share with Δℓ > 0, their share whose "
                 "JSD to the annotators rose, and Spearman ρ between entropy and the loss over all tracked items. "
                 "Positive: more un-learning under LoRA at the same amount learnt."),
        data=data.reset_index(drop=True), display=display,
    )
