"""Simulated runs for the early warning: a planted-signal check and the simulator's runs.

:func:`simulate_planted` makes runs in which a known share of items un-learns (its loss ends above
its step-0 loss) and, with ``signal > 0``, those items carry a planted early rise of
``signal × 0.35`` nats during the first 5 % of training. With ``signal = 0`` nothing before
progress 0.5 depends on whether an item will un-learn, so no leakage-free predictor can beat
chance (AUROC 0.5): the tests check both. With ``n_classes = K`` every loss is that of the 3-class
run with the same seed times ln K / ln 3 (the same dynamics in units of ln K), so the loss
features of :func:`contested.dynamics.early.early_features` (nats / ln K) coincide across K.

:func:`simulator_runs` are the project simulator's runs (:func:`simulate_dynamics`: LoRA, IA³ and
full fine-tuning on 1,211 ChaosNLI-like items), on which the first shipped default predictor was
fitted; the default is now fitted on real MiniLM-L6 runs (``docs/early/make.sh``), and these runs
only describe the simulator (``docs/early_warning.md``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa

from contested.dynamics.early import RunData
from contested.dynamics.simulate import simulate_dynamics, simulate_items

#: Loss (nats) added by a planted early signal of strength 1, reached at progress PLANTED_BY.
PLANTED_RISE = 0.35
PLANTED_BY = 0.05
#: Un-learning starts after every evaluated window (the largest is 0.4).
LATE_START = 0.5
DECAY = 0.12  # progress constant of the initial loss drop
SNAPSHOT_SD, INFLIGHT_SD = 0.08, 0.2  # multiplicative (log-scale) noise of eval / training-mode losses


def simulate_planted(n_items: int = 1000, *, n_runs: int = 3, signal: float = 1.0, seed: int = 0,
                     unlearn_share: float = 0.3, total_steps: int = 1000, epochs: int = 5,
                     snapshot_every: int = 25, inflight: bool = True, n_classes: int = 3) -> list[RunData]:
    """Runs with a known un-learnt set and an optional planted early signal.

    Parameters
    ----------
    n_items
        Items per run (3-class, ChaosNLI-like entropies from :func:`simulate_items`; entropy is
        unrelated to un-learning here).
    n_runs
        Runs, each with its own draw of which items un-learn.
    signal
        Strength of the planted early rise of the un-learning items (0: none).
    seed
        Seed of every draw.
    unlearn_share
        Expected share of items that un-learn.
    total_steps, epochs, snapshot_every
        Schedule: snapshots at step 0, every ``snapshot_every`` steps and the last step.
    inflight
        Also one in-flight (training-mode) row per item per epoch.
    n_classes
        Classes K (≥ 2): losses are the 3-class run's × ln K / ln 3; with K ≠ 3 the item table's
        majority label is taken modulo K and its entropy scaled by ln K / ln 3 (same share of
        the maximum), and its other label columns are dropped.

    Returns
    -------
    list of RunData
        Run ids ``planted-<r>``; dynamics tables with logits; the shared item table.
    """
    if int(n_classes) != n_classes or n_classes < 2:
        raise ValueError(f"simulate_planted: n_classes must be an integer ≥ 2, got {n_classes!r}")
    n_classes = int(n_classes)
    unit = math.log(n_classes) / math.log(3)  # the 3-class dynamics in units of ln K (1.0 for K = 3)
    items = simulate_items(n_items, seed=seed)
    if n_classes != 3:
        items = pd.DataFrame({"item_id": items["item_id"], "split": items["split"],
                              "majority_label": items["majority_label"] % n_classes,
                              "entropy": items["entropy"] * unit})
    steps = np.unique(np.append(np.arange(0, total_steps, snapshot_every), total_steps))
    runs = []
    for r in range(n_runs):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7, r)))
        unlearn = rng.random(n_items) < unlearn_share
        loss0 = math.log(3) + 0.08 * rng.standard_normal(n_items)
        floor = rng.uniform(0.15, 0.8, n_items)
        rise = np.where(unlearn, loss0 - floor + rng.uniform(0.4, 0.8, n_items), 0.0)
        bump = signal * PLANTED_RISE * unlearn

        def curve(prog: np.ndarray, floor=floor, loss0=loss0, rise=rise, bump=bump) -> np.ndarray:
            late = np.clip((prog - LATE_START) / (1 - LATE_START), 0, 1) ** 1.5
            early = np.clip(prog / PLANTED_BY, 0, 1)
            return (floor[:, None] + (loss0 - floor)[:, None] * np.exp(-prog / DECAY)
                    + rise[:, None] * late + bump[:, None] * early)

        prog = np.tile(steps / total_steps, (n_items, 1))
        loss = curve(prog) * unit * np.exp(SNAPSHOT_SD * rng.standard_normal(prog.shape))
        share = rng.uniform(0.25, 0.75, n_items)
        label = items["majority_label"].to_numpy(dtype=np.int64)
        parts = [_rows(items["item_id"].to_numpy(), label, share, np.tile(steps, (n_items, 1)), loss,
                       total_steps, epochs, "snapshot", n_classes)]
        if inflight:
            spe = total_steps / epochs
            at = np.minimum(np.arange(epochs)[None, :] * spe + rng.integers(1, int(spe) + 1, (n_items, epochs)),
                            total_steps).astype(np.int64)
            in_loss = curve(at / total_steps) * unit * np.exp(INFLIGHT_SD * rng.standard_normal(at.shape))
            parts.append(_rows(items["item_id"].to_numpy(), label, share, at, in_loss, total_steps, epochs,
                               "inflight", n_classes))
        dyn = pd.concat(parts, ignore_index=True)
        dyn.insert(0, "run_id", f"planted-{r}")
        runs.append(RunData(f"planted-{r}", dyn, items))
    return runs


def _rows(ids: np.ndarray, label: np.ndarray, share: np.ndarray, step: np.ndarray, loss: np.ndarray,
          total: int, epochs: int, kind: str, k: int = 3) -> pd.DataFrame:
    """Long rows for an (items × checkpoints) block of a ``k``-class run; logits are log-probabilities."""
    n, t = loss.shape
    p = np.exp(-loss)
    probs = np.empty((n, t, k))
    rows = np.arange(n)
    probs[rows, :, label] = p
    if k == 2:
        probs[rows, :, (label + 1) % 2] = 1 - p
    else:  # the next class gets `share` of the rest, the others split what remains
        probs[rows, :, (label + 1) % k] = (1 - p) * share[:, None]
        for j in range(2, k):
            probs[rows, :, (label + j) % k] = (1 - p) * (1 - share)[:, None] / (k - 2)
    logits = np.log(np.maximum(probs, 1e-12)).astype(np.float32).reshape(-1)
    offsets = np.arange(0, k * n * t + 1, k, dtype=np.int32)
    flat = step.reshape(-1)
    return pd.DataFrame({
        "item_id": np.repeat(ids, t), "split": "tracked", "step": flat, "epoch": flat * epochs / total,
        "progress": flat / total, "measurement": kind, "loss": loss.reshape(-1).astype(np.float32),
        "logits": pd.arrays.ArrowExtensionArray(pa.ListArray.from_arrays(offsets, logits)),
        "p_label": p.reshape(-1).astype(np.float32), "predicted": probs.argmax(axis=2).reshape(-1),
        "label_used": np.repeat(label, t), "is_noisy": False,
    })


def simulator_runs() -> list[RunData]:
    """The project simulator's runs (LoRA ×2 seeds, IA³, full FT; 1,211 items): the first default's training runs."""
    items = simulate_items(1211, seed=0)
    grid = [("lora", 1, 0.3), ("lora", 2, 0.3), ("ia3", 1, 0.15), ("full", 1, 0.1)]
    return [RunData(f"sim-{m}-{s}", simulate_dynamics(items, rho=rho, method=m, seed=s, run_id=f"sim-{m}-{s}"),
                    items) for m, s, rho in grid]


__all__ = ["simulate_planted", "simulator_runs"]
