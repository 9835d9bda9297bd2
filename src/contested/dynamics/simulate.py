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
import pyarrow as pa
from scipy import stats

from contested.data.entropy import STUDY_THRESHOLDS_NATS, assign_bins
from contested.errors import ContestedError

#: Late-training loss rise (nats) of a maximally contested item, by fine-tuning method.
UNLEARNING_AMPLITUDE = {"lora": 0.6, "ia3": 0.15, "full": 0.0}

# The shape of a simulated run. Losses and entropies are in nats; "progress" is step / total steps.
NUM_CLASSES = 3  # simulated items are 3-class NLI (logits have 3 entries)
AULC_SCALE = 0.55  # nats: target AULC of an item of latent difficulty z = 0 ...
AULC_LATENT_SLOPE = 0.4  # ... times exp(slope · z), z standard normal
INITIAL_LOSS_SD = 0.08  # nats: spread of the step-0 loss around ln K (an untrained head)
INITIAL_LOSS_RANGE = (0.5, 2.0)  # nats: the step-0 loss is clipped to this range
UNLEARNING_ONSET = 0.45  # nats of entropy above which items un-learn late in training ...
UNLEARNING_SPAN = 0.5  # ... with a rise of amplitude · (H − onset) / span
UNLEARNING_LOG_SD = 0.5  # per-item log-normal spread of that rise
CLEAN_BELOW = STUDY_THRESHOLDS_NATS[0]  # nats: items below it are clean (candidates for noise flips)
NOISY_AULC_SHIFT = 0.4  # nats added to a flipped item's target AULC
NOISY_RISE_SHIFT = 0.8  # nats added to a flipped item's late-training rise
LOSS_FLOOR = 0.01  # nats: no curve goes below it (cross-entropy is positive)
DECAY_PROGRESS = 0.12  # progress constant of the initial exponential loss drop
RAMP_START = 0.35  # progress at which un-learning starts (the ramp reaches 1 at the end)
RAMP_POWER = 1.5  # convexity of the un-learning ramp
SNAPSHOT_LOG_SD = 0.1  # multiplicative (log-scale) noise of an eval-mode snapshot loss
INFLIGHT_LOG_SD = 0.25  # ... of a training-mode (dropout) in-flight loss
OTHER_SHARE_RANGE = (0.25, 0.75)  # how the non-label probability splits between the other classes
PROB_FLOOR = 1e-12  # probabilities are floored before the log (logits stay finite)


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
    rng = _run_stream(seed, method=method, noise_fraction=noise_fraction)
    z = _latent_difficulty(entropy, rho=rho, rng=rng, item_seed=item_seed, seed_stability=seed_stability)
    target = AULC_SCALE * np.exp(AULC_LATENT_SLOPE * z)
    loss0 = np.clip(math.log(NUM_CLASSES) + INITIAL_LOSS_SD * rng.standard_normal(n), *INITIAL_LOSS_RANGE)
    rise = _unlearning_rise(entropy, method=method, rng=rng)
    noisy, target, rise = _flip_clean_items(entropy, target, rise, noise_fraction=noise_fraction, rng=rng)

    steps = snapshot_steps(total_steps, epochs=epochs, every=snapshot_every)
    prog = steps / total_steps
    floor, rise = _fit_floor(target, loss0, rise, prog)
    loss = _snapshot_losses(_curve(floor, loss0, rise, prog), rng)
    split = items["split"].to_numpy() if "split" in items else np.full(n, "tracked")
    other_share = rng.uniform(*OTHER_SHARE_RANGE, n)
    spe = total_steps / epochs
    ids = items["item_id"].to_numpy()
    parts = [_rows(ids, split, label, noisy, other_share, np.tile(steps, (n, 1)), loss, total_steps, spe, "snapshot")]
    if inflight:
        at, in_loss = _inflight_losses(floor, loss0, rise, rng, epochs=epochs, total_steps=total_steps)
        parts.append(_rows(ids, split, label, noisy, other_share, at, in_loss, total_steps, spe, "inflight"))
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


def _run_stream(seed: int, *, method: str, noise_fraction: float) -> np.random.Generator:
    """The run's random stream: distinct per (seed, method, noise) so a noisy run is not a copy of its control.

    Spawn keys (not a seed list: ``default_rng([s, 0, 0]) == default_rng(s)``) keep the run stream
    independent of the item stream (spawn key ``(0,)``) even when ``seed == item_seed``.
    """
    code = list(UNLEARNING_AMPLITUDE).index(method)
    key = (1, code, round(noise_fraction * 1000))
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _latent_difficulty(entropy: np.ndarray, *, rho: float, rng: np.random.Generator, item_seed: int,
                       seed_stability: float) -> np.ndarray:
    """``z = r·h + √(1−r²)·(√s·v + √(1−s)·e)``: population Spearman ρ(entropy, z) is exactly ``rho``.

    ``h`` are the normal scores of entropy, ``v`` the item effect shared by all runs on these items
    (``item_seed``), ``e`` this run's effect (one draw from ``rng``), ``s`` = ``seed_stability`` and
    ``r = 2 sin(πρ/6)`` (for a bivariate normal, Spearman = (6/π)·asin(r/2)).
    """
    n = len(entropy)
    h = stats.norm.ppf((stats.rankdata(entropy) - 0.5) / n)
    r = 2 * math.sin(math.pi * rho / 6)
    shared = np.random.default_rng(
        np.random.SeedSequence(item_seed, spawn_key=(0,))
    ).standard_normal(n)
    return r * h + math.sqrt(1 - r * r) * (
        math.sqrt(seed_stability) * shared + math.sqrt(1 - seed_stability) * rng.standard_normal(n)
    )


def _unlearning_rise(entropy: np.ndarray, *, method: str, rng: np.random.Generator) -> np.ndarray:
    """Late-training loss rise (nats) per item: grows with entropy above the onset, scaled by method."""
    return (
        UNLEARNING_AMPLITUDE[method]
        * np.clip((entropy - UNLEARNING_ONSET) / UNLEARNING_SPAN, 0, None)
        * np.exp(UNLEARNING_LOG_SD * rng.standard_normal(len(entropy)))
    )


def _flip_clean_items(entropy: np.ndarray, target: np.ndarray, rise: np.ndarray, *, noise_fraction: float,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flip ``noise_fraction`` of the clean items: ``is_noisy``, and their AULC and late rise go up.

    Returns ``(noisy, target, rise)``; with nothing to flip no random draw is made.
    """
    noisy = np.zeros(len(entropy), dtype=bool)
    clean = np.flatnonzero(entropy < CLEAN_BELOW)
    n_flip = round(noise_fraction * len(clean))
    if n_flip:
        noisy[rng.choice(clean, size=n_flip, replace=False)] = True
        target = np.where(noisy, target + NOISY_AULC_SHIFT, target)
        rise = np.where(noisy, rise + NOISY_RISE_SHIFT, rise)
    return noisy, target, rise


def _fit_floor(target: np.ndarray, loss0: np.ndarray, rise: np.ndarray,
               prog: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve each curve's floor ``c`` so that its mean over the snapshot grid is ``target`` exactly.

    The rise is capped where the floor would have to drop below :data:`LOSS_FLOOR` to keep the
    mean: the mean then equals the target exactly and AULC stays monotone in z (no clipping bias).
    Where even a zero rise cannot reach a low target the cap is negative: it is clamped at 0 so
    the curve never goes below the floor. Returns ``(floor, capped rise)``.
    """
    m_decay = np.mean(np.exp(-prog / DECAY_PROGRESS))
    m_ramp = np.mean(_ramp(prog))
    cap = (target - loss0 * m_decay - LOSS_FLOOR * (1 - m_decay)) / m_ramp
    rise = np.clip(rise, 0, np.maximum(cap, 0))
    floor = np.maximum((target - loss0 * m_decay - rise * m_ramp) / (1 - m_decay), LOSS_FLOOR)
    return floor, rise


def _snapshot_losses(curve: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative noise (keeps losses positive), each row rescaled to its exact noiseless mean.

    AULC therefore stays a monotone function of the latent z.
    """
    noisy_curve = curve * np.exp(SNAPSHOT_LOG_SD * rng.standard_normal(curve.shape))
    return noisy_curve * (curve.sum(axis=1) / noisy_curve.sum(axis=1))[:, None]


def _inflight_losses(floor: np.ndarray, loss0: np.ndarray, rise: np.ndarray, rng: np.random.Generator, *,
                     epochs: int, total_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """One training-mode loss per item per epoch, at a random step of that epoch: ``(steps, losses)``.

    Training mode (dropout) makes in-flight losses noisier than eval-mode snapshots.
    """
    spe = total_steps / epochs
    at = (np.arange(epochs) * spe)[None, :] + rng.integers(1, int(spe) + 1, size=(len(floor), epochs))
    at = np.minimum(np.round(at), total_steps)
    loss = _curve(floor, loss0, rise, at / total_steps) * np.exp(
        INFLIGHT_LOG_SD * rng.standard_normal(at.shape)
    )
    return at, loss


def _ramp(prog: np.ndarray) -> np.ndarray:
    return np.clip((prog - RAMP_START) / (1 - RAMP_START), 0, 1) ** RAMP_POWER


def _curve(floor, loss0, rise, prog) -> np.ndarray:
    """``ℓ(p) = c + (ℓ0 − c)·exp(−p/τ) + u·ramp(p)`` per item (rows) and progress point (columns)."""
    prog = np.asarray(prog, dtype=float)
    prog = prog if prog.ndim == 2 else prog[None, :]
    decay = np.exp(-prog / DECAY_PROGRESS)
    return floor[:, None] + (loss0 - floor)[:, None] * decay + rise[:, None] * _ramp(prog)


def _rows(item_id, split, label, noisy, other_share, step, loss, total, spe, kind) -> pd.DataFrame:
    """Long rows for an (items × checkpoints) block; logits are log-probabilities (valid logits)."""
    n, t = loss.shape
    k = NUM_CLASSES
    p_label = np.exp(-loss)
    probs = np.empty((n, t, k))
    rows = np.arange(n)
    first, second = (label + 1) % k, (label + 2) % k
    probs[rows, :, label] = p_label
    probs[rows, :, first] = (1 - p_label) * other_share[:, None]
    probs[rows, :, second] = (1 - p_label) * (1 - other_share)[:, None]
    logits = np.log(np.maximum(probs, PROB_FLOOR)).astype(np.float32).reshape(-1)
    offsets = np.arange(0, k * n * t + 1, k, dtype=np.int32)
    logit_col = pd.arrays.ArrowExtensionArray(pa.ListArray.from_arrays(offsets, logits))
    step = step.reshape(-1)
    return pd.DataFrame(
        {
            "item_id": np.repeat(item_id, t),
            "split": np.repeat(split, t),
            "step": step.astype(np.int64),
            "epoch": step / spe,
            "progress": step / total,
            "measurement": kind,
            "loss": loss.reshape(-1).astype(np.float32),
            "logits": logit_col,
            "p_label": p_label.reshape(-1).astype(np.float32),
            "predicted": probs.argmax(axis=2).reshape(-1),
            "label_used": np.repeat(label, t),
            "is_noisy": np.repeat(noisy, t),
        }
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
