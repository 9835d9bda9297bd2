"""``contested diagnose FILE``: the practitioner's job in one command, on their own items.

LoRA and full fine-tuning of a small model on the user's (multi-annotator or single-label) items
with CPU-sized defaults and no bulk data: a stratified share of the items is held out (never
trained on) and its accuracy says whether the task was learnt. The early warning is on in both
runs; then the analysis (:func:`contested.report.analysis.analyze`), the flagged items of each run
(:func:`contested.report.early.flag_table`) and the HTML report, all with the task's label names.

``DiagnoseConfig`` is torch-free (the CLI reads its schema); :func:`run_diagnose` imports the
training layer when it runs.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from contested.config import Config, Range, configclass, nonempty, option
from contested.data import DataConfig, load_items
from contested.errors import ContestedError
from contested.io import write_table
from contested.models.config import MethodConfig
from contested.train.early_config import EarlyWarningConfig

METHODS = ("lora", "full")
DEVICES = ("auto", "cpu", "cuda", "mps")


def _methods(value: tuple[str, ...]) -> str | None:
    bad = [m for m in value if m not in METHODS]
    if bad or not value or len(set(value)) != len(value):
        return f"must be one or both of {', '.join(METHODS)}, each once (got {', '.join(value) or 'none'})"
    return None


@configclass
class DiagnoseConfig(Config):
    """What ``contested diagnose`` trains and writes; every field is a flag."""

    section = "diagnose"

    model: str = option("minilm-l6", check=nonempty, hint="e.g. minilm-l6 or a model folder",
                        help="Model registry name, HF id or local folder (default: the offline MiniLM-L6 encoder).")
    methods: tuple[str, ...] = option(METHODS, check=_methods, hint="e.g. --methods lora",
                                      help="Fine-tuning methods to run and compare: lora, full or both.")
    lora_rank: int = option(4, check=Range(ge=1), help="LoRA rank (alpha = 2r).")
    lora_lr: float = option(2e-3, check=Range(gt=0), help="Peak learning rate of the LoRA run (CPU scale).")
    full_lr: float = option(1e-4, check=Range(gt=0), help="Peak learning rate of the full fine-tuning run.")
    epochs: int = option(5, check=Range(ge=1), help="Passes over your training items.")
    batch_size: int = option(16, check=Range(ge=1), help="Items per optimiser step.")
    snapshots: int = option(30, check=Range(ge=2),
                            help="Eval-mode snapshots over training besides step 0 (sets the snapshot interval).")
    validation_share: float = option(
        0.2, check=Range(gt=0, lt=1), hint="e.g. 0.2",
        help="Share of your items held out (stratified by entropy bin), never trained on: their accuracy "
             "says whether the task was learnt.")
    max_items: int | None = option(None, check=Range(ge=3),
                                   help="Cap on trained items (stratified subsample), for a quick look.")
    max_length: int = option(128, check=Range(ge=8), help="Tokens per item after truncation.")
    seed: int = option(42, help="Run seed (head, adapter init, batch order) and of the held-out split.")
    device: str = option("auto", choices=DEVICES, help="auto (cuda, then mps, then cpu), cpu, cuda or mps.")
    early_window: float = option(
        0.2, check=Range(gt=0, le=1), hint="0.05, 0.1, 0.2 or 0.4 with the default predictor",
        help="Share of training the early warning reads before it names the items at risk.")
    early_predictor: str | None = option(
        None, check=nonempty, help="Early-warning predictor file (`contested early fit`); default: the shipped "
                                   "one, fitted on the project's MiniLM-L6 ChaosNLI-SNLI runs.")
    n_boot: int = option(2_000, check=Range(ge=1), help="Bootstrap resamples of each confidence interval.")
    top: int = option(15, check=Range(ge=0), help="Flagged items printed per method (the CSV files hold all).")
    data_dir: str | None = option(None, check=nonempty,
                                  help="Data folder for registry names (default $CONTESTED_DATA_DIR, then the cache).")
    out: str = option("diagnose-out", check=nonempty,
                      help="Output folder: runs/, analysis/, report/, flagged-<method>.csv and summary.csv.")

    def early_warning(self) -> EarlyWarningConfig:
        """The early-warning options of both runs (always on)."""
        return EarlyWarningConfig(warning=True, window=self.early_window, predictor=self.early_predictor)

    def snapshot_every(self, n_items: int) -> int:
        """Optimiser steps between snapshots for ``n_items`` items: about :attr:`snapshots` over training."""
        n_train = round(n_items * (1 - self.validation_share))
        if self.max_items is not None:
            n_train = min(n_train, self.max_items)
        total = math.ceil(max(n_train, 1) / self.batch_size) * self.epochs
        return max(1, total // self.snapshots)

    def run_configs(self, dataset: str, *, n_items: int) -> list[Any]:
        """One :class:`~contested.train.config.RunConfig` per method, in :attr:`methods` order."""
        from contested.train.config import RecordConfig, RunConfig, TrainConfig

        data = DataConfig(dataset=dataset, bulk=0, heldout=0, tracked_fraction=1 - self.validation_share,
                          split_seed=self.seed, max_tracked=self.max_items, data_dir=self.data_dir)
        record = RecordConfig(snapshot_every=self.snapshot_every(n_items), heldout_eval=False)
        out = []
        for name in self.methods:
            method = MethodConfig(method="lora", rank=self.lora_rank) if name == "lora" else MethodConfig(method="full")
            train = TrainConfig(lr=self.lora_lr if name == "lora" else self.full_lr, epochs=self.epochs,
                                batch_size=self.batch_size, seed=self.seed, device=self.device,
                                max_length=self.max_length)
            out.append(RunConfig(model=self.model, method=method, data=data, train=train, record=record))
        return out


@dataclasses.dataclass(frozen=True)
class DiagnoseResult:
    """What ``diagnose`` produced.

    Attributes
    ----------
    summary
        One row per method: ``method, lr, val_accuracy, majority_rate, n_tracked, at_risk`` (early
        warning), ``unlearned`` (observed, Δℓ > 0), ``at_risk_unlearned``, ``precision``, ``recall``
        (of the early warning against what happened), ``rho`` (Spearman entropy–AULC, NaN
        without annotation entropy).
    flagged
        Method → :func:`contested.report.early.flag_table` of its run.
    label_names
        The task's class names.
    """

    dataset: str
    summary: pd.DataFrame
    flagged: dict[str, pd.DataFrame]
    label_names: list[str]
    run_dirs: list[Path]
    out: Path
    analysis_dir: Path | None
    report: Path | None
    risk_source: str
    notes: tuple[str, ...] = ()


def check_items(items: pd.DataFrame, dataset: str) -> None:
    """Stop, before anything is written, on data a diagnosis cannot use (one line)."""
    names = list(items.attrs.get("label_names", []))
    present = np.unique(items["majority_label"].to_numpy(dtype=np.int64))
    if len(names) < 2 or len(present) < 2:
        raise ContestedError(f"{dataset}: the items use {len(present)} class(es) ({', '.join(map(str, names)) or '-'}); "
                             "a diagnosis needs at least two")
    if len(items) < 10:
        raise ContestedError(f"{dataset}: {len(items)} items; a diagnosis needs at least 10 (some are held out)")


def run_diagnose(dataset: str, config: DiagnoseConfig, *, progress: bool = True, force: bool = False) -> DiagnoseResult:
    """Fine-tune, warn early, analyse, flag and report on one dataset (a file or a registry name).

    Parameters
    ----------
    dataset
        Any name or file :func:`contested.data.load_items` reads (``my_votes.csv``,
        ``lewidi-md-agreement:train``, …).
    config
        Scale, methods and output folder.
    progress
        Show rich progress bars.
    force
        Retrain finished runs.

    Raises
    ------
    ContestedError
        Unreadable or unusable data, a bad predictor file: one line, before anything is written.
    """
    from contested.report.early import flag_table
    from contested.report.runs import load_runs
    from contested.train.pipeline import run

    items = load_items(dataset, data_dir=config.data_dir)
    check_items(items, dataset)
    early = config.early_warning()
    early.load_predictor()  # a bad predictor file stops here
    label_names = [str(n) for n in items.attrs["label_names"]]
    out = Path(config.out)
    configs = config.run_configs(dataset, n_items=len(items))
    run_dirs = [run(cfg, runs_dir=out / "runs", force=force, progress=progress, early_warning=early)
                for cfg in configs]
    runs = load_runs(run_dirs, logits=True)
    by_id = {r.run_id: r for r in runs}
    ordered = [by_id[cfg.digest()] for cfg in configs]
    analysis_dir, report, notes, rho = _analyse(runs, items, config, dataset, out)
    flagged, rows, source = {}, [], ""
    for cfg, r in zip(configs, ordered, strict=True):
        name = cfg.method.method
        table, source = flag_table(r, split="tracked", include_all=True)
        flagged[name] = table[table["status"] != ""].reset_index(drop=True)
        write_table(flagged[name], out / f"flagged-{name}.csv")
        rows.append(_summary_row(name, cfg, r, table, rho.get(r.run_id, math.nan)))
    summary = pd.DataFrame(rows)
    write_table(summary, out / "summary.csv")
    return DiagnoseResult(dataset=dataset, summary=summary, flagged=flagged, label_names=label_names,
                          run_dirs=[r.path for r in ordered], out=out, analysis_dir=analysis_dir,
                          report=None if report is None else Path(os.path.abspath(report)),
                          risk_source=source, notes=tuple(notes))


def _analyse(runs: list[Any], items: pd.DataFrame, config: DiagnoseConfig, dataset: str,
             out: Path) -> tuple[Path | None, Path | None, list[str], dict[str, float]]:
    """Analysis and report when the items have annotation entropy that varies; notes otherwise."""
    from contested.report.analysis import analyze, write_analysis
    from contested.report.html import write_report

    entropy = pd.to_numeric(items.get("entropy"), errors="coerce") if "entropy" in items else None
    if entropy is None or entropy.isna().all() or float(np.nanmax(entropy) - np.nanmin(entropy)) == 0.0:
        return None, None, ["every item has the same annotation entropy (single-label data?): the entropy "
                            "statistics and the report are skipped; the early warning and the flagged items "
                            "need no annotations"], {}
    analysis = analyze(runs, n_boot=config.n_boot, seed=config.seed)
    write_analysis(analysis, out / "analysis")
    report = write_report(analysis, out / "report", title=f"contested diagnose: {Path(dataset).name}")
    stats = analysis.run_stats
    stats = stats[(stats["measurement"] == "snapshot") & (stats["metric"] == "aulc")]
    return out / "analysis", report, list(analysis.notes), dict(zip(stats["run_id"], stats["rho"], strict=True))


def _summary_row(name: str, cfg: Any, run: Any, table: pd.DataFrame, rho: float) -> dict[str, Any]:
    final = run.metrics.get("final") or {}
    val = run.items[run.items["split"] == "validation"]["training_label"] if "split" in run.items else pd.Series()
    at_risk, unlearned = table["at_risk"].astype(bool), table["unlearned"].astype(bool)
    both = int((at_risk & unlearned).sum())
    return {
        "method": name, "lr": cfg.train.lr, "val_accuracy": final.get("val_accuracy"),
        "majority_rate": float(val.value_counts(normalize=True).max()) if len(val) else math.nan,
        "n_tracked": len(table), "at_risk": int(at_risk.sum()), "unlearned": int(unlearned.sum()),
        "at_risk_unlearned": both, "precision": both / int(at_risk.sum()) if at_risk.any() else math.nan,
        "recall": both / int(unlearned.sum()) if unlearned.any() else math.nan, "rho": rho,
    }


__all__ = ["DiagnoseConfig", "DiagnoseResult", "check_items", "run_diagnose"]
