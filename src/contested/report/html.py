"""One self-contained HTML page: key numbers, the study tables, figures and every run's provenance.

Figures are embedded as base64 PNG (and also saved as PNG + PDF under ``figures/``); there are no
scripts and no external URLs, so the page opens offline. Written atomically.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import os
from collections.abc import Sequence
from pathlib import Path

import jinja2

from contested.io import write_text
from contested.provenance import git_commit, package_versions
from contested.report.analysis import Analysis
from contested.report.conditions import (
    CONDITION_COLUMNS,
    condition_labels,
    matches,
    method_label,
    value_text,
    varies,
)
from contested.report.figureset import FigureEntry, make_figures
from contested.report.mitigation import what_to_change
from contested.report.render import ci_text, fmt_num
from contested.report.template import TEMPLATE

DEFAULT_TITLE = "Annotation entropy and learning dynamics"


def _findings(analysis: Analysis) -> list[str]:
    """One sentence per condition (pooled ρ, Δℓ) and per paired / noise test, in plain words."""
    lines = []
    conds = analysis.conditions
    stats = analysis.run_stats
    snap = stats[(stats["metric"] == analysis.metric) & (stats["measurement"] == "snapshot")]
    for row, label in zip(conds.to_dict("records"), condition_labels(conds), strict=True):
        runs = snap[matches(snap, {c: row[c] for c in CONDITION_COLUMNS if c in row})]
        seeds = f"{int(row['n_seeds'])} seed{'s' if row['n_seeds'] > 1 else ''}"
        lines.append(
            f"{label}: ρ(H, AULC) = {ci_text(row['rho_pooled'], row['pooled_ci_low'], row['pooled_ci_high'])} "
            f"({seeds}, n = "
            f"{int(row['n_items']):,} items); mean Δℓ contested {fmt_num(runs['mean_delta_contested'].mean(), signed=True)}"
            f" vs clean {fmt_num(runs['mean_delta_clean'].mean(), signed=True)} nats; "
            f"{runs['share_unlearned_contested'].mean():.0%} of contested vs "
            f"{runs['share_unlearned_clean'].mean():.0%} of clean items un-learnt (Δℓ > 0)."
        )
    paired = analysis.paired
    with_lr = {"lr_lora", "lr_full"} <= set(paired.columns) and (varies(paired["lr_lora"]) or varies(paired["lr_full"]))
    for row in paired.to_dict("records"):
        lrs = f" (lr {value_text('lr', row['lr_lora'])} vs {value_text('lr', row['lr_full'])})" if with_lr else ""
        lines.append(
            f"{row['model']} · {row['dataset']}: {method_label('lora', row['rank'])} − full FT{lrs} difference in ρ "
            f"on the same {int(row['n_items']):,} items = {ci_text(row['diff'], row['ci_low'], row['ci_high'], signed=True)}, "
            f"bootstrap p = {row['p_value']:.2g}."
        )
    matched = analysis.matched
    if not matched.empty:
        for row in matched[matched["metric"] == "delta_contested"].to_dict("records"):
            lines.append(matched_sentence(row))
    noise = analysis.noise_tests
    labels = condition_labels(noise, tuple(c for c in CONDITION_COLUMNS if c != "noise_rate"))
    for row, label in zip(noise.to_dict("records"), labels, strict=True):
        lines.append(
            f"Noise {row['noise_rate']:.0%} ({label}): clean-item AULC "
            f"{fmt_num(row['mean_noisy'])} vs {fmt_num(row['mean_control'])} nats in the control, "
            f"one-sided Wilcoxon p = {row['p_value']:.2g}, paired d = {fmt_num(row['cohens_dz'], 2, signed=True)}."
        )
    return lines


def matched_sentence(row: dict) -> str:
    """One line for a matched-learning comparison of the contested items' mean Δℓ (a ``matched`` row)."""
    mitigation = f" · {row['mitigation']}" if row.get("mitigation") not in (None, "none") else ""
    return (f"{row['model']} · {row['dataset']}{mitigation} · seed {row['seed']}: {method_label('lora', row['rank'])} "
            f"(lr {row['lr_lora']:g}) − full FT (lr {row['lr_full']:g}) at matched learning (L* = "
            f"{fmt_num(row['common_learning'], 2)} nats of clean-item loss drop): contested Δℓ "
            f"{ci_text(row['diff_at_max'], row['ci_low_at_max'], row['ci_high_at_max'], signed=True)} nats at L*, "
            f"{ci_text(row['diff_mean'], row['ci_low_mean'], row['ci_high_mean'], signed=True)} averaged over [0, L*].")


def _figure_groups(entries: Sequence[FigureEntry]) -> list[dict]:
    groups: dict[str, list[dict]] = {}
    for e in entries:
        data = base64.b64encode(e.embed_png or e.png.read_bytes()).decode("ascii")
        groups.setdefault(e.group, []).append(
            {"name": e.name, "title": e.title, "caption": e.caption, "data": data})
    return [{"label": "overview" if k == "overview" else k, "figures": v} for k, v in groups.items()]


def _runs(analysis: Analysis) -> list[dict]:
    table = analysis.runs_table.set_index("run_id")
    labels = dict(zip(analysis.runs_table["run_id"], condition_labels(analysis.runs_table), strict=True))
    out = []
    for run_id in analysis.runs_table["run_id"]:
        run = next(r for r in analysis.runs if r.run_id == run_id)
        row = table.loc[run_id].to_dict()
        label = labels[run_id]
        out.append({
            "run_id": run_id, "label": f"{label} · seed {row['seed']}", "path": str(run.path),
            "config": json.dumps(run.config, indent=2, sort_keys=True, default=str),
            "env": json.dumps(run.env, indent=2, sort_keys=True, default=str),
            "metrics": json.dumps(run.metrics, indent=2, sort_keys=True, default=str),
        })
    return out


def render_html(analysis: Analysis, figures: Sequence[FigureEntry], *, title: str = DEFAULT_TITLE,
                subtitle: str | None = None) -> str:
    """The report page as a string (figures read from their saved PNG files).

    Parameters
    ----------
    analysis
        The analysed runs.
    figures
        Saved figures (:func:`contested.report.figureset.make_figures`).
    title, subtitle
        Page heading; the default subtitle names the models and datasets.

    Returns
    -------
    str
        A complete HTML document without external references.
    """
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    rt = analysis.runs_table
    subtitle = subtitle or (
        f"Models: {', '.join(map(str, rt['model'].unique()))} · datasets: {', '.join(map(str, rt['dataset'].unique()))}"
    )
    return env.from_string(TEMPLATE).render(
        title=title, subtitle=subtitle, n_runs=len(rt),
        generated=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        version=package_versions(["contested"]).get("contested") or "unknown", commit=git_commit(),
        findings=_findings(analysis), notes=list(analysis.notes),
        what_to_change=what_to_change(analysis.mitigation_effects),
        tables=[{"name": t.name, "title": t.title, "caption": t.caption, "html": t.to_html()} for t in analysis.tables],
        figure_groups=_figure_groups(figures), runs=_runs(analysis),
    )


def write_report(analysis: Analysis, out_dir: str | os.PathLike, *, title: str = DEFAULT_TITLE,
                 max_conditions: int = 12) -> Path:
    """Save every figure under ``out_dir/figures`` and write ``out_dir/report.html`` atomically.

    Parameters
    ----------
    analysis
        The analysed runs (:func:`contested.report.analysis.analyze`).
    out_dir
        Output folder (created).
    title
        Page heading.
    max_conditions
        Per-run figure blocks for at most this many conditions (one run each).

    Returns
    -------
    Path
        The report page.
    """
    out = Path(out_dir)
    figures = make_figures(analysis, out / "figures", max_conditions=max_conditions)
    return write_text(out / "report.html", render_html(analysis, figures, title=title))
