"""``contested demo``: the main job (what ``make demo`` runs)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from contested.experiments.demo import DemoConfig

# The summary needs ~110 columns; a pipe or log file would otherwise get rich's 80 and wrap it.
_out = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
_D = DemoConfig()


def _print_summary(summary, paired, report) -> None:
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
    _out.print(f"report: {report}")


def register(app: typer.Typer) -> None:
    """Add ``demo`` to the top-level app."""

    @app.command()
    def demo(
        model: Annotated[str, typer.Option(help="Model registry name.")] = _D.model,
        dataset: Annotated[str, typer.Option(help="Multi-annotator dataset tracked.")] = _D.dataset,
        bulk: Annotated[int, typer.Option(help="Bulk SNLI train items in the mixture.")] = _D.bulk,
        epochs: Annotated[int, typer.Option(help="Epochs.")] = _D.epochs,
        lora_rank: Annotated[int, typer.Option(help="LoRA rank (alpha = 2r).")] = _D.lora_rank,
        lora_lr: Annotated[float, typer.Option(help="LoRA peak learning rate.")] = _D.lora_lr,
        full_lr: Annotated[float, typer.Option(help="Full fine-tuning peak learning rate.")] = _D.full_lr,
        snapshot_every: Annotated[int, typer.Option(help="Optimiser steps between snapshots.")] = _D.snapshot_every,
        seed: Annotated[int, typer.Option(help="Run seed.")] = _D.seed,
        n_boot: Annotated[int, typer.Option(help="Bootstrap resamples per CI.")] = _D.n_boot,
        out: Annotated[str, typer.Option(help="Output folder (runs/, analysis/, report/).")] = _D.out,
        force: Annotated[bool, typer.Option(help="Retrain finished runs.")] = False,
    ) -> None:
        """Train LoRA and full fine-tuning on ChaosNLI-SNLI, analyse the dynamics, write the report.

        The study's recipe at CPU scale (about 15 minutes on 2 cores). Finished runs are reused, so a
        second call only re-analyses.
        """
        from contested.experiments.demo import run_demo

        config = DemoConfig(model=model, dataset=dataset, bulk=bulk, epochs=epochs, lora_rank=lora_rank,
                            lora_lr=lora_lr, full_lr=full_lr, snapshot_every=snapshot_every, seed=seed,
                            n_boot=n_boot, out=out)
        result = run_demo(config, force=force)
        _print_summary(result.summary, result.paired, result.report)
