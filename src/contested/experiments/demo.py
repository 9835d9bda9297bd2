"""The main job (`contested demo`, what `make demo` runs): LoRA vs full fine-tuning, end to end.

Two real fine-tuning runs of the default offline model on ChaosNLI-SNLI with the SNLI train
sample, the study's recipe scaled to about 15 minutes on 2 CPU cores, then the analysis and the
HTML report. The study's lr of 2e-5 assumes ~3,300 optimiser steps; at a few hundred steps it
does not move the model (``../shared/docs/method.md``, "Measured at CPU scale"), so the demo
uses larger, stated learning rates: LoRA at 2e-3 and full fine-tuning at 1e-4.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pandas as pd

from contested.config import Config, Range, configclass, nonempty, option
from contested.data import DataConfig
from contested.models.config import MethodConfig


@configclass
class DemoConfig(Config):
    """The demo's scale; every field is a ``contested demo`` flag."""

    section = "demo"

    model: str = option("minilm-l6", check=nonempty, help="Model registry name (default: the offline MiniLM-L6 encoder).")
    dataset: str = option("chaosnli-snli", check=nonempty, help="Multi-annotator dataset whose items are tracked.")
    bulk: int = option(4_000, check=Range(ge=0), help="Bulk (SNLI train) items in the mixture, besides the tracked items.")
    epochs: int = option(3, check=Range(ge=1), help="Passes over the mixture.")
    lora_rank: int = option(4, check=Range(ge=1), help="LoRA rank (alpha = 2r).")
    lora_lr: float = option(2e-3, check=Range(gt=0), help="Peak learning rate of the LoRA run.")
    full_lr: float = option(1e-4, check=Range(gt=0), help="Peak learning rate of the full fine-tuning run.")
    snapshot_every: int = option(50, check=Range(ge=1),
                                 help="Optimiser steps between eval-mode snapshots (plus step 0 and every epoch end).")
    seed: int = option(42, help="Run seed (head, adapter init, batch order).")
    n_boot: int = option(10_000, check=Range(ge=1), help="Bootstrap resamples of each confidence interval.")
    out: str = option("demo-out", check=nonempty, help="Output folder: runs/, analysis/ and report/ go under it.")

    def run_configs(self) -> list[Any]:
        """The two run configurations (LoRA first, then full fine-tuning)."""
        from contested.train import RecordConfig, RunConfig, TrainConfig

        data = DataConfig(dataset=self.dataset, bulk=self.bulk)
        record = RecordConfig(snapshot_every=self.snapshot_every)
        methods = [
            (MethodConfig(method="lora", rank=self.lora_rank), self.lora_lr),
            (MethodConfig(method="full"), self.full_lr),
        ]
        return [
            RunConfig(model=self.model, method=method, data=data, record=record,
                      train=TrainConfig(lr=lr, epochs=self.epochs, seed=self.seed))
            for method, lr in methods
        ]


@dataclasses.dataclass(frozen=True)
class DemoResult:
    """What the demo produced: one summary row per method, the paired LoRA − full FT difference in ρ
    (``paired``: ``rho_a`` LoRA, ``rho_b`` full, ``diff``, ``ci_low``, ``ci_high``, ``p_value``), the
    LoRA − full FT differences at matched learning (``matched``: one row per metric, columns of
    ``docs/report.md``, ``matched``) and where everything lives."""

    summary: pd.DataFrame
    paired: pd.DataFrame
    run_dirs: list[Path]
    analysis_dir: Path
    report: Path
    matched: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)


def summarise(analysis: Any) -> pd.DataFrame:
    """One row per run: accuracies, ρ(H, AULC) with its CI, Δℓ and un-learning shares by bin.

    Parameters
    ----------
    analysis
        A :class:`contested.report.analysis.Analysis` of the demo's runs.

    Returns
    -------
    pandas.DataFrame
        ``method, rank, lr, heldout_accuracy, val_accuracy, majority_rate, n, rho, ci_low,
        ci_high, p_value, partial_rho, mean_delta_clean, mean_delta_contested (nats),
        share_unlearned_clean, share_unlearned_contested, n_snapshots, wall_time_s``.
    """
    stats = analysis.run_stats
    stats = stats[(stats["measurement"] == "snapshot") & (stats["metric"] == "aulc")]
    keep = ["run_id", "n", "rho", "ci_low", "ci_high", "p_value", "partial_rho",
            "mean_delta_clean", "mean_delta_contested", "share_unlearned_clean",
            "share_unlearned_contested"]
    runs = analysis.runs_table[["run_id", "method", "rank", "lr", "heldout_accuracy", "val_accuracy",
                                "majority_rate", "n_snapshots", "wall_time_s"]]
    return runs.merge(stats[keep], on="run_id", how="left").drop(columns="run_id")


def run_demo(config: DemoConfig, *, progress: bool = True, force: bool = False) -> DemoResult:
    """Train both runs (skipping finished ones), analyse them and write the report.

    Parameters
    ----------
    config
        The demo's scale and output folder.
    progress
        Show rich progress bars.
    force
        Retrain runs that are already finished.

    Returns
    -------
    DemoResult
    """
    from contested.report.analysis import analyze, write_analysis
    from contested.report.html import write_report
    from contested.report.runs import load_runs
    from contested.train import run

    out = Path(config.out)
    run_dirs = [run(cfg, runs_dir=out / "runs", force=force, progress=progress)
                for cfg in config.run_configs()]
    analysis = analyze(load_runs(run_dirs, logits=True), n_boot=config.n_boot, seed=config.seed)
    analysis_dir = out / "analysis"
    write_analysis(analysis, analysis_dir)
    report = write_report(analysis, out / "report", title="contested demo: LoRA vs full fine-tuning")
    return DemoResult(summary=summarise(analysis), paired=analysis.paired, run_dirs=run_dirs, analysis_dir=analysis_dir,
                      report=Path(os.path.abspath(report)), matched=analysis.matched)
