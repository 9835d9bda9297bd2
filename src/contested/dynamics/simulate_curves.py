"""The loss-curve model behind :func:`contested.dynamics.simulate.simulate_dynamics`: constants and steps.

Each step is one named part of how a simulated run is generated (the overview, with the formulas,
is :mod:`contested.dynamics.simulate`'s docstring). ``simulate_dynamics`` calls them in a fixed
order on one random stream; reordering the calls or their draws changes every simulated run. Only
:data:`UNLEARNING_AMPLITUDE` is exported by :mod:`contested.dynamics`; the steps are internal.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import stats

from contested.data.entropy import STUDY_THRESHOLDS_NATS

__all__ = ["UNLEARNING_AMPLITUDE", "fit_floor", "flip_clean_items", "inflight_losses", "latent_difficulty",
           "long_rows", "loss_curve", "run_stream", "snapshot_losses", "unlearning_rise"]

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


def run_stream(seed: int, *, method: str, noise_fraction: float) -> np.random.Generator:
    """The run's random stream: distinct per (seed, method, noise) so a noisy run is not a copy of its control.

    Spawn keys (not a seed list: ``default_rng([s, 0, 0]) == default_rng(s)``) keep the run stream
    independent of the item stream (spawn key ``(0,)``) even when ``seed == item_seed``.
    """
    code = list(UNLEARNING_AMPLITUDE).index(method)
    key = (1, code, round(noise_fraction * 1000))
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def latent_difficulty(entropy: np.ndarray, *, rho: float, rng: np.random.Generator, item_seed: int,
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


def unlearning_rise(entropy: np.ndarray, *, method: str, rng: np.random.Generator) -> np.ndarray:
    """Late-training loss rise (nats) per item: grows with entropy above the onset, scaled by method."""
    return (
        UNLEARNING_AMPLITUDE[method]
        * np.clip((entropy - UNLEARNING_ONSET) / UNLEARNING_SPAN, 0, None)
        * np.exp(UNLEARNING_LOG_SD * rng.standard_normal(len(entropy)))
    )


def flip_clean_items(entropy: np.ndarray, target: np.ndarray, rise: np.ndarray, *, noise_fraction: float,
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


def fit_floor(target: np.ndarray, loss0: np.ndarray, rise: np.ndarray,
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


def snapshot_losses(curve: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative noise (keeps losses positive), each row rescaled to its exact noiseless mean.

    AULC therefore stays a monotone function of the latent z.
    """
    noisy_curve = curve * np.exp(SNAPSHOT_LOG_SD * rng.standard_normal(curve.shape))
    return noisy_curve * (curve.sum(axis=1) / noisy_curve.sum(axis=1))[:, None]


def inflight_losses(floor: np.ndarray, loss0: np.ndarray, rise: np.ndarray, rng: np.random.Generator, *,
                     epochs: int, total_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """One training-mode loss per item per epoch, at a random step of that epoch: ``(steps, losses)``.

    Training mode (dropout) makes in-flight losses noisier than eval-mode snapshots.
    """
    spe = total_steps / epochs
    at = (np.arange(epochs) * spe)[None, :] + rng.integers(1, int(spe) + 1, size=(len(floor), epochs))
    at = np.minimum(np.round(at), total_steps)
    loss = loss_curve(floor, loss0, rise, at / total_steps) * np.exp(
        INFLIGHT_LOG_SD * rng.standard_normal(at.shape)
    )
    return at, loss


def _ramp(prog: np.ndarray) -> np.ndarray:
    return np.clip((prog - RAMP_START) / (1 - RAMP_START), 0, 1) ** RAMP_POWER


def loss_curve(floor, loss0, rise, prog) -> np.ndarray:
    """``ℓ(p) = c + (ℓ0 − c)·exp(−p/τ) + u·ramp(p)`` per item (rows) and progress point (columns)."""
    prog = np.asarray(prog, dtype=float)
    prog = prog if prog.ndim == 2 else prog[None, :]
    decay = np.exp(-prog / DECAY_PROGRESS)
    return floor[:, None] + (loss0 - floor)[:, None] * decay + rise[:, None] * _ramp(prog)


def long_rows(item_id, split, label, noisy, other_share, step, loss, total, spe, kind) -> pd.DataFrame:
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
