"""Small synthetic tables that follow docs/ARCHITECTURE.md, for the report tests.

Temporary stand-in until ``contested.dynamics.simulate`` lands; the report only relies on the
column contracts, so any table with those columns exercises it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

THRESHOLDS = (0.4, 0.7)


def items(n: int = 240, *, seed: int = 0) -> pd.DataFrame:
    """An item table with entropy (nats) spread over the three study bins."""
    rng = np.random.default_rng(seed)
    entropy = rng.beta(2.2, 1.6, size=n) * math.log(3)
    bins = np.where(entropy < 0.4, "clean", np.where(entropy < 0.7, "ambiguous", "contested"))
    df = pd.DataFrame({
        "item_id": [f"i{i:04d}" for i in range(n)],
        "entropy": entropy,
        "bin": pd.Categorical(bins, categories=["clean", "ambiguous", "contested"]),
        "label_dist": [[1 / 3, 1 / 3, 1 / 3]] * n,
        "training_label": rng.integers(0, 3, size=n),
        "premise_len": rng.integers(5, 30, size=n),
        "hypothesis_len": rng.integers(3, 12, size=n),
        "split": "tracked",
    })
    df["total_len"] = df["premise_len"] + df["hypothesis_len"]
    df.attrs["label_names"] = ["entailment", "neutral", "contradiction"]
    return df


def dynamics(items_df: pd.DataFrame, *, run_id: str = "run0", steps: int = 12, seed: int = 0) -> pd.DataFrame:
    """Loss trajectories: clean items fall, contested items fall then rise (nats)."""
    rng = np.random.default_rng(seed)
    step = np.arange(steps) * 100
    progress = step / step[-1]
    rows = []
    for item_id, h in zip(items_df["item_id"], items_df["entropy"], strict=True):
        floor = 0.15 + 0.9 * h
        rise = max(h - 0.7, 0) * 1.5 * progress**2
        loss = floor + (math.log(3) - floor) * np.exp(-4 * progress) + rise
        loss = np.clip(loss + rng.normal(0, 0.05, size=steps), 0.01, None)
        rows.append(pd.DataFrame({
            "run_id": run_id, "item_id": item_id, "split": "tracked", "step": step,
            "epoch": progress * 3, "progress": progress, "measurement": "snapshot",
            "loss": loss.astype("float32"), "p_label": np.exp(-loss).astype("float32"),
            "predicted": 0, "label_used": 0, "is_noisy": False,
        }))
    return pd.concat(rows, ignore_index=True)


def item_metrics(items_df: pd.DataFrame, dyn: pd.DataFrame) -> pd.DataFrame:
    """The per-item metrics columns the figures and tables read."""
    g = dyn.sort_values("step").groupby(["run_id", "item_id"])
    out = pd.DataFrame({
        "aulc": g["loss"].mean(),
        "initial_loss": g["loss"].first(),
        "final_loss": g["loss"].last(),
        "confidence": g["p_label"].mean(),
        "variability": g["p_label"].std(ddof=0),
    }).reset_index()
    out["delta_loss"] = out["final_loss"] - out["initial_loss"]
    out["unlearned"] = out["delta_loss"] > 0
    out["measurement"] = "snapshot"
    out["split"] = "tracked"
    out = out.merge(items_df[["item_id", "entropy", "bin"]], on="item_id")
    out.attrs["label_names"] = items_df.attrs.get("label_names")
    return out


def run_stats(*, seed: int = 0) -> pd.DataFrame:
    """Per-run statistics for a small grid: 2 models × (LoRA r ∈ {1,4,16}, full) × 3 seeds."""
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
