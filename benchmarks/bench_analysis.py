"""Time the analysis layers on a study-sized synthetic sweep (no torch, no GPU).

Measures (wall-clock, this machine): per-item metrics of a 75-run sweep (1,211 items × 39
snapshots + 5 in-flight rows each, ≈ 4 M dynamics rows); ``run_statistics`` of one run with
10,000 bootstrap resamples at n = 1,211; the same bootstrap as a per-resample
``scipy.stats.spearmanr`` loop (sampled, extrapolated); the hierarchical bootstrap of 3 seeds and
the paired LoRA-vs-full difference (10,000 resamples each).

**The whole sweep vs a straightforward loop, alternately.** ``run_statistics`` of all 75 runs
(10,000 resamples each) + ``seed_aggregate`` (the cross-run aggregation) is timed against the
same work written the obvious way, per run: ``scipy.stats.spearmanr``, a loop of 10,000
``spearmanr`` calls on the resamples, ``scipy.stats.kendalltau``, ``pingouin.partial_corr``
(Spearman, the three length covariates), two ``pingouin.linear_regression`` fits for ΔR², and a
pandas group-by for the per-bin Δℓ, then the same ``seed_aggregate``. The loop is timed on
``--loop-runs`` runs with ``--loop-sample`` resamples each and extrapolated linearly to 75 runs
× 10,000 resamples (stated in the JSON). The two are run ``--reps`` times, interleaved; the
ratio is the median of the per-repetition ratios. Writes ``benchmarks/results/analysis.json``.

Usage: ``python benchmarks/bench_analysis.py [--runs 75] [--loop-sample 500] [--reps 3]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pingouin
from scipy import stats

from contested.dynamics import item_metrics, simulate_dynamics, simulate_items
from contested.io import write_json
from contested.stats import (
    bootstrap_indices,
    hierarchical_bootstrap,
    paired_rho_difference,
    run_statistics,
    seed_aggregate,
)


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def straightforward_run(one: pd.DataFrame, *, n_resamples: int, seed: int = 0) -> dict:
    """One run's statistics the obvious way (scipy/pingouin calls, a resample loop).

    ``n_resamples`` bootstrap resamples of ``spearmanr`` (timed on a sample, extrapolated).
    """
    one = one.sort_values("item_id")
    x, y = one.entropy.to_numpy(), one.aulc.to_numpy()
    rho = stats.spearmanr(x, y)
    rng = np.random.default_rng(seed)
    boot = [stats.spearmanr(x[i], y[i]).statistic
            for i in (rng.integers(0, len(x), len(x)) for _ in range(n_resamples))]
    lo, hi = np.percentile(boot, [2.5, 97.5])
    tau = stats.kendalltau(x, y)
    part = pingouin.partial_corr(one, x="entropy", y="aulc",
                                 covar=["premise_len", "hypothesis_len", "total_len"],
                                 method="spearman")
    base = pingouin.linear_regression(one[["confidence", "variability"]], one.aulc)
    full = pingouin.linear_regression(one[["confidence", "variability", "entropy"]], one.aulc)
    by_bin = one.groupby("bin", observed=True).agg(mean_delta=("delta_loss", "mean"),
                                                   share=("unlearned", "mean"))
    return {"run_id": one.run_id.iloc[0], "metric": "aulc", "n": len(x),
            "rho": rho.statistic, "p_value": rho.pvalue, "ci_low": lo, "ci_high": hi,
            "kendall_tau": tau.statistic, "partial_rho": float(part["r"].iloc[0]),
            "delta_r2": float(full.r2.iloc[0] - base.r2.iloc[0]), "bins": by_bin.to_dict()}


def sweep_comparison(snap: pd.DataFrame, conditions: pd.DataFrame, args) -> dict:
    """contested vs the straightforward loop on the whole sweep, alternately, ``args.reps`` times."""
    runs = sorted(snap.run_id.unique())
    sample_runs = runs[: args.loop_runs]
    fast, loop, per_run_rows = [], [], []
    for rep in range(args.reps):
        def ours():
            return seed_aggregate(run_statistics(snap, n_boot=10_000, seed=0, conditions=conditions))

        def theirs():
            rows = [straightforward_run(snap[snap.run_id == r], n_resamples=args.loop_sample)
                    for r in sample_runs]
            return rows

        order = [("ours", ours), ("theirs", theirs)]
        for name, fn in order if rep % 2 == 0 else order[::-1]:
            out, dt = _timed(fn)
            if name == "ours":
                fast.append(dt)
                agg = out
            else:
                # Seconds for 75 runs × 10,000 resamples: the loop is linear in both.
                loop.append(dt * (len(runs) / len(sample_runs)) * (10_000 / args.loop_sample))
                per_run_rows = out
            print(f"rep {rep} {name:6s} {dt:7.2f} s", flush=True)
    ours_table = run_statistics(snap[snap.run_id.isin(sample_runs)], n_boot=10_000, seed=0)
    agree = {
        "max_abs_rho_diff": float(np.max(np.abs(
            ours_table.set_index("run_id").rho - pd.Series({r["run_id"]: r["rho"] for r in per_run_rows})))),
        "max_abs_partial_rho_diff": float(np.max(np.abs(
            ours_table.set_index("run_id").partial_rho
            - pd.Series({r["run_id"]: r["partial_rho"] for r in per_run_rows})))),
    }
    return {
        "work": f"run_statistics of {len(runs)} runs × {snap.groupby('run_id').size().iloc[0]} "
                "items (10,000 resamples each) + seed_aggregate",
        "contested_s": [round(t, 2) for t in fast],
        "contested_median_s": round(statistics.median(fast), 2),
        "straightforward_s_extrapolated": [round(t, 1) for t in loop],
        "straightforward_timed_on": f"{len(sample_runs)} runs × {args.loop_sample} resamples, "
                                    f"scaled × {len(runs) / len(sample_runs):g} × "
                                    f"{10_000 / args.loop_sample:g}",
        "speedup_median": round(statistics.median(t / f for t, f in zip(loop, fast, strict=True)), 1),
        "agreement_on_timed_runs": agree,
        "conditions_aggregated": len(agg),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=75)
    parser.add_argument(
        "--loop-sample", type=int, default=500, help="resamples timed in the scipy loop"
    )
    parser.add_argument("--loop-runs", type=int, default=3, help="runs timed in the scipy loop")
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions of the sweep")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "analysis.json"))
    args = parser.parse_args()

    items = simulate_items(1211, seed=0)
    methods = ["lora", "full", "ia3"]
    frames, sim_s, conds = [], 0.0, []
    for k in range(args.runs):
        method = methods[k % 3]
        dyn, dt = _timed(lambda k=k, method=method: simulate_dynamics(
            items, rho={"lora": 0.3, "full": 0.1, "ia3": 0.15}[method], method=method, seed=k, run_id=f"run{k:02d}"))  # fmt: skip
        frames.append(dyn)
        conds.append({"run_id": f"run{k:02d}", "model": "minilm-l6", "method": method,
                      "rank": 4, "dataset": "chaosnli-snli", "seed": k // 3})
        sim_s += dt
    sweep = pd.concat(frames, ignore_index=True)
    metrics, metrics_s = _timed(lambda: item_metrics(sweep, items, measurement=None))
    snap = metrics[metrics.measurement == "snapshot"]

    one = snap[snap.run_id == "run00"]
    res, run_stats_s = _timed(lambda: run_statistics(one, n_boot=10_000, seed=0))

    x, y = one.entropy.to_numpy(), one.aulc.to_numpy()
    idx = next(bootstrap_indices(len(x), n_boot=args.loop_sample, seed=0, chunk=args.loop_sample))
    _, loop_s = _timed(lambda: [stats.spearmanr(x[i], y[i]).statistic for i in idx])

    lora = snap[snap.run_id.isin(["run00", "run03", "run06"])]
    full = snap[snap.run_id.isin(["run01", "run04", "run07"])]
    _, hier_s = _timed(lambda: hierarchical_bootstrap(lora, n_boot=10_000, seed=0))
    _, paired_s = _timed(lambda: paired_rho_difference(lora, full, n_boot=10_000, seed=0))
    run_ids = sorted(snap.run_id.unique())[:12]
    _, twelve_s = _timed(
        lambda: seed_aggregate(run_statistics(snap[snap.run_id.isin(run_ids)], n_boot=10_000))
    )

    sweep_cmp = sweep_comparison(snap, pd.DataFrame(conds), args)
    total = metrics_s + sweep_cmp["contested_median_s"]

    result = {
        "runs": args.runs,
        "dynamics_rows": len(sweep),
        "simulate_s": round(sim_s, 2),
        "item_metrics_s": round(metrics_s, 2),
        "item_metrics_rows": len(metrics),
        "run_statistics_1211_items_10k_boot_s": round(run_stats_s, 2),
        "run_statistics_12_runs_10k_boot_s": round(twelve_s, 2),
        "spearmanr_loop_10k_extrapolated_s": round(loop_s * 10_000 / args.loop_sample, 1),
        "hierarchical_bootstrap_3_seeds_10k_s": round(hier_s, 2),
        "paired_difference_3v3_10k_s": round(paired_s, 2),
        "rho_run00": round(float(res.rho.iloc[0]), 4),
        "ci_run00": [round(float(res.ci_low.iloc[0]), 4), round(float(res.ci_high.iloc[0]), 4)],
        "sweep_statistics": sweep_cmp,
        "sweep_total_s": round(total, 2),
        "sweep_total_is": "item_metrics (dynamics → per-item metrics) + run_statistics of every "
                          "run + seed_aggregate",
        "cpu_count": os.cpu_count(),
    }
    write_json(args.out, result)
    for key, value in result.items():
        print(f"{key:40s} {value}")


if __name__ == "__main__":
    main()
