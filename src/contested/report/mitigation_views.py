"""The mitigation table, the table of effects against the control, and the Pareto figure.

Inputs are the frames of :mod:`contested.report.mitigation`; outputs a
:class:`~contested.report.render.ReportTable` each and a matplotlib ``Figure`` (object API only).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from contested.errors import ContestedError
from contested.report.conditions import condition_display, method_label
from contested.report.mitigation import CONTROL, GOAL_RELATIVE_JSD, MAX_ACCURACY_LOSS
from contested.report.render import ReportTable, ci_text, fmt_ci
from contested.report.style import MARKERS, OKABE_ITO, figure_style

__all__ = ["mitigation_effects_table", "mitigation_table", "pareto_figure"]

#: Displayed quantities of the mitigation table: column prefix → (header, signed).
_SUMMARY_SHOWN = {
    "val_jsd": ("val JSD ↓", False), "val_kl": ("val KL ↓ (nats)", False),
    "val_accuracy": ("val acc ↑", False), "heldout_accuracy": ("held-out acc ↑", False),
    "share_away": ("contested moving away ↓", False), "delta_clean": ("Δℓ clean (nats)", True),
    "delta_contested": ("Δℓ contested (nats)", True), "rho": ("ρ(H, AULC)", False),
}


def _shown(data: pd.DataFrame, prefix: str, *, signed: bool) -> list[str]:
    return fmt_ci(data[prefix], data[f"{prefix}_ci_low"], data[f"{prefix}_ci_high"], signed=signed)


def _points(data: pd.DataFrame, prefix: str) -> list[str]:
    """A proportion's change in percentage points (or a relative change in %), one decimal, with its CI."""
    return [ci_text(100 * v, 100 * lo, 100 * hi, signed=True, digits=1) for v, lo, hi in zip(
        data[prefix], data[f"{prefix}_ci_low"], data[f"{prefix}_ci_high"], strict=True)]


def mitigation_table(summary: pd.DataFrame) -> ReportTable:
    """Per mitigation condition, every quantity with its 95 % CI over items and seeds.

    Parameters
    ----------
    summary
        :func:`contested.report.mitigation.mitigation_summary`.
    """
    if summary.empty:
        raise ContestedError("mitigation table: no mitigation conditions")
    display = pd.DataFrame({
        **condition_display(summary), "seeds": summary["n_seeds"].astype(int).astype(str).tolist(),
        **{head: _shown(summary, q, signed=signed) for q, (head, signed) in _SUMMARY_SHOWN.items()},
    })
    return ReportTable(
        name="table_mitigation", title="Mitigations: fit to the annotators, accuracy and un-learning",
        caption=("One row per condition (model, method, lr, training-loss mitigation; 'none' = majority-label "
                 "cross-entropy, the control), final checkpoint, mean over seeds [95% CI]. JSD (Jensen–Shannon "
                 "distance, natural log) and KL (nats) of the model's predicted distribution from the 100-vote "
                 "distribution on the validation items (never trained on), in ChaosNLI's convention; validation "
                 "accuracy against the vote majority; held-out SNLI accuracy; the share of contested tracked items "
                 "whose JSD rose since step 0; mean Δℓ (final − step-0 loss against the majority label, nats) of "
                 "clean and contested tracked items; Spearman ρ(H, AULC) over the tracked items. CIs resample "
                 "seeds and items together (two-level bootstrap; held-out accuracy: binomial resampling of each "
                 "run's 500 items, as its items are not stored one by one). Soft-label training raises an item's "
                 "loss against its majority label by design: judge a mitigation on JSD, KL and accuracy."),
        data=summary.reset_index(drop=True), display=display,
    )


def mitigation_effects_table(effects: pd.DataFrame) -> ReportTable:
    """Each mitigation minus its control, paired by seed and item, with the verdicts.

    Parameters
    ----------
    effects
        :func:`contested.report.mitigation.mitigation_effects`.
    """
    if effects.empty:
        raise ContestedError("mitigation effects: no mitigation has a control run")
    display = pd.DataFrame({
        **condition_display(effects), "seeds": effects["seeds"].astype(str).tolist(),
        "val JSD change (%)": _points(effects, "val_jsd_relative"),
        "Δ val KL (nats)": _shown(effects, "val_kl_diff", signed=True),
        "Δ held-out acc (points)": _points(effects, "heldout_accuracy_diff"),
        "Δ val acc": _shown(effects, "val_accuracy_diff", signed=True),
        "Δ moving away": _shown(effects, "share_away_diff", signed=True),
        "Δ Δℓ contested (nats)": _shown(effects, "delta_contested_diff", signed=True),
        "Δ ρ(H, AULC)": _shown(effects, "rho_diff", signed=True),
        "better fit, ≤ 1 pt acc lost": ["yes" if a and b else "no" for a, b in zip(
            effects["improves_fit"], effects["keeps_accuracy"], strict=True)],
    })
    return ReportTable(
        name="table_mitigation_effects", title="What each mitigation changes against its control",
        caption=("Mitigation − control (same model, data, method, lr; majority-label training), paired by seed and "
                 "item, with 95% CIs from resampling seeds and items together (ρ: items only; held-out accuracy: "
                 "independent binomial resampling, so its CI is wider than a paired one would be). "
                 "Validation JSD change is relative to the control (−10% = 10% lower). 'Better fit' = the JSD "
                 f"difference's CI lies below 0; at most {100 * MAX_ACCURACY_LOSS:g} point of held-out accuracy lost "
                 f"(point estimate). The goal reported against: a LoRA mitigation with a JSD change ≤ "
                 f"{100 * GOAL_RELATIVE_JSD:+g}% and ≤ {100 * MAX_ACCURACY_LOSS:g} point of held-out accuracy lost."),
        data=effects.reset_index(drop=True), display=display,
    )


def pareto_figure(summary: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Held-out accuracy against validation JSD, one point per mitigation condition with 95 % CIs.

    Parameters
    ----------
    summary
        :func:`contested.report.mitigation.mitigation_summary` (needs ``val_jsd`` and
        ``heldout_accuracy`` with their CIs).
    title
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Colour = mitigation, marker = method (filled LoRA, open full FT); a thin line joins each
        mitigation to its control. Up and to the left is better: more accurate, closer to the
        annotators.
    """
    data = summary.dropna(subset=["val_jsd", "heldout_accuracy"])
    if data.empty:
        raise ContestedError("Pareto figure: no condition has both validation JSD and held-out accuracy")
    mitigations = [CONTROL, *sorted(set(data["mitigation"]) - {CONTROL})]
    colors = {m: OKABE_ITO[i % len(OKABE_ITO)] for i, m in enumerate(mitigations)}
    arms = data.assign(arm=[f"{method_label(m, r)}, lr {float(lr):g}" if not pd.isna(lr) else method_label(m, r)
                            for m, r, lr in zip(data["method"], data["rank"], data["lr"], strict=True)])
    arm_order = list(dict.fromkeys(arms["arm"]))
    markers = {a: MARKERS[i % len(MARKERS)] for i, a in enumerate(arm_order)}
    with figure_style():
        fig = Figure(figsize=(8.0, 5.6))
        ax = fig.subplots()
        for arm, grp in arms.groupby("arm", sort=False):
            control = grp[grp["mitigation"] == CONTROL]
            for row in grp.to_dict("records"):
                filled = row["method"] != "full"
                x, y = row["val_jsd"], row["heldout_accuracy"]
                xerr = np.array([[x - row["val_jsd_ci_low"]], [row["val_jsd_ci_high"] - x]])
                yerr = np.array([[y - row["heldout_accuracy_ci_low"]], [row["heldout_accuracy_ci_high"] - y]])
                color = colors[row["mitigation"]]
                ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt=markers[arm], color=color, markersize=8,
                            markerfacecolor=color if filled else "white", markeredgewidth=1.6, elinewidth=1.0,
                            capsize=2, alpha=0.9)
                if not control.empty and row["mitigation"] != CONTROL:
                    c = control.iloc[0]
                    ax.plot([c["val_jsd"], x], [c["heldout_accuracy"], y], color=color, linewidth=0.8, alpha=0.5)
        ax.set_xlabel("validation JSD to the annotators (lower = closer to the humans)")
        ax.set_ylabel("held-out SNLI accuracy")
        handles = [Line2D([], [], color=colors[m], marker="o", linestyle="", label=m) for m in mitigations]
        handles += [Line2D([], [], color="0.3", marker=markers[a], linestyle="",
                           markerfacecolor="white" if "full" in a else "0.3", label=a) for a in arm_order]
        ax.legend(handles=handles, loc="best", fontsize=8, title="mitigation / method")
        ax.set_title(title or "Mitigations: accuracy vs fit to the annotators (95% CIs over items and seeds)")
    return fig
