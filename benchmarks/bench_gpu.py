"""GPU check (issue 14): the demo's LoRA run and the study schedule's LoRA run with bf16 on one GPU.

Two runs, each trained once (with its snapshots, as a user would run it):

* ``demo``: ``contested demo``'s LoRA run (MiniLM-L6, r=4, lr 2e-3, 4,000 bulk items × 3 epochs,
  a snapshot every 50 steps; ~490 optimiser steps);
* ``study``: ``configs/study-schedule.yaml``'s LoRA run at the study's lr 2e-5 (20,000 bulk items ×
  5 epochs, a snapshot every 100 steps; ~3,300 steps).

Both switch to ``--device cuda --bf16`` and keep every other setting (batch 32, the study's
schedule). Per run it prints and writes to ``results/gpu.json``: wall time (model loading and the
run directory included), training time without the snapshots, training items/s, snapshot items/s,
the training pass's useful FLOP/s (``_training.training_flops``: real tokens only) and its share
of the GPU's bf16 matmul peak, measured on the same GPU before each run (``torch.matmul`` of two
8192 × 8192 bf16 matrices). Sized for a few minutes of an H200; a CPU run of ``--smoke`` (tiny
mixtures, fp32, a minute) checks the script itself.

Usage (the model and data prepared as for ``make demo``)::

    python benchmarks/bench_gpu.py                          # on the GPU machine
    python benchmarks/bench_gpu.py --device cpu --smoke     # anywhere: the script works
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from _training import RESULTS, matmul_params, matmul_peak, timed_run, token_counts, training_flops

from contested.experiments.demo import DemoConfig
from contested.experiments.sweep import load_sweep
from contested.io import write_json
from contested.provenance import environment_info
from contested.train import RunConfig

STUDY_SWEEP = Path(__file__).resolve().parents[1] / "configs" / "study-schedule.yaml"
STUDY_LABEL = "lora-r4-lr2e-5"


def configs(device: str, *, bf16: bool, smoke: bool) -> dict[str, RunConfig]:
    """The demo's and the study schedule's LoRA runs, moved to ``device`` (tiny with ``smoke``)."""
    demo = DemoConfig().run_configs()[0]  # LoRA first
    study = next(r.config for r in load_sweep(STUDY_SWEEP).runs if r.axes.get("method") == STUDY_LABEL)
    out = {}
    for name, cfg in (("demo", demo), ("study", study)):
        train = cfg.train.replace(device=device, bf16=bf16)
        data, record = cfg.data, cfg.record
        if smoke:  # the same code path on a few dozen items: checks the script, measures nothing
            data = data.replace(bulk=64, max_tracked=48, heldout=32)
            train = train.replace(epochs=1)
            record = record.replace(snapshot_every=1)
        out[name] = cfg.replace(data=data, train=train, record=record)
    return out


def measure(name: str, config: RunConfig, runs_dir: Path, *, peak: float) -> dict[str, Any]:
    """Train ``config`` once; its times, rates and share of ``peak``."""
    started = time.perf_counter()
    m = timed_run(config, runs_dir / name)
    wall = time.perf_counter() - started
    tokens = token_counts(config)
    params = matmul_params(config)
    epochs = config.train.epochs
    train_only = float(m["train_time_s"]) - float(m["snapshot_time_s"])
    flops = training_flops(params, real_tokens=tokens["real_tokens"], mean_length=tokens["mean_length"],
                           full_finetune=config.method.method == "full") * epochs
    snapshot_items = int(m["n_snapshots"]) * (int(m["n_tracked"]) + int(m["n_validation"]))
    row = {
        "run": name, "run_id": m["run_id"], "steps": m["total_steps"], "snapshots": m["n_snapshots"],
        "wall_time_s": round(wall, 2), "train_time_s": round(float(m["train_time_s"]), 2),
        "snapshot_time_s": round(float(m["snapshot_time_s"]), 2),
        "train_items_per_s": round(tokens["items"] * epochs / train_only, 1),
        "snapshot_items_per_s": round(snapshot_items / float(m["snapshot_time_s"]), 1),
        "train_tflops": round(flops / train_only / 1e12, 3), "peak_tflops": round(peak / 1e12, 1),
        "share_of_peak": round(flops / train_only / peak, 4),
        "heldout_accuracy": m.get("final", {}).get("heldout_accuracy"),
    }
    print(f"{name:6s} wall {row['wall_time_s']:8.1f} s  train {train_only:8.1f} s  "
          f"{row['train_items_per_s']:8.1f} items/s  snapshots {row['snapshot_items_per_s']:8.1f} items/s  "
          f"{row['train_tflops']:7.2f} TFLOP/s = {100 * row['share_of_peak']:.1f} % of the "
          f"{row['peak_tflops']} TFLOP/s peak", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--smoke", action="store_true", help="tiny runs in fp32: check the script, measure nothing")
    parser.add_argument("--out", default=str(RESULTS / "gpu.json"), help="where the results go")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("bench_gpu: no CUDA device here; run it on a GPU machine or pass --device cpu --smoke")
    bf16 = args.device.startswith("cuda")
    dtype = torch.bfloat16 if bf16 else torch.float32
    runs_dir = Path(tempfile.mkdtemp(prefix="contested-gpu-"))
    rows = []
    for name, config in configs(args.device, bf16=bf16, smoke=args.smoke).items():
        peak = matmul_peak(size=1024 if args.smoke else 8192, seconds=1.0 if args.smoke else 3.0,
                           device=args.device, dtype=dtype)
        rows.append(measure(name, config, runs_dir, peak=peak))
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device
    write_json(args.out, {"device": device_name, "bf16": bf16, "smoke": args.smoke, "peak_dtype": str(dtype),
                          "runs": rows, "environment": environment_info()})
    print(f"wrote {args.out} (runs in {runs_dir})")


if __name__ == "__main__":
    main()
