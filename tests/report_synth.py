"""Fake run directories and per-run statistics for the report tests.

Run directories follow the layout of docs/ARCHITECTURE.md (config.json, env.json, items.parquet,
dynamics.parquet, metrics.json, DONE) with dynamics from ``contested.dynamics.simulate_dynamics``,
so the report is exercised through the same file contract that real training runs write.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from contested.dynamics import simulate_dynamics, simulate_items
from contested.io import write_json, write_table, write_text

LABELS = ["entailment", "neutral", "contradiction"]


def items(n: int = 200, *, seed: int = 0, validation: float = 0.2) -> pd.DataFrame:
    """Simulated item table with a tracked / validation split (every 5th item validates)."""
    df = simulate_items(n, seed=seed)
    df["split"] = np.where(np.arange(n) % round(1 / validation) == 0, "validation", "tracked")
    return df


def run_config(*, model: str, method: str, rank: int, seed: int, noise_rate: float = 0.0) -> dict:
    """A config.json in the shape of ``RunConfig.to_dict()`` (only the fields the report reads vary)."""
    return {
        "model": model,
        "method": {"method": method, "rank": rank, "alpha": None, "dropout": 0.05},
        "data": {"dataset": "simulated-snli", "bulk": 2000, "training_label": "majority",
                 "noise": {"rate": noise_rate, "kind": "symmetric", "bins": ["clean"], "seed": seed}},
        "train": {"lr": 1e-3 if method == "lora" else 1e-4, "seed": seed, "epochs": 3, "soft_labels": False},
        "record": {"snapshot_every": 100},
    }


def fake_run_dir(root: Path, item_table: pd.DataFrame, *, model: str = "sim-model", method: str = "lora",
                 rank: int = 4, seed: int = 42, rho: float = 0.3, noise_rate: float = 0.0,
                 total_steps: int = 600, epochs: int = 3) -> Path:
    """Write one finished run directory; return it."""
    run_id = f"{model}-{method}{rank if method == 'lora' else ''}-s{seed}-n{noise_rate:g}"
    dyn = simulate_dynamics(item_table, rho=rho, method=method, seed=seed, run_id=run_id,
                            total_steps=total_steps, epochs=epochs, noise_fraction=noise_rate)
    path = root / run_id
    path.mkdir(parents=True)
    write_table(item_table, path / "items.parquet")
    write_table(dyn, path / "dynamics.parquet")
    write_json(path / "config.json", run_config(model=model, method=method, rank=rank, seed=seed,
                                                noise_rate=noise_rate))
    write_json(path / "env.json", {"packages": {"contested": "0.1.0"}, "git_commit": "abc123",
                                   "python": "3.11", "seeds": {"train": seed}, "run_id": run_id})
    snap = dyn[(dyn["measurement"] == "snapshot") & (dyn["split"] == "validation")]
    last = snap[snap["step"] == snap["step"].max()]
    final = {"epoch": epochs, "step": int(last["step"].max()), "val_loss": float(last["loss"].mean()),
             "val_accuracy": float((last["predicted"] == last["label_used"]).mean()),
             "heldout_accuracy": 0.7}
    write_json(path / "metrics.json", {
        "run_id": run_id, "epochs": [final], "final": final, "total_steps": total_steps,
        "n_snapshots": int(dyn.loc[dyn["measurement"] == "snapshot", "step"].nunique()),
        "label_names": LABELS, "wall_time_s": 1.0, "n_heldout": 500,
    })
    write_text(path / "DONE", "")
    return path


def sweep(root: Path, *, n: int = 150, seeds: tuple[int, ...] = (42, 123), ranks: tuple[int, ...] = (4,),
          full: bool = True, noise: tuple[float, ...] = ()) -> list[Path]:
    """Fake runs of one model: LoRA per rank, full FT, and noise runs of LoRA r=4, per seed."""
    table = items(n)
    dirs = []
    for seed in seeds:
        for rank in ranks:
            dirs.append(fake_run_dir(root, table, method="lora", rank=rank, seed=seed, rho=0.2 + 0.03 * math.log2(rank)))
        if full:
            dirs.append(fake_run_dir(root, table, method="full", seed=seed, rho=0.1))
        for rate in noise:
            dirs.append(fake_run_dir(root, table, method="lora", rank=4, seed=seed, rho=0.3, noise_rate=rate))
    return dirs


def run_stats(*, seed: int = 0) -> pd.DataFrame:
    """Hand-made per-run statistics: 2 models × (LoRA r ∈ {1, 4, 16}, full) × 3 seeds."""
    rng = np.random.default_rng(seed)
    rows = []
    for model, base in (("minilm-l6", 0.25), ("roberta-base", 0.31)):
        for method, rank in (("lora", 1), ("lora", 4), ("lora", 16), ("full", None)):
            for s in (42, 123, 456):
                rho = base + (0.02 * math.log2(rank) if rank else -0.15) + rng.normal(0, 0.015)
                rows.append({
                    "run_id": f"{model}-{method}{rank or ''}-{s}", "metric": "aulc", "n": 1211,
                    "rho": rho, "p_value": 1e-10, "ci_low": rho - 0.05, "ci_high": rho + 0.05,
                    "kendall_tau": rho * 0.7, "kendall_p": 1e-9, "partial_rho": rho - 0.01,
                    "partial_p": 1e-9, "partial_df": 1206,
                    "mean_delta_clean": -0.4 + rng.normal(0, 0.02),
                    "mean_delta_ambiguous": -0.2 + rng.normal(0, 0.02),
                    "mean_delta_contested": (0.02 if method == "lora" else -0.3) + rng.normal(0, 0.02),
                    "share_unlearned_clean": 0.2, "share_unlearned_ambiguous": 0.3,
                    "share_unlearned_contested": 0.4 if method == "lora" else 0.15,
                    "model": model, "method": method, "rank": rank, "dataset": "chaosnli-snli", "seed": s,
                })
    return pd.DataFrame(rows)
