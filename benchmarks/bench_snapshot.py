"""Snapshot pass throughput: eval batch size and padding, alternately in one process.

Scores the 1,514 ChaosNLI-SNLI tracked + validation items with ``minilm-l6`` + LoRA r=4 (eval
mode, no gradients, length-sorted, pre-tokenised: :func:`contested.train.snapshot.score_logits`)
at several ``eval_batch_size`` values, and once with every batch padded to 128 tokens in
random order (the reference code's fixed-shape pass). Reports items/s (median over reps).

Usage: ``python benchmarks/bench_snapshot.py [--reps 3] [--batch-sizes 32,64,128,256]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd
import torch
from _training import RESULTS

from contested.data import DataConfig, build_mixture
from contested.io import write_json
from contested.models import MethodConfig, load_for_classification, resolve_model
from contested.train.data import DynamicsCollator
from contested.train.snapshot import EvalSet, score_logits


def reference_pass(model, eval_set: EvalSet, collator: DynamicsCollator, batch_size: int) -> np.ndarray:
    """Fixed-shape pass: items in their given order, every batch padded to 128 tokens."""
    out = []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(eval_set), batch_size):
            batch = collator(eval_set.features[start:start + batch_size])
            out.append(model(**batch).logits.numpy())
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--batch-sizes", default="32,64,128,256")
    parser.add_argument("--out", default=str(RESULTS / "snapshot.json"))
    args = parser.parse_args()

    mixture = build_mixture(DataConfig(dataset="chaosnli-snli", bulk=10, heldout=0))
    spec = resolve_model(args.model)
    model, tokenizer = load_for_classification(spec, num_labels=3, method=MethodConfig(rank=4), seed=0)
    items = pd.concat([mixture.tracked, mixture.validation], ignore_index=True)
    es = EvalSet.from_texts(tokenizer, split="tracked", item_ids=items.item_id.astype(str).tolist(),
                            premises=items.premise.tolist(), hypotheses=items.hypothesis.tolist(),
                            labels=items.training_label.astype(int).to_numpy())
    longest = DynamicsCollator(tokenizer)
    fixed = DynamicsCollator(tokenizer, padding="max_length", max_length=128)
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    variants = {f"sorted_longest_b{b}": (lambda b=b: score_logits(model, es, collator=longest, batch_size=b))
                for b in sizes}
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
            print(f"rep {rep} {name:26s} {len(es) / times[name][-1]:7.1f} items/s", flush=True)
    base = results[f"sorted_longest_b{sizes[0]}"]
    out = {
        "items": len(es), "torch_threads": torch.get_num_threads(),
        "seconds": times,
        "items_per_s": {k: round(len(es) / statistics.median(v), 1) for k, v in times.items()},
        "max_abs_logit_diff_vs_first": {k: float(np.abs(v - base).max()) for k, v in results.items()},
    }
    write_json(args.out, out)
    print(out["items_per_s"])


if __name__ == "__main__":
    main()
