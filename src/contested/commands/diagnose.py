"""``contested diagnose FILE``: LoRA and full fine-tuning on your own items, early warning, flags, report."""

from __future__ import annotations

import sys

import typer
from rich import box
from rich.table import Table

from contested.commands import console, literal
from contested.commands.early import print_flagged
from contested.commands.schema import build, config_command, keyword
from contested.experiments.diagnose import DiagnoseConfig

_out = console(width=None if sys.stdout.isatty() else 120)
_err = console(stderr=True)


def _fmt(value, spec: str) -> str:
    return "n/a" if value is None or value != value else format(value, spec)


def _print(result, top: int) -> None:
    names = ", ".join(result.label_names)
    _out.print(literal(f"contested diagnose: {result.dataset} (classes: {names})"), soft_wrap=True)
    table = Table(box=box.SIMPLE_HEAD)
    for col in ("method", "lr", "val acc\n(majority)", "tracked", "at risk\n(early)", "un-learnt\n(Δℓ > 0)",
                "both", "ρ(H, AULC)"):
        table.add_column(literal(col), justify="left" if col == "method" else "right")
    for r in result.summary.itertuples():
        table.add_row(*map(literal, (
            "LoRA" if r.method == "lora" else "full FT", f"{r.lr:g}",
            f"{_fmt(r.val_accuracy, '.3f')} ({_fmt(r.majority_rate, '.3f')})", f"{r.n_tracked:,}",
            f"{r.at_risk:,}", f"{r.unlearned:,}", f"{r.at_risk_unlearned:,}", _fmt(r.rho, "+.3f"))))
    _out.print(table)
    _out.print(literal("val acc: accuracy on your held-out items (never trained on) against their majority "
                       "label; at risk: predicted from the early window; un-learnt: final loss above step 0."),
               soft_wrap=True)
    for method, flagged in result.flagged.items():
        if top and len(flagged):
            print_flagged(flagged, top=top, title=f"{'LoRA' if method == 'lora' else 'full FT'}: top {min(top, len(flagged))} "
                                                  f"of {len(flagged):,} flagged items")
    _err.print(literal(f"risk from {result.risk_source}"), soft_wrap=True)
    for note in result.notes:
        _err.print(literal(f"note: {note}"), soft_wrap=True)
    _out.print(literal(f"flagged items: {result.out}/flagged-<method>.csv; summary: {result.out}/summary.csv"))
    if result.report is not None:
        _out.print(literal(f"report: {result.report}"))


def _diagnose(flags: dict, *, dataset: str, force: bool, quiet: bool) -> None:
    from contested.experiments.diagnose import run_diagnose

    config = build(DiagnoseConfig, flags, from_flags=set(flags))
    result = run_diagnose(dataset, config, progress=not quiet, force=force)
    _print(result, config.top)


def register(app: typer.Typer) -> None:
    """Add ``diagnose`` to the top-level app (one flag per :class:`DiagnoseConfig` field)."""
    extra = [
        keyword("dataset", str, typer.Argument(..., metavar="FILE", show_default=False,
                                               help="Your items: a CSV/TSV/JSONL file (votes as label_counts, "
                                                    "count_<class> columns or per-annotator labels) or a registry "
                                                    "name such as lewidi-md-agreement:train.")),
        keyword("force", bool, typer.Option(False, "--force", help="Retrain finished runs.")),
        keyword("quiet", bool, typer.Option(False, "--quiet", help="No progress bars.")),
    ]
    config_command(app, "diagnose", DiagnoseConfig, _diagnose, extra=extra,
                   help="Fine-tune LoRA and full FT on your own (multi-annotator or single-label) items with CPU "
                        "defaults, warn early which items will un-learn, then analyse, flag and report, with your "
                        "label names. Finished runs are reused.")


__all__ = ["register"]

