"""Snapshot pass throughput: alone and inside training, side by side, alternately in one process.

**Alone** (1,514 ChaosNLI-SNLI tracked + validation items, ``minilm-l6`` + LoRA r=4, eval
mode, no gradients, pre-tokenised: :func:`contested.train.snapshot.score_logits`): items/s at
several ``eval_batch_size`` values, with the previous fixed-size batches of the length-sorted
items (``max_padding=1``), and with every batch padded to 128 tokens in random order (the
reference code's fixed-shape pass).

**Inside training vs alone** (issue 14): the recording benchmark's schedule
(``bench_recording.py``: 8 snapshots of 90 tracked + 22 validation items in a 50-step run,
no in-flight rows) trained through :func:`contested.train.run`, next to the same 8 snapshots
taken by :func:`~contested.train.snapshot.take_snapshot` outside any training, on the same
items and a freshly loaded model, and next to the 1,514-item pass above. The in-training rate
is measured two ways: directly (``metrics.json``'s ``snapshot_time_s``, the time the snapshot
callback spent) and as ``bench_recording.py`` does it (the time the run takes over the same run
with no snapshot). Each repetition runs every configuration once, in an order reversed on odd
repetitions; ratios are medians of the per-repetition ratios.

Usage: ``python benchmarks/bench_snapshot.py [--reps 3] [--train-reps 3] [--batch-sizes 32,64,128,256]
[--threads N]``
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _training import RESULTS, lora_base, median_ratio, timed_run

from contested.data import DataConfig, build_mixture
from contested.io import write_json
from contested.models import MethodConfig, load_for_classification, load_tokenizer, resolve_model
from contested.train import RecordConfig, RunConfig
from contested.train.data import DynamicsCollator
from contested.train.recorder import DynamicsRecorder
from contested.train.snapshot import (
    MAX_PADDING,
    EvalSet,
    length_batches,
    score_logits,
    take_snapshot,
)

#: A periodic interval no run reaches: with start and epoch-end snapshots off, no snapshot at all.
NEVER = 10**9


def reference_pass(
    model, eval_set: EvalSet, collator: DynamicsCollator, batch_size: int
) -> np.ndarray:
    """Fixed-shape pass: items in their given order, every batch padded to 128 tokens."""
    out = []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(eval_set), batch_size):
            batch = collator(eval_set.features[start : start + batch_size])
            out.append(model(**batch).logits.numpy())
    return np.concatenate(out)


def eval_sets(
    frames: list[tuple[str, pd.DataFrame]], tokenizer, *, max_length: int, template: str | None
) -> list[EvalSet]:
    """The items as :func:`contested.train.run` tokenises them (training labels)."""
    return [
        EvalSet.from_texts(
            tokenizer,
            split=split,
            item_ids=f.item_id.astype(str).tolist(),
            premises=f.premise.tolist(),
            hypotheses=f.hypothesis.tolist(),
            labels=f.training_label.astype(int).to_numpy(),
            max_length=max_length,
            template=template,
        )
        for split, f in frames
    ]


def padded_tokens_per_item(
    sets: list[EvalSet], batch_size: int, *, max_padding: float, one_pass: bool
) -> float:
    """Tokens the model computes per item (padding included) for a batching of ``sets``."""
    groups = [[f for es in sets for f in es.features]] if one_pass else [es.features for es in sets]
    padded = 0
    for feats in groups:
        lengths = np.array([len(f["input_ids"]) for f in feats])
        padded += sum(
            len(b) * int(lengths[b].max())
            for b in length_batches(lengths, batch_size, max_padding=max_padding)
        )
    return round(padded / sum(len(es) for es in sets), 1)


def snapshot_configs(model: str) -> dict[str, RunConfig]:
    """``bench_recording.py``'s snapshots-only run and the same run with no snapshot."""
    base = lora_base(model=model, bulk=1500, max_tracked=90, snapshot_every=8)
    snap = dataclasses.replace(base, record=dataclasses.replace(base.record, inflight=False))
    off = dataclasses.replace(
        base,
        record=RecordConfig(
            snapshot_every=NEVER,
            snapshot_start=False,
            snapshot_epoch_end=False,
            inflight=False,
            heldout_eval=False,
        ),
    )
    return {"snapshots": snap, "off": off}


def standalone_snapshots(
    config: RunConfig,
    sets: list[EvalSet],
    collator: DynamicsCollator,
    n_snapshots: int,
    *,
    previous: bool,
) -> float:
    """Seconds to take ``n_snapshots`` snapshots of ``sets`` outside training (fresh model).

    ``previous``: the code before issue 14, one pass per set with fixed-size batches.
    """
    spec = resolve_model(config.model)
    model, _ = load_for_classification(
        spec, num_labels=3, method=config.method, seed=config.train.seed
    )
    recorder = DynamicsRecorder()
    batch_size = config.record.eval_batch_size
    start = time.perf_counter()
    for step in range(n_snapshots):
        if previous:
            for es in sets:
                logits = score_logits(
                    model, es, collator=collator, batch_size=batch_size, max_padding=1.0
                )
                recorder.update(
                    es.item_ids,
                    logits,
                    es.labels,
                    step=step,
                    epoch=0.0,
                    progress=0.0,
                    measurement="snapshot",
                    split=es.split,
                )
        else:
            take_snapshot(
                model,
                recorder,
                sets,
                step=step,
                epoch=0.0,
                progress=0.0,
                collator=collator,
                batch_size=batch_size,
            )
    return time.perf_counter() - start


def in_training_vs_alone(
    args: argparse.Namespace, big: EvalSet, big_model, collator: DynamicsCollator
) -> dict:
    """Alternate: the run with snapshots, the run without, the same snapshots alone, the 1,514 pass."""
    cfgs = snapshot_configs(args.model)
    snap_cfg = cfgs["snapshots"]
    spec = resolve_model(snap_cfg.model)
    mixture = build_mixture(snap_cfg.data)
    tokenizer = load_tokenizer(spec)
    sets = eval_sets(
        [("tracked", mixture.tracked), ("validation", mixture.validation)],
        tokenizer,
        max_length=snap_cfg.train.max_length,
        template=spec.text_template,
    )
    per_snapshot = sum(len(es) for es in sets)
    runs_dir = Path(tempfile.mkdtemp(prefix="contested-bench-snapshot-"))
    n_snap = {"n": 0}
    metrics: dict[str, list[dict]] = {}

    def run_snapshots() -> float:
        m = timed_run(snap_cfg, runs_dir / "snapshots")
        n_snap["n"] = m["n_snapshots"]
        metrics.setdefault("snapshots", []).append(m)
        return m["snapshot_time_s"]

    def run_off() -> float:
        m = timed_run(cfgs["off"], runs_dir / "off")
        metrics.setdefault("off", []).append(m)
        return m["train_time_s"]

    bs = snap_cfg.record.eval_batch_size
    work: dict[str, Callable[[], float]] = {
        "in_training": run_snapshots,
        "off": run_off,
        "alone_same_sets": lambda: standalone_snapshots(
            snap_cfg, sets, collator, n_snap["n"] or 8, previous=False
        ),
        "alone_same_sets_previous": lambda: standalone_snapshots(
            snap_cfg, sets, collator, n_snap["n"] or 8, previous=True
        ),
        "alone_1514": lambda: _timed(
            lambda: score_logits(big_model, big, collator=collator, batch_size=bs)
        ),
        "alone_1514_previous": lambda: _timed(
            lambda: score_logits(big_model, big, collator=collator, batch_size=bs, max_padding=1.0)
        ),
    }
    seconds: dict[str, list[float]] = {k: [] for k in work}
    names = list(work)
    for rep in range(args.train_reps):
        for name in names if rep % 2 == 0 else names[::-1]:
            seconds[name].append(work[name]())
            print(f"rep {rep} {name:26s} {seconds[name][-1]:7.2f} s", flush=True)
    n_items = n_snap["n"] * per_snapshot
    train_s = [float(m["train_time_s"]) for m in metrics["snapshots"]]
    added = [t - o for t, o in zip(train_s, seconds["off"], strict=True)]
    rates = {  # items/s per repetition
        "in_training_direct": [n_items / s for s in seconds["in_training"]],
        "in_training_added": [n_items / s if s > 0 else float("inf") for s in added],
        "alone_same_sets": [n_items / s for s in seconds["alone_same_sets"]],
        "alone_same_sets_previous": [n_items / s for s in seconds["alone_same_sets_previous"]],
        "alone_1514": [len(big) / s for s in seconds["alone_1514"]],
        "alone_1514_previous": [len(big) / s for s in seconds["alone_1514_previous"]],
    }
    pairs = [
        ("in_training_direct", "alone_same_sets"),
        ("in_training_added", "alone_same_sets"),
        ("in_training_direct", "alone_1514"),
        ("in_training_added", "alone_1514"),
        ("alone_same_sets", "alone_same_sets_previous"),
        ("alone_1514", "alone_1514_previous"),
        ("alone_same_sets_previous", "alone_1514_previous"),
    ]
    first = metrics["snapshots"][0]
    return {
        "setup": {
            "model": args.model,
            "method": "lora r=4",
            "dataset": "chaosnli-snli",
            "bulk": 1500,
            "max_tracked": 90,
            "snapshot_every": 8,
            "inflight": False,
            "n_train": first["n_train"],
            "total_steps": first["total_steps"],
            "n_snapshots": n_snap["n"],
            "items_per_snapshot": per_snapshot,
            "eval_batch_size": bs,
            "reps": args.train_reps,
        },
        "padded_tokens_per_item": {
            "scaled_schedule_112": {
                "one_pass_length_batches": padded_tokens_per_item(
                    sets, bs, max_padding=MAX_PADDING, one_pass=True
                ),
                "previous_per_set_fixed_size": padded_tokens_per_item(
                    sets, bs, max_padding=1.0, one_pass=False
                ),
            },
            "alone_1514": {
                "length_batches": padded_tokens_per_item(
                    [big], bs, max_padding=MAX_PADDING, one_pass=True
                ),
                "previous_fixed_size": padded_tokens_per_item(
                    [big], bs, max_padding=1.0, one_pass=True
                ),
            },
            "mean_real_tokens": {
                "scaled_schedule_112": round(
                    float(np.mean([len(f["input_ids"]) for es in sets for f in es.features])), 1
                ),
                "alone_1514": round(float(np.mean([len(f["input_ids"]) for f in big.features])), 1),
            },
        },
        "seconds": seconds,
        "train_time_s_with_snapshots": train_s,
        "items_per_s_median": {k: round(statistics.median(v), 1) for k, v in rates.items()},
        "ratio_median": {f"{a}/{b}": round(median_ratio(rates[a], rates[b]), 3) for a, b in pairs},
    }


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--train-reps",
        type=int,
        default=3,
        help="repetitions of the inside-training vs alone comparison",
    )
    parser.add_argument("--batch-sizes", default="32,64,128,256")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: torch's, as in training runs)",
    )
    parser.add_argument("--out", default=str(RESULTS / "snapshot.json"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()

    mixture = build_mixture(DataConfig(dataset="chaosnli-snli", bulk=10, heldout=0))
    spec = resolve_model(args.model)
    model, tokenizer = load_for_classification(
        spec, num_labels=3, method=MethodConfig(rank=4), seed=0
    )
    items = pd.concat([mixture.tracked, mixture.validation], ignore_index=True)
    es = eval_sets([("tracked", items)], tokenizer, max_length=128, template=spec.text_template)[0]
    longest = DynamicsCollator(tokenizer)
    fixed = DynamicsCollator(tokenizer, padding="max_length", max_length=128)
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    variants = {
        f"sorted_longest_b{b}": (
            lambda b=b: score_logits(model, es, collator=longest, batch_size=b)
        )
        for b in sizes
    }
    variants["sorted_longest_b64_fixed_size"] = lambda: score_logits(
        model, es, collator=longest, batch_size=64, max_padding=1.0
    )
    variants["reference_fixed128_b64"] = lambda: reference_pass(model, es, fixed, 64)
    score_logits(model, es, collator=longest, batch_size=64)  # warm-up
    times: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    results = {}
    for rep in range(args.reps):
        for name in names if rep % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            results[name] = variants[name]()
            times[name].append(time.perf_counter() - start)
            print(f"rep {rep} {name:30s} {len(es) / times[name][-1]:7.1f} items/s", flush=True)
    base = results[f"sorted_longest_b{sizes[0]}"]
    out = {
        "items": len(es),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "seconds": times,
        "items_per_s": {k: round(len(es) / statistics.median(v), 1) for k, v in times.items()},
        "max_abs_logit_diff_vs_first": {
            k: float(np.abs(v - base).max()) for k, v in results.items()
        },
    }
    if args.train_reps > 0:
        out["in_training_vs_alone"] = in_training_vs_alone(args, es, model, longest)
    out["load_average_1min"] = {
        "start": round(load_before[0], 2),
        "end": round(os.getloadavg()[0], 2),
    }
    write_json(args.out, out)
    print(out["items_per_s"])
    if "in_training_vs_alone" in out:
        print(out["in_training_vs_alone"]["items_per_s_median"])
        print(out["in_training_vs_alone"]["ratio_median"])


if __name__ == "__main__":
    main()
