"""``contested demo``: the main job (what ``make demo`` runs)."""

from __future__ import annotations

import sys

import typer
from rich import box
from rich.table import Table

from contested.commands import console
from contested.commands.schema import build, config_command, keyword
from contested.experiments.demo import DemoConfig

# The summary needs ~110 columns; a pipe or log file would otherwise get rich's 80 and wrap it.
_out = console(width=None if sys.stdout.isatty() else 120)


def _print_summary(summary, paired, report, matched=None) -> None:
    table = Table(title="contested demo: ρ(annotation entropy, AULC) on the tracked items",
                  title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("method", "lr", "held-out\nSNLI acc", "ChaosNLI val acc\n(majority rate)",
                "ρ [95% CI]", "Δℓ clean\n(nats)", "Δℓ contested\n(nats)", "rose: clean /\ncontested"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for row in summary.itertuples():
        name = f"LoRA r={row.rank}" if row.method == "lora" else "full FT"
        table.add_row(
            name, f"{row.lr:g}", f"{row.heldout_accuracy:.3f}",
            f"{row.val_accuracy:.3f} ({row.majority_rate:.3f})",
            f"{row.rho:+.3f} [{row.ci_low:+.3f}, {row.ci_high:+.3f}]",
            f"{row.mean_delta_clean:+.3f}", f"{row.mean_delta_contested:+.3f}",
            f"{row.share_unlearned_clean:.0%} / {row.share_unlearned_contested:.0%}",
        )
    _out.print(table)
    _out.print("Δℓ = loss at the final snapshot − loss at step 0 (> 0: the item was un-learnt).")
    for row in paired.itertuples():
        _out.print(f"LoRA r={row.rank} − full FT difference in ρ on the same {row.n_items:,} items: "
                   f"{row.diff:+.3f} [{row.ci_low:+.3f}, {row.ci_high:+.3f}] (paired bootstrap p = {row.p_value:.3g})")
    if matched is not None:
        _print_matched(matched)
    _out.print(f"report: {report}", markup=False)


def _print_matched(matched) -> None:
    """The LoRA − full FT difference in the contested items' mean Δℓ at the common learning L*."""
    def signed(value: float) -> str:
        return "—" if value != value else f"{value:+.3f}"  # NaN: no checkpoint near L* / no CI

    rows = matched[matched["metric"] == "delta_contested"] if "metric" in matched.columns else matched.iloc[:0]
    if rows.empty:
        _out.print("LoRA − full FT at matched learning: not compared (the runs share no learning range: "
                   "the clean items' loss never fell in one of them)", markup=False, soft_wrap=True)
    for row in rows.itertuples():
        _out.print(f"LoRA r={row.rank} − full FT at matched learning (L* = {row.common_learning:.2f} nats of "
                   f"clean-item loss drop): contested Δℓ {signed(row.diff_at_max)} [{signed(row.ci_low_at_max)}, "
                   f"{signed(row.ci_high_at_max)}] nats", markup=False, soft_wrap=True)  # one line in a log


def _demo(flags: dict, *, force: bool) -> None:
    from contested.experiments.demo import run_demo

    config = build(DemoConfig, flags, from_flags=set(flags))
    result = run_demo(config, force=force)
    _print_summary(result.summary, result.paired, result.report, result.matched)


def register(app: typer.Typer) -> None:
    """Add ``demo`` to the top-level app (one flag per :class:`DemoConfig` field)."""
    config_command(
        app, "demo", DemoConfig, _demo,
        extra=[keyword("force", bool, typer.Option(False, "--force", help="Retrain finished runs."))],
        help="Train LoRA and full fine-tuning on ChaosNLI-SNLI, analyse the dynamics, write the report. "
             "The study's recipe at CPU scale (about 15 minutes on 2 cores). Finished runs are reused, so "
             "a second call only re-analyses.")
