"""Cost of recording, and distance to the machine's matmul limit, alternately in one process.

Four configurations of the same run (``minilm-l6``, LoRA r=4, ``chaosnli-snli``, one epoch,
batch 32, contested's default padding), interleaved:

* ``off``: no snapshot (no step 0, no epoch end, no periodic one) and no in-flight rows;
* ``inflight``: in-flight rows only;
* ``snapshots``: snapshots at the study's schedule, scaled (below), no in-flight rows;
* ``both``: the two together (contested's default).

**Scaling the study's schedule.** The study snapshots 1,211 tracked + 303 validation items
(1,514) at step 0, every 100 steps and at 5 epoch ends of ~3,300 steps over a mixture of
~21,200 items (tracked ≈ 5.7 % of it): 39 snapshots, i.e. 39 × 1,514 / (5 × 21,200) ≈ 0.56
snapshot item-passes per training item-pass. Here ``--bulk 1500 --max-tracked 90`` keeps
tracked ≈ 5.7 % of a 1,590-item mixture (22 validation items, 112 per snapshot) and
``--snapshot-every 8`` over 50 steps gives 8 snapshots (steps 0, 8, …, 48, 50):
8 × 112 / 1,590 ≈ 0.56, the study's ratio.

Also reports the training pass's achieved FLOP/s (the ``off`` runs: pure training) as a
fraction of the dense fp32 ``torch.matmul`` FLOP/s measured before every run and after the last.

Usage: ``python benchmarks/bench_recording.py [--reps 3]``
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics

import torch
from _training import (
    RESULTS,
    alternate,
    lora_base,
    matmul_params,
    matmul_peak,
    median_ratio,
    token_counts,
    train_times,
    training_flops,
)

from contested.io import write_json
from contested.provenance import environment_info
from contested.train import RecordConfig, RunConfig

#: A periodic interval no run reaches: with start and epoch-end snapshots off, no snapshot at all.
NEVER = 10**9


def configs(args: argparse.Namespace) -> dict[str, RunConfig]:
    """The four recording settings of one run."""
    base = lora_base(model=args.model, bulk=args.bulk, max_tracked=args.max_tracked,
                     snapshot_every=args.snapshot_every)
    off = RecordConfig(snapshot_every=NEVER, snapshot_start=False, snapshot_epoch_end=False,
                       inflight=False, heldout_eval=False)
    snap = dataclasses.replace(base.record, inflight=False)
    inflight = dataclasses.replace(off, inflight=True)
    return {name: dataclasses.replace(base, record=rec) for name, rec in
            (("off", off), ("inflight", inflight), ("snapshots", snap), ("both", base.record))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--bulk", type=int, default=1500)
    parser.add_argument("--max-tracked", type=int, default=90)
    parser.add_argument("--snapshot-every", type=int, default=8)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", default=str(RESULTS / "recording.json"))
    args = parser.parse_args()

    cfgs = configs(args)
    peaks: list[float] = []
    results = alternate(cfgs, reps=args.reps, between=lambda: peaks.append(matmul_peak()))
    peaks.append(matmul_peak())
    times = {name: train_times(r) for name, r in results.items()}
    first = results["both"][0]
    n_train, steps = first["n_train"], first["total_steps"]
    per_snapshot = first["n_tracked"] + first["n_validation"]
    n_snap = first["n_snapshots"]

    # Snapshot rate from the time snapshots add (paired by repetition, median).
    extra = statistics.median(s - o for s, o in zip(times["snapshots"], times["off"], strict=True))
    snapshot_items_per_s = n_snap * per_snapshot / extra if extra > 0 else float("inf")
    train_items_per_s = n_train / statistics.median(times["off"])

    tokens = token_counts(cfgs["off"])
    params = matmul_params(cfgs["off"])
    flops = training_flops(params, real_tokens=tokens["real_tokens"],
                           mean_length=tokens["mean_length"], full_finetune=False)
    peak = statistics.median(peaks)
    achieved = flops / statistics.median(times["off"])

    result = {
        "setup": {"model": args.model, "method": "lora r=4", "dataset": "chaosnli-snli",
                  "bulk": args.bulk, "max_tracked": args.max_tracked, "epochs": 1,
                  "batch_size": 32, "snapshot_every": args.snapshot_every, "n_train": n_train,
                  "n_tracked": first["n_tracked"], "n_validation": first["n_validation"],
                  "total_steps": steps, "n_snapshots": n_snap, "items_per_snapshot": per_snapshot,
                  "tracked_share_of_mixture": round(first["n_tracked"] / n_train, 4),
                  "snapshot_item_passes_per_training_item": round(n_snap * per_snapshot / n_train, 3),
                  "study_snapshot_item_passes_per_training_item": round(39 * 1514 / (5 * 21211), 3),
                  "reps": args.reps, "torch_threads": torch.get_num_threads(),
                  "cpu_count": os.cpu_count()},
        "train_time_s": times,
        "overhead_median": {name: round(median_ratio(times[name], times["off"]) - 1, 4)
                            for name in ("inflight", "snapshots", "both")},
        "training_items_per_s": round(train_items_per_s, 1),
        "snapshot_items_per_s": round(snapshot_items_per_s, 1),
        "flops": {
            "formula": "LoRA, per real token: 4·N (forward + activation gradients through the "
                       "frozen base) + 2·P (LoRA/head weight gradients) + 12·L·ℓ·d (attention); "
                       "N = Linear params on the path, P = trainable matrix params, L layers, "
                       "ℓ mean item length, d hidden size",
            **params, **{f"tokens_{k}": v for k, v in tokens.items()},
            "useful_flops_per_epoch": flops,
            "matmul": "torch.matmul fp32 1024×1024, same threads, before every run and after the last",
            "matmul_peak_flops": round(peak),
            "matmul_peak_samples": [round(p) for p in peaks],
            "achieved_training_flops": round(achieved),
            "fraction_of_peak": round(achieved / peak, 4),
        },
        "env": {k: v for k, v in environment_info().items() if k != "data_checksums"},
    }
    write_json(args.out, result)
    print(f"overheads vs off: {result['overhead_median']}")
    print(f"training {train_items_per_s:.1f} items/s; snapshots {snapshot_items_per_s:.1f} items/s")
    print(f"fraction of matmul peak: {result['flops']['fraction_of_peak']}")


if __name__ == "__main__":
    main()
