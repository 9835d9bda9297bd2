"""Time the analysis layers on a study-sized synthetic sweep (no torch, no GPU).

Measures (wall-clock, this machine): per-item metrics of a 75-run sweep (1,211 items × 39
snapshots + 5 in-flight rows each, ≈ 4 M dynamics rows); ``run_statistics`` of one run with
10,000 bootstrap resamples at n = 1,211; the same bootstrap as a per-resample
``scipy.stats.spearmanr`` loop (sampled, extrapolated); the hierarchical bootstrap of 3 seeds and
the paired LoRA-vs-full difference (10,000 resamples each). Writes
``benchmarks/results/analysis.json``.

Usage: ``python benchmarks/bench_analysis.py [--runs 75] [--loop-sample 500]``
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pandas as pd
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=75)
    parser.add_argument(
        "--loop-sample", type=int, default=500, help="resamples timed in the scipy loop"
    )
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "analysis.json"))
    args = parser.parse_args()

    items = simulate_items(1211, seed=0)
    methods = ["lora", "full", "ia3"]
    frames, sim_s = [], 0.0
    for k in range(args.runs):
        method = methods[k % 3]
        dyn, dt = _timed(lambda k=k, method=method: simulate_dynamics(
            items, rho={"lora": 0.3, "full": 0.1, "ia3": 0.15}[method], method=method, seed=k, run_id=f"run{k:02d}"))  # fmt: skip
        frames.append(dyn)
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
        "cpu_count": os.cpu_count(),
    }
    write_json(args.out, result)
    for key, value in result.items():
        print(f"{key:40s} {value}")


if __name__ == "__main__":
    main()
