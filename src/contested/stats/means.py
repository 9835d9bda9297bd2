"""Means over seeds and items with two-level bootstrap CIs (the mitigation table's statistics).

A condition's value of a per-item quantity (an item's final JSD, its Δℓ, whether it is correct) is
the mean over its runs (seeds) of each run's mean over items. Its uncertainty has two sources: which
items were drawn and which seeds. :func:`hierarchical_mean_draws` resamples both, as
:func:`contested.stats.hierarchical_bootstrap` does for ρ: the seeds (runs) with replacement and,
independently, the items with replacement, one item draw applied to every run because the runs of a
condition saw the same items (items are crossed with seeds). Several arrays resampled together share
every draw, so differences and ratios between them (a mitigation and its control, paired by seed and
item) come from the same resamples.

A run-level proportion measured on items that are not stored one by one (held-out accuracy: the
run keeps its count, not its 500 predictions) gets the parametric equivalent of the item draw: a
resampled run's accuracy is Binomial(n, p̂)/n (:func:`binomial_mean_draws`), exactly the distribution
of the mean of a 0/1 item resample.
"""

from __future__ import annotations

import numpy as np

from contested.errors import ContestedError
from contested.stats.bootstrap import (
    DEFAULT_CHUNK,
    bootstrap_indices,
    percentile_ci,
    resample_counts,
)


def _run_weights(n_runs: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(B, S) weights: how often each run was drawn in each resample, divided by S."""
    picks = rng.integers(0, n_runs, size=(n_boot, n_runs))
    return resample_counts(picks, n_runs) / n_runs


def _streams(seed: int | np.random.Generator) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent (items, runs) generators from one seed: the item draws do not depend on the run count."""
    item_rng, run_rng = np.random.default_rng(seed).spawn(2)
    return item_rng, run_rng


def hierarchical_mean_draws(
    values: np.ndarray, *, n_boot: int = 10_000, seed: int | np.random.Generator = 0, chunk: int = DEFAULT_CHUNK
) -> tuple[np.ndarray, np.ndarray]:
    """Point estimates and bootstrap draws of the seed-mean of per-run item means.

    Parameters
    ----------
    values
        (S, n) array, one row per run (seed) and one column per item, aligned on the same items; or
        (k, S, n) for k quantities resampled together (row s of every quantity belongs to seed s).
        No NaN: align the runs on their common items first.
    n_boot
        Resamples; 0 gives no draws (the CI is then NaN).
    seed
        Seed (or Generator): items and runs use two independent streams spawned from it.
    chunk
        Item resamples per numpy pass.

    Returns
    -------
    (point, draws)
        ``point``: (k,) mean over runs of each run's mean over items (a scalar array when
        ``values`` is 2-D has shape (1,)); ``draws``: (n_boot, k), the same statistic on each
        resample of runs and items.

    Raises
    ------
    ContestedError
        Empty or NaN-containing input, or ``n_boot`` < 1.
    """
    v = np.asarray(values, dtype=float)
    if v.ndim == 2:
        v = v[None]
    if v.ndim != 3 or 0 in v.shape:
        raise ContestedError(f"hierarchical mean: need a non-empty (S, n) or (k, S, n) array, got shape {v.shape}")
    if np.isnan(v).any():
        raise ContestedError("hierarchical mean: values contain NaN; align the runs on their common items first")
    k, n_runs, n = v.shape
    point = v.mean(axis=2).mean(axis=1)
    if n_boot == 0:  # no CIs asked for
        return point, np.empty((0, k))
    item_rng, run_rng = _streams(seed)
    weights = _run_weights(n_runs, n_boot, run_rng)
    flat = v.reshape(k * n_runs, n)
    draws = np.empty((n_boot, k))
    row = 0
    for idx in bootstrap_indices(n, n_boot=n_boot, seed=item_rng, chunk=chunk):
        counts = resample_counts(idx, n)
        run_means = (counts @ flat.T / n).reshape(len(idx), k, n_runs)  # (b, k, S)
        draws[row:row + len(idx)] = np.einsum("bks,bs->bk", run_means, weights[row:row + len(idx)])
        row += len(idx)
    return point, draws


def binomial_mean_draws(
    proportions: np.ndarray, n_items: np.ndarray | int, *, n_boot: int = 10_000,
    seed: int | np.random.Generator = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Point estimates and parametric bootstrap draws of the seed-mean of run-level proportions.

    Parameters
    ----------
    proportions
        (S,) or (k, S) per-run proportions in [0, 1] (e.g. held-out accuracy of each seed).
    n_items
        Items behind each proportion (scalar or broadcastable to ``proportions``).
    n_boot, seed
        Resamples; seed of the run and item draws (same stream layout as
        :func:`hierarchical_mean_draws`).

    Returns
    -------
    (point, draws)
        ``point``: (k,) mean over runs; ``draws``: (n_boot, k), each the mean over a resample of
        runs of Binomial(n, p̂)/n.
    """
    p = np.asarray(proportions, dtype=float)
    if p.ndim == 1:
        p = p[None]
    if p.size == 0 or np.isnan(p).any() or ((p < 0) | (p > 1)).any():
        raise ContestedError(f"binomial mean: need proportions in [0, 1] without NaN, got {p.tolist()}")
    n = np.broadcast_to(np.asarray(n_items, dtype=np.int64), p.shape)
    if (n < 1).any():
        raise ContestedError(f"binomial mean: need at least one item per proportion, got {n.tolist()}")
    k, n_runs = p.shape
    item_rng, run_rng = _streams(seed)
    weights = _run_weights(n_runs, n_boot, run_rng)
    resampled = item_rng.binomial(n[None], p[None], size=(n_boot, k, n_runs)) / n[None]
    return p.mean(axis=1), np.einsum("bks,bs->bk", resampled, weights)


def mean_ci(point: float, draws: np.ndarray, *, confidence: float = 0.95) -> dict:
    """``{"value", "ci_low", "ci_high"}`` from a point estimate and its bootstrap draws (percentile CI)."""
    lo, hi = percentile_ci(np.asarray(draws, dtype=float), confidence=confidence)
    return {"value": float(point), "ci_low": lo, "ci_high": hi}
