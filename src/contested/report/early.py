"""Early warning in the report layer: the flagged-items table and the AUROC-vs-window figure.

:func:`flag_table` is what ``contested flag RUN`` prints: the items of one run at risk of
un-learning (predicted) or un-learnt (observed, final Δℓ > 0), with their text, label names,
annotation entropy when known, predicted risk and observed Δℓ. :func:`loro_figure` draws
:func:`contested.dynamics.early_eval.evaluate_loro`'s results (object API, never pyplot).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from contested.dynamics import item_metrics
from contested.dynamics.early_model import Predictor, default_predictor, predict_risk
from contested.errors import ContestedError, located
from contested.report.style import MARKERS, OKABE_ITO, figure_style
from contested.rundir.layout import EARLY_WARNING

#: Columns of :func:`flag_table`, in order (``entropy`` only when the items have it).
FLAG_COLUMNS = ("item_id", "premise", "hypothesis", "label", "votes", "entropy", "risk", "at_risk",
                "delta_loss", "unlearned", "status")
_MODEL_NAMES = {"predictor": "early-warning predictor", "entropy": "annotation entropy alone",
                "loss0": "step-0 loss alone", "slope": "window loss slope alone"}


def _label_names(run: Any, k: int) -> list[str]:
    names = list(run.items.attrs.get("label_names") or (getattr(run, "metrics", None) or {}).get("label_names") or [])
    return names if len(names) >= k else [str(i) for i in range(k)]


def _votes(counts: Any, names: list[str]) -> str:
    if counts is None or (isinstance(counts, float) and np.isnan(counts)):
        return ""
    counts = [int(c) for c in counts]
    order = sorted(range(len(counts)), key=lambda i: (-counts[i], i))
    return ", ".join(f"{names[i] if i < len(names) else i} {counts[i]}" for i in order if counts[i] > 0)


def _risk(run: Any, predictor: Predictor | None, threshold: float | None) -> tuple[pd.DataFrame, str]:
    """The risks: the run's own early_warning.parquet unless a predictor is given."""
    path = getattr(run, "path", None)
    if predictor is None and path is not None and (path / EARLY_WARNING).is_file():
        try:
            table = pd.read_parquet(path / EARLY_WARNING)
        except (OSError, ValueError) as exc:
            raise located(path / EARLY_WARNING, f"cannot read Parquet ({type(exc).__name__})") from None
        if threshold is not None:
            table["at_risk"] = table["risk"] >= threshold
        return table, f"the run's {EARLY_WARNING} (recorded while training)"
    if predictor is None:
        window = (getattr(run, "config", {}) or {}).get("early_warning", {}).get("window", 0.2)
        predictor = default_predictor(window)
    source = predictor.description or "the given predictor"
    return predict_risk(run, predictor, threshold=threshold), source


def flag_table(run: Any, *, predictor: Predictor | None = None, threshold: float | None = None,
               split: str | None = "tracked", include_all: bool = False) -> tuple[pd.DataFrame, str]:
    """Items of a finished run at risk of un-learning or un-learnt, highest risk first.

    Parameters
    ----------
    run
        A loaded run (:func:`contested.report.runs.load_run`, with logits when no
        ``early_warning.parquet`` was recorded).
    predictor
        Predictor to apply; None: the run's recorded ``early_warning.parquet`` when present, else
        the shipped default (fitted on the project's MiniLM-L6 ChaosNLI-SNLI runs: refit it on yours).
    threshold
        Risk cutoff of ``at_risk``; None: the recorded / the predictor's own.
    split
        Items of this split (``tracked``: the trained-on items); None for all.
    include_all
        Every item, not only the flagged ones.

    Returns
    -------
    (pandas.DataFrame, str)
        :data:`FLAG_COLUMNS` (``label``: the training label's name; ``votes``: annotator votes by
        class name; ``entropy`` nats; ``risk`` 0..1; ``delta_loss`` nats = final − step-0 loss;
        ``status``: "at risk, un-learnt" | "at risk" | "un-learnt" | "") and where the risks came from.
    """
    risk, source = _risk(run, predictor, threshold)
    observed = item_metrics(run.dynamics, measurement="snapshot")[["item_id", "delta_loss", "unlearned"]]
    observed = observed.astype({"item_id": str})
    items = run.items.copy()
    items["item_id"] = items["item_id"].astype(str)
    k = len(items["label_counts"].iloc[0]) if "label_counts" in items.columns and len(items) else \
        int(items.get("training_label", pd.Series([0])).max()) + 1
    names = _label_names(run, k)
    out = risk[["item_id", "split", "risk", "at_risk"]].astype({"item_id": str}).merge(observed, on="item_id", how="left")
    keep = [c for c in ("item_id", "premise", "hypothesis", "training_label", "label_counts", "entropy")
            if c in items.columns]
    out = out.merge(items[keep].drop_duplicates("item_id"), on="item_id", how="left")
    if split is not None:
        out = out[out["split"] == split]
    label = out["training_label"] if "training_label" in out.columns else pd.Series(np.nan, index=out.index)
    out["label"] = [names[int(v)] if pd.notna(v) and int(v) < len(names) else "" for v in label]
    out["votes"] = [_votes(c, names) for c in out["label_counts"]] if "label_counts" in out.columns else ""
    out["at_risk"] = out["at_risk"].astype(bool)
    out["unlearned"] = out["unlearned"].fillna(False).astype(bool)
    out["status"] = [", ".join(s for s, on in (("at risk", r), ("un-learnt", u)) if on)
                     for r, u in zip(out["at_risk"], out["unlearned"], strict=True)]
    if not include_all:
        out = out[out["at_risk"] | out["unlearned"]]
    cols = [c for c in FLAG_COLUMNS if c in out.columns]
    if "entropy" in cols and out["entropy"].isna().all():
        cols.remove("entropy")
    out = out.sort_values(["risk", "delta_loss", "item_id"], ascending=[False, False, True], kind="stable")
    return out[cols].reset_index(drop=True), source


def loro_figure(results: pd.DataFrame, *, metric: str = "auroc", title: str | None = None) -> Figure:
    """AUROC (or average precision) vs window, per model: mean over held-out runs ± std.

    Parameters
    ----------
    results
        :func:`contested.dynamics.early_eval.evaluate_loro` (or ``evaluate_transfer``) output.
    metric
        ``auroc`` or ``average_precision``.
    title
        Figure title; default: leave-one-run-out with the number of held-out runs.
    """
    if metric not in ("auroc", "average_precision"):
        raise ContestedError(f"loro_figure: metric must be auroc or average_precision, got {metric!r}")
    missing = [c for c in ("window", "model", metric) if c not in results.columns]
    if missing:
        raise ContestedError(f"loro_figure: missing column(s) {', '.join(missing)}; pass evaluate_loro's table")
    agg = results.groupby(["model", "window"])[metric].agg(["mean", "std", "count"]).reset_index()
    with figure_style():
        fig = Figure(figsize=(6.8, 4.2))
        ax = fig.add_subplot()
        models = [m for m in _MODEL_NAMES if m in set(agg["model"])]
        for i, model in enumerate(models):
            rows = agg[(agg["model"] == model) & agg["mean"].notna()].sort_values("window")
            if rows.empty:
                continue
            ax.errorbar(rows["window"] * 100, rows["mean"], yerr=rows["std"].fillna(0), label=_MODEL_NAMES[model],
                        color=OKABE_ITO[i], marker=MARKERS[i], capsize=3, lw=2.2 if model == "predictor" else 1.4)
        if metric == "auroc":
            ax.axhline(0.5, color="0.4", ls="--", lw=1, label="chance")
            ax.set_ylim(0.3, 1.02)
        ax.set_xlabel("window: first share of training read (% of optimiser steps)")
        ax.set_ylabel("AUROC (un-learnt vs not)" if metric == "auroc" else "average precision")
        n = int(agg["count"].max()) if len(agg) else 0
        ax.set_title(title or f"Early warning, leave-one-run-out ({n} held-out runs; mean ± std)")
        ax.legend(loc="upper left")
    return fig


def summary_markdown(summary: pd.DataFrame) -> str:
    """A Markdown table of :func:`contested.dynamics.early_eval.summarise_loro`'s output.

    One row per window × model (predictor first): window in % of training, AUROC and average
    precision as mean ± std over held-out runs (std omitted with one run), runs, base rate.
    """
    missing = [c for c in ("window", "model", "n_runs", "auroc_mean", "auroc_std", "ap_mean", "ap_std", "base_rate")
               if c not in summary.columns]
    if missing:
        raise ContestedError(f"summary_markdown: missing column(s) {', '.join(missing)}; pass summarise_loro's table")

    def cell(mean: float, std: float) -> str:
        if mean != mean:
            return "–"
        return f"{mean:.3f}" if std != std else f"{mean:.3f} ± {std:.3f}"

    order = {m: i for i, m in enumerate(_MODEL_NAMES)}
    rows = summary.assign(_o=summary["model"].map(order).fillna(len(order))).sort_values(["window", "_o"])
    lines = ["| window (% of training) | model | AUROC | average precision | runs | base rate |",
             "|---:|---|---:|---:|---:|---:|"]
    for r in rows.itertuples():
        lines.append(f"| {r.window * 100:g} | {_MODEL_NAMES.get(r.model, r.model)} | {cell(r.auroc_mean, r.auroc_std)} | "
                     f"{cell(r.ap_mean, r.ap_std)} | {r.n_runs} | {r.base_rate:.3f} |")
    return "\n".join(lines) + "\n"


__all__ = ["FLAG_COLUMNS", "flag_table", "loro_figure", "summary_markdown"]
