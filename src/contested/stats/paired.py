"""Paired comparisons on the same items: LoRA vs full FT ρ, seed stability, noise injection."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from contested.errors import ContestedError
from contested.stats.bootstrap import DEFAULT_CHUNK, bootstrap_spearman, percentile_ci
from contested.stats.correlation import require
from contested.stats.pooling import items_by_runs


def paired_rho_difference(
    metrics_a: pd.DataFrame,
    metrics_b: pd.DataFrame,
    *,
    metric: str = "aulc",
    n_boot: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
    chunk: int = DEFAULT_CHUNK,
) -> dict:
    """Difference ρ_A − ρ_B of ρ(entropy, metric) between two conditions on the same items.

    With several runs (seeds) per condition, ρ of a condition is the mean of its runs' ρ. The CI
    resamples items with replacement and applies each index draw to every run of both
    conditions, so the difference is paired by item (entropy is a property of the item).

    Parameters
    ----------
    metrics_a, metrics_b
        Per-item metrics of condition A (e.g. LoRA r=4) and B (e.g. full FT); only the items
        present in every run of both are used.
    metric
        Column correlated with ``entropy``.
    n_boot, seed, confidence, chunk
        Bootstrap settings (percentile interval).

    Returns
    -------
    dict
        ``n_items, n_runs_a, n_runs_b, rho_a, rho_b, diff, ci_low, ci_high, p_value`` — the
        p-value is the two-sided bootstrap p, 2·min(P*(diff ≤ 0), P*(diff ≥ 0)), floored at
        1/n_boot.
    """
    a = metrics_a.assign(_arm="a")
    b = metrics_b.assign(_arm="b")
    for df, name in ((a, "A"), (b, "B")):
        require(
            df,
            ["run_id", "item_id", "entropy", metric],
            where=f"per-item metrics of condition {name}",
        )
    both = pd.concat([a, b], ignore_index=True)
    both["_run"] = both["_arm"] + ":" + both["run_id"].astype(str)
    x, ys, runs = items_by_runs(both, metric=metric, run_col="_run")
    arm_a = np.array([r.startswith("a:") for r in runs])
    rho = np.array([stats.spearmanr(x, y).statistic for y in ys])
    boot = bootstrap_spearman(x, ys, n_boot=n_boot, seed=seed, chunk=chunk)
    dist = boot[arm_a].mean(axis=0) - boot[~arm_a].mean(axis=0)
    lo, hi = percentile_ci(dist, confidence=confidence)
    valid = dist[~np.isnan(dist)]
    p = max(2 * min(np.mean(valid <= 0), np.mean(valid >= 0)), 1 / len(valid))
    rho_a, rho_b = float(rho[arm_a].mean()), float(rho[~arm_a].mean())
    return {
        "n_items": len(x),
        "n_runs_a": int(arm_a.sum()),
        "n_runs_b": int((~arm_a).sum()),
        "rho_a": rho_a,
        "rho_b": rho_b,
        "diff": rho_a - rho_b,
        "ci_low": lo,
        "ci_high": hi,
        "p_value": float(min(p, 1.0)),
    }


def kendalls_w(ratings) -> tuple[float, float, float]:
    """Kendall's coefficient of concordance W of m raters over n objects, with tie correction.

    W = 12·S / (m²(n³ − n) − m·Σ_j T_j), S = Σ_i (R_i − R̄)², R_i the rank sum of object i,
    T_j = Σ (t³ − t) over rater j's tie groups. Friedman's χ² = m(n − 1)·W on n − 1 df.

    Parameters
    ----------
    ratings
        (n objects, m raters) array, e.g. AULC of n items (rows) in m seeds (columns).

    Returns
    -------
    (W, chi2, p)
        W in [0, 1] (1 = identical orderings), the χ² statistic and its p-value.
    """
    r = np.asarray(ratings, dtype=float)
    if r.ndim != 2 or r.shape[0] < 2 or r.shape[1] < 2:
        raise ContestedError(
            f"kendalls_w: need an (items × raters) matrix with ≥ 2 of each, got {r.shape}"
        )
    n, m = r.shape
    ranks = np.column_stack([stats.rankdata(col) for col in r.T])
    sums = ranks.sum(axis=1)
    s = np.sum((sums - sums.mean()) ** 2)
    ties = sum(np.sum(c**3 - c) for c in (np.unique(col, return_counts=True)[1] for col in r.T))
    w = 12 * s / (m * m * (n**3 - n) - m * ties)
    chi2 = m * (n - 1) * w
    return float(w), float(chi2), float(stats.chi2.sf(chi2, n - 1))


def seed_stability(metrics: pd.DataFrame, *, metric: str = "aulc", run_col: str = "run_id") -> dict:
    """Cross-seed stability of per-item ``metric`` within one condition.

    Parameters
    ----------
    metrics
        Per-item metrics of the runs (seeds) of ONE condition and measurement kind.
    metric
        Per-item column compared across runs.
    run_col
        Column naming the run.

    Returns
    -------
    dict
        ``n_runs, n_items, mean_pairwise_spearman`` (mean over run pairs of Spearman ρ between
        their per-item values), ``kendalls_w``, ``w_chi2``, ``w_p`` (:func:`kendalls_w`).
    """
    _, ys, runs = items_by_runs(metrics, metric=metric, run_col=run_col)
    if len(runs) < 2:
        raise ContestedError("seed_stability: needs at least two runs (seeds) of the condition")
    pair_rho = [
        stats.spearmanr(ys[i], ys[j]).statistic
        for i, j in itertools.combinations(range(len(runs)), 2)
    ]
    w, chi2, p = kendalls_w(ys.T)
    return {
        "n_runs": len(runs),
        "n_items": ys.shape[1],
        "mean_pairwise_spearman": float(np.mean(pair_rho)),
        "kendalls_w": w,
        "w_chi2": chi2,
        "w_p": p,
    }


def noise_injection_test(
    noisy: pd.DataFrame,
    control: pd.DataFrame,
    *,
    metric: str = "aulc",
    bins: Sequence[str] = ("clean",),
    exclude_flipped: bool = False,
    alternative: str = "greater",
) -> dict:
    """Clean-item ``metric`` of a label-noise run vs its control, paired by item.

    Pairs are (seed, item) when both tables carry a ``seed`` column (several seeds pooled),
    else (item) — then each table must hold exactly one run. The test is
    ``scipy.stats.wilcoxon(noisy, control, alternative=...)`` (signed-rank on noisy − control;
    ``"greater"``: noise raises the metric) and the effect size is the paired Cohen's
    d_z = mean(diff) / std(diff, ddof = 1).

    Parameters
    ----------
    noisy, control
        Per-item metrics of the noise-injected run(s) and the control run(s).
    metric
        Column compared (nats for AULC).
    bins
        Entropy bins compared (the study: clean items, whose labels were flipped).
    exclude_flipped
        Drop the items whose label was flipped in the noisy run (``is_noisy``), to test the
        spill-over on the untouched clean items.
    alternative
        ``"greater"``, ``"less"`` or ``"two-sided"``.

    Returns
    -------
    dict
        ``n_pairs, mean_noisy, mean_control, mean_diff, wilcoxon_stat, p_value, cohens_dz``.
    """
    for df, name in ((noisy, "noisy"), (control, "control")):
        require(
            df, ["run_id", "item_id", "bin", metric], where=f"per-item metrics of the {name} run"
        )
    keys = (
        ["seed", "item_id"]
        if "seed" in noisy.columns and "seed" in control.columns
        else ["item_id"]
    )
    if keys == ["item_id"] and (noisy["run_id"].nunique() > 1 or control["run_id"].nunique() > 1):
        raise ContestedError(
            "noise_injection_test: several runs per side need a 'seed' column to pair them; "
            "pass run_statistics conditions or one run per side"
        )
    left = noisy[noisy["bin"].astype(str).isin(bins)]
    if exclude_flipped:
        require(noisy, ["is_noisy"], where="per-item metrics of the noisy run")
        left = left[~left["is_noisy"].astype(bool)]
    pairs = left[[*keys, metric]].merge(
        control[[*keys, metric]], on=keys, suffixes=("_noisy", "_control")
    )
    pairs = pairs.dropna()
    if len(pairs) < 2:
        raise ContestedError(
            "noise_injection_test: fewer than 2 paired items; noisy and control runs must share item_ids"
        )
    xa = pairs[f"{metric}_noisy"].to_numpy(dtype=float)
    xb = pairs[f"{metric}_control"].to_numpy(dtype=float)
    diff = xa - xb
    res = stats.wilcoxon(xa, xb, alternative=alternative)
    sd = diff.std(ddof=1)
    return {
        "n_pairs": len(diff),
        "mean_noisy": float(xa.mean()),
        "mean_control": float(xb.mean()),
        "mean_diff": float(diff.mean()),
        "wilcoxon_stat": float(res.statistic),
        "p_value": float(res.pvalue),
        "cohens_dz": float(diff.mean() / sd) if sd > 0 else np.nan,
    }
