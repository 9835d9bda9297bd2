"""Seeded simulator of item tables and dynamics tables with a known entropy–AULC correlation.

Used by the tests (the pipeline must recover the ρ it was given), by benchmarks and by the
report's offline examples. Nothing here is a model of training; it produces tables that obey
the contracts of docs/ARCHITECTURE.md and have the qualitative shape the study reports.

How a run is generated (per item i, checkpoint progress p ∈ [0, 1]):

* Entropies: 100 simulated votes per item from a majority share ``0.34 + 0.66·Beta(2.2, 1.3)``
  and a runner-up share ``(1 − m)·(0.5 + 0.5·Beta(2, 0.4))``; this reproduces ChaosNLI-SNLI's
  entropy quantiles (0.20/0.39/0.57/0.69/0.81 nats at 10/25/50/75/90 %, real
  0.22/0.40/0.58/0.69/0.82) and its bin shares (≈ 26/51/23 % clean/ambiguous/contested).
* A latent difficulty ``z = r·h + √(1−r²)·(√s·v + √(1−s)·e)``, where ``h`` = normal scores of
  entropy, ``v`` an item effect shared by all runs (``item_seed``), ``e`` a run effect, ``s`` =
  ``seed_stability`` and ``r = 2 sin(πρ/6)`` (for a bivariate normal, Spearman = (6/π)·asin(r/2),
  so the population Spearman ρ(entropy, z) is exactly ``rho``).
* Target AULC ``a = 0.55·exp(0.4 z)`` nats (monotone in z, so ρ(entropy, AULC) = ρ(entropy, z)).
* Loss curve ``ℓ(p) = c + (ℓ0 − c)·exp(−p/0.12) + u·ramp(p)`` with ``ℓ0 ≈ ln K`` (untrained head),
  ``ramp`` rising from p = 0.35 to 1, and an un-learning amplitude ``u`` that grows with entropy
  above 0.45 nats, scaled by the method (LoRA 0.6, IA³ 0.15, full FT 0). ``c`` is solved so the
  mean over the snapshot grid equals ``a`` exactly; per-checkpoint noise is centred per item so it
  leaves the mean unchanged (multiplicative, rescaled per item).
* Noise injection flips ``noise_fraction`` of the clean items: they keep being tracked against
  their original label (``is_noisy = True``), their AULC rises by 0.4 nats and they un-learn.
* In-flight rows: one training-mode loss per item per epoch at a random step of that epoch, with
  extra dropout-like noise.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from contested.data.entropy import assign_bins
from contested.dynamics.simulate_curves import (
    AULC_LATENT_SLOPE,
    AULC_SCALE,
    INITIAL_LOSS_RANGE,
    INITIAL_LOSS_SD,
    NUM_CLASSES,
    OTHER_SHARE_RANGE,
    UNLEARNING_AMPLITUDE,
    fit_floor,
    flip_clean_items,
    inflight_losses,
    latent_difficulty,
    long_rows,
    loss_curve,
    run_stream,
    snapshot_losses,
    unlearning_rise,
)
from contested.errors import ContestedError


def simulate_items(
    n: int = 1211,
    *,
    seed: int = 0,
    n_annotators: int = 100,
    dataset: str = "simulated-snli",
) -> pd.DataFrame:
    """Simulate a 3-class NLI item table with ChaosNLI-like annotation entropies.

    Parameters
    ----------
    n
        Number of items.
    seed
        Seed of every random draw.
    n_annotators
        Votes per item.
    dataset
        Stored in ``source`` and ``df.attrs["dataset"]``.

    Returns
    -------
    pandas.DataFrame
        The item table of docs/ARCHITECTURE.md (``item_id, premise, hypothesis, label_counts,
        n_annotators, label_dist, entropy`` (nats) ``, bin, majority_label, majority_share,
        old_label, premise_len, hypothesis_len, total_len, source``) plus ``split = "tracked"``
        and ``training_label`` (= majority label).
    """
    if n < 3:
        raise ContestedError(f"simulate_items: n={n} is too small; use n >= 3")
    rng = np.random.default_rng(seed)
    major = 0.34 + 0.66 * rng.beta(2.2, 1.3, n)
    second = (1 - major) * (0.5 + 0.5 * rng.beta(2.0, 0.4, n))
    shares = np.stack([major, second, np.clip(1 - major - second, 0, None)], axis=1)
    # ChaosNLI-SNLI majority labels are 28 % entailment, 54 % neutral, 18 % contradiction.
    top = rng.choice(3, size=n, p=[0.28, 0.54, 0.18])
    runner = (top + rng.integers(1, 3, n)) % 3
    probs = np.zeros((n, 3))
    rows = np.arange(n)
    probs[rows, top] = shares[:, 0]
    probs[rows, runner] = shares[:, 1]
    probs[rows, 3 - top - runner] = shares[:, 2]
    counts = rng.multinomial(n_annotators, probs / probs.sum(axis=1, keepdims=True))
    dist = counts / n_annotators
    entropy = -np.sum(dist * np.log(np.where(dist > 0, dist, 1.0)), axis=1)
    majority = np.argmax(counts, axis=1)  # argmax: ties → lowest class index, as the data layer
    prem = np.maximum(1, np.round(rng.lognormal(2.593, 0.434, n))).astype(np.int64)
    hyp = np.maximum(1, np.round(rng.lognormal(1.983, 0.44, n))).astype(np.int64)
    width = len(str(n - 1))
    items = pd.DataFrame(
        {
            "item_id": [f"sim-{i:0{width}d}" for i in range(n)],
            "premise": [" ".join(["word"] * k) for k in prem],
            "hypothesis": [" ".join(["word"] * k) for k in hyp],
            "label_counts": list(counts),
            "n_annotators": n_annotators,
            "label_dist": list(dist),
            "entropy": entropy,
            "bin": assign_bins(entropy, num_classes=3),
            "majority_label": majority,
            "majority_share": dist.max(axis=1),
            "old_label": pd.array([pd.NA] * n, dtype="Int64"),
            "premise_len": prem,
            "hypothesis_len": hyp,
            "total_len": prem + hyp,
            "source": dataset,
            "split": "tracked",
            "training_label": majority,
        }
    )
    items.attrs["label_names"] = ["entailment", "neutral", "contradiction"]
    items.attrs["dataset"] = dataset
    return items


def snapshot_steps(total_steps: int, *, epochs: int, every: int) -> np.ndarray:
    """Optimiser steps of the study's snapshots.

    Parameters
    ----------
    total_steps
        Optimiser steps of the whole run.
    epochs
        Number of epochs (an epoch end is a snapshot).
    every
        Snapshot interval in steps.

    Returns
    -------
    numpy.ndarray
        Sorted unique int64 steps: 0, every ``every`` steps, and each epoch end.
    """
    ends = np.round(np.arange(1, epochs + 1) * total_steps / epochs).astype(np.int64)
    return np.unique(np.concatenate([np.arange(0, total_steps, every), ends]))


def simulate_dynamics(
    items: pd.DataFrame,
    *,
    rho: float = 0.3,
    method: str = "lora",
    seed: int = 0,
    run_id: str | None = None,
    item_seed: int = 0,
    seed_stability: float = 0.8,
    total_steps: int = 3315,
    epochs: int = 5,
    snapshot_every: int = 100,
    inflight: bool = True,
    noise_fraction: float = 0.0,
) -> pd.DataFrame:
    """Simulate one run's dynamics table whose AULC has Spearman ``rho`` with entropy.

    Parameters
    ----------
    items
        Item table with ``item_id``, ``entropy`` (nats), ``majority_label``; ``split`` and
        ``bin`` are used when present (e.g. from :func:`simulate_items`).
    rho
        Population Spearman ρ(entropy, AULC), in (−1, 1).
    method
        ``"lora"``, ``"ia3"`` or ``"full"``: sets the un-learning amplitude of contested items.
    seed
        Run seed (run effect, checkpoint noise, noise flips, in-flight steps).
    run_id
        Defaults to ``f"sim-{method}-{seed}"`` (with the noise fraction when > 0).
    item_seed
        Seed of the item effect shared by all runs on these items (cross-seed stability).
    seed_stability
        Share ``s`` of the non-entropy latent variance that is shared across runs, in [0, 1].
    total_steps, epochs, snapshot_every
        Training length; the default (3,315 steps, 5 epochs, every 100) gives the study's 39
        snapshots.
    inflight
        Also emit one ``measurement = "inflight"`` row per item per epoch.
    noise_fraction
        Share of clean (H < 0.4) items whose training label is flipped, in [0, 1].

    Returns
    -------
    pandas.DataFrame
        Dynamics table with the columns of docs/ARCHITECTURE.md (``loss`` in nats, ``logits``
        a list[float32] of length 3).
    """
    _check_arguments(method=method, rho=rho, seed_stability=seed_stability, noise_fraction=noise_fraction)
    n = len(items)
    entropy = items["entropy"].to_numpy(dtype=float)
    label = items["majority_label"].to_numpy(dtype=np.int64)
    if run_id is None:
        run_id = f"sim-{method}-{seed}" + (f"-noise{noise_fraction:g}" if noise_fraction else "")
    # The draws below come from one run stream in a fixed order; reordering them changes every run.
    rng = run_stream(seed, method=method, noise_fraction=noise_fraction)
    z = latent_difficulty(entropy, rho=rho, rng=rng, item_seed=item_seed, seed_stability=seed_stability)
    target = AULC_SCALE * np.exp(AULC_LATENT_SLOPE * z)
    loss0 = np.clip(math.log(NUM_CLASSES) + INITIAL_LOSS_SD * rng.standard_normal(n), *INITIAL_LOSS_RANGE)
    rise = unlearning_rise(entropy, method=method, rng=rng)
    noisy, target, rise = flip_clean_items(entropy, target, rise, noise_fraction=noise_fraction, rng=rng)

    steps = snapshot_steps(total_steps, epochs=epochs, every=snapshot_every)
    prog = steps / total_steps
    floor, rise = fit_floor(target, loss0, rise, prog)
    loss = snapshot_losses(loss_curve(floor, loss0, rise, prog), rng)
    split = items["split"].to_numpy() if "split" in items else np.full(n, "tracked")
    other_share = rng.uniform(*OTHER_SHARE_RANGE, n)
    spe = total_steps / epochs
    ids = items["item_id"].to_numpy()
    parts = [long_rows(ids, split, label, noisy, other_share, np.tile(steps, (n, 1)), loss, total_steps, spe, "snapshot")]
    if inflight:
        at, in_loss = inflight_losses(floor, loss0, rise, rng, epochs=epochs, total_steps=total_steps)
        parts.append(long_rows(ids, split, label, noisy, other_share, at, in_loss, total_steps, spe, "inflight"))
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "run_id", run_id)
    return out


def _check_arguments(*, method: str, rho: float, seed_stability: float, noise_fraction: float) -> None:
    if method not in UNLEARNING_AMPLITUDE:
        raise ContestedError(
            f"simulate_dynamics: method '{method}' unknown; use one of {', '.join(UNLEARNING_AMPLITUDE)}"
        )
    if not -1 < rho < 1:
        raise ContestedError(f"simulate_dynamics: rho={rho} must lie strictly between -1 and 1")
    if not 0 <= seed_stability <= 1 or not 0 <= noise_fraction <= 1:
        raise ContestedError(
            "simulate_dynamics: seed_stability and noise_fraction must lie in [0, 1]"
        )


def simulate_sweep(
    items: pd.DataFrame,
    *,
    rho: dict[str, float] | None = None,
    methods: tuple[str, ...] = ("lora", "full"),
    seeds: tuple[int, ...] = (42, 123, 456),
    **kwargs,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate several runs (methods × seeds) on the same items.

    Parameters
    ----------
    items
        Item table (see :func:`simulate_dynamics`).
    rho
        Target ρ per method; default LoRA 0.3, IA³ 0.15, full FT 0.1 (the study's ordering).
    methods, seeds
        The grid.
    **kwargs
        Passed to :func:`simulate_dynamics` (e.g. ``inflight=False``).

    Returns
    -------
    (dynamics, conditions)
        The concatenated dynamics table and one row per run: ``run_id, model, method, rank,
        dataset, seed``.
    """
    rho = {"lora": 0.3, "ia3": 0.15, "full": 0.1, **(rho or {})}
    frames, conds = [], []
    dataset = items.attrs.get("dataset", "simulated")
    for method in methods:
        for seed in seeds:
            run = f"sim-{method}-{seed}"
            frames.append(
                simulate_dynamics(
                    items, rho=rho[method], method=method, seed=seed, run_id=run, **kwargs
                )
            )
            rank = 4 if method == "lora" else pd.NA
            conds.append({"run_id": run, "model": "simulated", "method": method, "rank": rank,
                          "dataset": dataset, "seed": seed})  # fmt: skip
    conditions = pd.DataFrame(conds).astype({"rank": "Int64"})
    return pd.concat(frames, ignore_index=True), conditions
