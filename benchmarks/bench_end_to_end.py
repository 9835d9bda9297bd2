"""End-to-end training time: contested's defaults vs the reference behaviour, alternately.

The study's recipe at CPU scale: ``minilm-l6``, LoRA r=4, ``chaosnli-snli`` tracked items +
SNLI bulk items, one epoch, batch 32, lr 1e-3 (CPU-scale runs need more than the study's 2e-5
to move an adapter at all). Two configurations, interleaved in one process:

* ``contested``: padding to each batch's longest item, batches grouped by length (the defaults);
* ``reference``: every batch padded to 128 tokens, random batches (the reference code).

Reports the median ratio of training times (``Trainer.train``: training plus the same
snapshots in both), the per-item AULC of the two and ρ(entropy, AULC) of each. The seeds are
identical but the batches are not (length grouping), so AULC differs by training noise; a
second seed of the default configuration measures that noise floor.

Usage: ``python benchmarks/bench_end_to_end.py [--bulk 1000] [--max-tracked 400] [--reps 3]``
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

import pandas as pd
import torch
from _training import (
    RESULTS,
    alternate,
    lora_base,
    median_ratio,
    timed_run,
    token_counts,
    train_times,
)
from scipy import stats

from contested.dynamics import item_metrics
from contested.io import write_json
from contested.provenance import environment_info
from contested.rundir.layout import DYNAMICS, ITEMS
from contested.stats import run_statistics
from contested.train import RunConfig


def configs(args: argparse.Namespace) -> dict[str, RunConfig]:
    """The two configurations compared (same data, model, seed and snapshot schedule)."""
    base = lora_base(model=args.model, bulk=args.bulk, max_tracked=args.max_tracked,
                     snapshot_every=args.snapshot_every)
    reference = dataclasses.replace(
        base, train=dataclasses.replace(base.train, padding="max_length", group_by_length=False))
    return {"contested": base, "reference": reference}


def aulc_table(run_dir: str) -> pd.DataFrame:
    """Per-item snapshot metrics of the tracked items of one run."""
    dyn = pd.read_parquet(Path(run_dir) / DYNAMICS)
    items = pd.read_parquet(Path(run_dir) / ITEMS)
    m = item_metrics(dyn, items)
    return m[m.split == "tracked"].set_index("item_id")


def compare_aulc(a: pd.DataFrame, b: pd.DataFrame, *, n_boot: int) -> dict[str, float]:
    """AULC distributions and ρ(entropy, AULC) of two runs over the same tracked items."""
    a, b = a.align(b, join="inner", axis=0)
    rho_a = run_statistics(a.reset_index(), n_boot=n_boot).iloc[0]
    rho_b = run_statistics(b.reset_index(), n_boot=n_boot).iloc[0]
    ks = stats.ks_2samp(a.aulc, b.aulc)
    return {
        "n_items": len(a),
        "aulc_mean": [round(float(a.aulc.mean()), 4), round(float(b.aulc.mean()), 4)],
        "aulc_median": [round(float(a.aulc.median()), 4), round(float(b.aulc.median()), 4)],
        "aulc_ks_statistic": round(float(ks.statistic), 4),
        "aulc_ks_p": round(float(ks.pvalue), 4),
        "aulc_item_spearman": round(float(stats.spearmanr(a.aulc, b.aulc).statistic), 4),
        "aulc_mean_abs_item_diff": round(float((a.aulc - b.aulc).abs().mean()), 4),
        "rho": [round(float(rho_a.rho), 4), round(float(rho_b.rho), 4)],
        "rho_ci": [[round(float(r.ci_low), 4), round(float(r.ci_high), 4)] for r in (rho_a, rho_b)],
        "rho_diff": round(float(rho_a.rho - rho_b.rho), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--bulk", type=int, default=1000)
    parser.add_argument("--max-tracked", type=int, default=400,
                        help="cap on tracked items (stratified); validation scales with it")
    parser.add_argument("--snapshot-every", type=int, default=5)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument("--no-seed-floor", action="store_true",
                        help="skip the second-seed run that measures the seed-to-seed AULC/ρ noise")
    parser.add_argument("--out", default=str(RESULTS / "end_to_end.json"))
    args = parser.parse_args()

    cfgs = configs(args)
    results = alternate(cfgs, reps=args.reps)

    t_new, t_ref = train_times(results["contested"]), train_times(results["reference"])
    tokens = token_counts(cfgs["contested"])
    aulc = compare_aulc(aulc_table(results["contested"][0]["run_dir"]),
                        aulc_table(results["reference"][0]["run_dir"]), n_boot=args.n_boot)
    floor = None
    if not args.no_seed_floor:
        other = dataclasses.replace(cfgs["contested"],
                                    train=dataclasses.replace(cfgs["contested"].train, seed=43))
        m43 = timed_run(other, Path(results["contested"][0]["run_dir"]).parent.parent / "seed43")
        floor = compare_aulc(aulc_table(results["contested"][0]["run_dir"]),
                             aulc_table(m43["run_dir"]), n_boot=args.n_boot)

    first = results["contested"][0]
    result = {
        "setup": {"model": args.model, "method": "lora r=4", "dataset": "chaosnli-snli",
                  "bulk": args.bulk, "max_tracked": args.max_tracked, "epochs": 1,
                  "batch_size": 32, "lr": 1e-3, "snapshot_every": args.snapshot_every,
                  "n_train": first["n_train"], "n_tracked": first["n_tracked"],
                  "n_validation": first["n_validation"], "total_steps": first["total_steps"],
                  "n_snapshots": first["n_snapshots"], "reps": args.reps,
                  "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count()},
        "train_time_s": {"contested": t_new, "reference": t_ref},
        "speedup_median": round(median_ratio(t_ref, t_new), 3),
        "tokens_per_epoch": tokens,
        "padding_waste_reference": round(1 - tokens["real_tokens"] / tokens["padded_tokens_max_length"], 3),
        "aulc_contested_vs_reference": aulc,
        "aulc_seed42_vs_seed43_contested": floor,
        "env": {k: v for k, v in environment_info().items() if k != "data_checksums"},
    }
    write_json(args.out, result)
    print(f"speed-up (reference / contested): {result['speedup_median']}×")
    print(f"ρ contested / reference: {aulc['rho']}  diff {aulc['rho_diff']}")


if __name__ == "__main__":
    main()
