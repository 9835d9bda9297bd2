"""Shared pieces of the training benchmarks: alternating timed runs, token counts, FLOPs, matmul peak.

Every comparison runs its configurations **alternately in one process** (A B B A A B …, the
order flipped each repetition so that neither side always runs first on a warm cache) and
reports the median of the per-repetition ratios: a noisy shared machine slows both sides of a
pair about equally, so the ratio is far steadier than either time.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from contested.data import DataConfig, build_mixture
from contested.models import MethodConfig, load_for_classification, resolve_model
from contested.rundir.layout import METRICS
from contested.rundir.reading import read_json
from contested.train import RecordConfig, RunConfig, TrainConfig, run
from contested.train.data import encode_texts

RESULTS = Path(__file__).parent / "results"


def lora_base(*, model: str, bulk: int, max_tracked: int | None, snapshot_every: int) -> RunConfig:
    """The benchmarks' common run: LoRA r=4 at CPU-scale lr, one epoch, no held-out scoring."""
    return RunConfig(
        model=model,
        method=MethodConfig(method="lora", rank=4),
        data=DataConfig(dataset="chaosnli-snli", bulk=bulk, max_tracked=max_tracked, heldout=0),
        train=TrainConfig(epochs=1, lr=1e-3, batch_size=32, seed=42),
        record=RecordConfig(snapshot_every=snapshot_every, heldout_eval=False),
    )


def timed_run(config: RunConfig, runs_dir: Path) -> dict[str, Any]:
    """Train ``config`` (forced, into ``runs_dir``); return its ``metrics.json`` plus the run dir.

    ``train_time_s`` (the HF ``Trainer.train`` call: training, snapshots and recording, not
    model loading or writing the run directory) is the time compared.
    """
    run_dir = run(config, runs_dir=runs_dir, force=True, progress=False)
    metrics = read_json(run_dir, METRICS)
    metrics["run_dir"] = str(run_dir)
    return metrics


def alternate(
    configs: dict[str, RunConfig],
    *,
    reps: int,
    runs_dir: Path | None = None,
    between: Callable[[], None] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Run every config ``reps`` times, interleaved, order reversed on odd repetitions.

    Parameters
    ----------
    configs
        Name → config; each name gets its own runs sub-folder.
    reps
        Repetitions per config.
    runs_dir
        Parent folder of the run directories (a temporary folder when None; it is kept).
    between
        Called before every run (e.g. to measure the matmul peak interleaved with training).

    Returns
    -------
    dict
        Name → list of ``metrics.json`` dicts, one per repetition.
    """
    root = Path(runs_dir or tempfile.mkdtemp(prefix="contested-bench-"))
    names = list(configs)
    out: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for rep in range(reps):
        for name in names if rep % 2 == 0 else names[::-1]:
            if between is not None:
                between()
            m = timed_run(configs[name], root / name)
            out[name].append(m)
            print(f"rep {rep} {name:24s} train {m['train_time_s']:7.2f} s  "
                  f"steps {m['total_steps']}  snapshots {m['n_snapshots']}", flush=True)
    return out


def median_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """Median over repetitions of a[i] / b[i] (paired by repetition)."""
    return float(statistics.median(x / y for x, y in zip(a, b, strict=True)))


def train_times(results: list[dict[str, Any]]) -> list[float]:
    """``train_time_s`` of each repetition, seconds."""
    return [float(m["train_time_s"]) for m in results]


def token_counts(config: RunConfig) -> dict[str, int]:
    """Tokens the training pass sees per epoch: real (non-pad) ones, and at fixed 128 padding.

    Returns
    -------
    dict
        ``items`` (training items per epoch), ``real_tokens`` (Σ item lengths after truncation),
        ``padded_tokens_max_length`` (items × ``max_length``).
    """
    mixture = build_mixture(config.data)
    spec = resolve_model(config.model)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(spec.source)
    feats = encode_texts(tokenizer, mixture.train["premise"].tolist(),
                         mixture.train["hypothesis"].tolist(), max_length=config.train.max_length,
                         template=spec.text_template)
    lengths = np.array([len(f["input_ids"]) for f in feats])
    return {"items": len(lengths), "real_tokens": int(lengths.sum()),
            "padded_tokens_max_length": int(len(lengths) * config.train.max_length),
            "mean_length": round(float(lengths.mean()), 1)}


def matmul_params(config: RunConfig) -> dict[str, int]:
    """Parameters that sit on the matmul path of one forward pass, and the trainable ones.

    Embedding tables are lookups (no FLOPs) and are excluded; every ``torch.nn.Linear`` weight
    (frozen base, LoRA A/B, pooler, head) counts.
    """
    spec = resolve_model(config.model)
    model, _ = load_for_classification(spec, num_labels=3, method=config.method, seed=0)
    # peft keeps a frozen copy of the head ("original_module") that the forward pass skips.
    linear = sum(m.weight.numel() for name, m in model.named_modules()
                 if isinstance(m, torch.nn.Linear) and "original_module" not in name)
    trainable = sum(p.numel() for n, p in model.named_parameters()
                    if p.requires_grad and p.ndim == 2 and "embed" not in n)
    cfg = model.config
    return {"linear_params": int(linear), "trainable_matrix_params": int(trainable),
            "layers": int(cfg.num_hidden_layers), "hidden": int(cfg.hidden_size)}


def training_flops(params: dict[str, int], *, real_tokens: int, mean_length: float,
                   full_finetune: bool) -> float:
    """Useful training FLOPs of one epoch (real tokens only; padding is not useful work).

    Per token, with N the Linear parameters on the path and P the trainable ones:
    forward 2N; backward through every layer for the activation gradients 2N (a frozen base is
    still back-propagated through: the LoRA matrices sit inside every layer); weight gradients
    2N for full fine-tuning, 2P for LoRA. Attention scores and their weighted sum add
    4·L·ℓ·d forward per token (ℓ the item's length) and twice that backward.
    So full FT: 6N + 12·L·ℓ·d per token; LoRA: 4N + 2P + 12·L·ℓ·d (the weight-gradient
    term of attention does not exist: it has no weights).
    """
    n, p = params["linear_params"], params["trainable_matrix_params"]
    attention = 12 * params["layers"] * mean_length * params["hidden"]
    per_token = (6 * n if full_finetune else 4 * n + 2 * p) + attention
    return float(per_token * real_tokens)


def matmul_peak(*, size: int = 1024, seconds: float = 2.0, device: str = "cpu",
                dtype: torch.dtype = torch.float32) -> float:
    """Dense matmul FLOP/s of ``torch.matmul`` (size × size, ``dtype``) on ``device`` at the current thread count.

    Repeats for about ``seconds`` after one warm-up and returns 2·size³·calls / time (a CUDA device
    is synchronised before the clock starts and stops).
    """
    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    torch.matmul(a, b)
    sync()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.matmul(a, b)
        calls += 1
    sync()
    return 2.0 * size**3 * calls / (time.perf_counter() - start)
