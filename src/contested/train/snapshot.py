"""Eval-mode snapshots: score fixed item sets with dropout off and no gradients.

Items are tokenised once (:class:`EvalSet`), sorted by length and cut into batches that are
mostly real tokens (:func:`length_batches`); logits come back in the set's original order.
A snapshot scores all its sets (tracked and validation) in one such pass.

The items, not the training around them, set a snapshot's speed (issue 14; see
``benchmarks/bench_snapshot.py``): a snapshot is as fast inside training as alone on the same
items, but the 90 tracked + 22 validation items of the benchmarks' scaled schedule, scored set
by set in fixed-size batches, padded to 53 tokens per item (the longest item, 113 tokens, set
the width of its whole batch) against 31 for the 1,514 items of the study.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from contested.train.data import DynamicsCollator, encode_texts
from contested.train.recorder import DynamicsRecorder


@dataclass
class EvalSet:
    """Pre-tokenised items to snapshot.

    Attributes
    ----------
    split
        Written into the dynamics rows (``tracked`` / ``validation``).
    item_ids
        n ids.
    labels
        Shape (n,): the label each loss is measured against.
    features
        n token feature dicts (unpadded).
    is_noisy
        Shape (n,) bools.
    """

    split: str
    item_ids: list[str]
    labels: np.ndarray
    features: list[dict[str, list[int]]]
    is_noisy: np.ndarray

    @classmethod
    def from_texts(
        cls,
        tokenizer: Any,
        *,
        split: str,
        item_ids: Sequence[str],
        premises: Sequence[str],
        hypotheses: Sequence[str | None] | None,
        labels: Sequence[int],
        is_noisy: Sequence[bool] | None = None,
        max_length: int = 128,
        template: str | None = None,
    ) -> EvalSet:
        """Tokenise ``premises``/``hypotheses`` (see :func:`~contested.train.data.encode_texts`)."""
        feats = encode_texts(
            tokenizer, premises, hypotheses, max_length=max_length, template=template
        )
        n = len(feats)
        return cls(
            split=split,
            item_ids=[str(i) for i in item_ids],
            labels=np.asarray(labels, np.int64),
            features=feats,
            is_noisy=np.zeros(n, bool) if is_noisy is None else np.asarray(is_noisy, bool),
        )

    def __len__(self) -> int:
        return len(self.item_ids)

    def n_batches(self, batch_size: int) -> int:
        """Forward passes needed at ``batch_size``."""
        return -(-len(self) // batch_size)


#: Default share of padding a growing batch may reach (see :func:`length_batches`).
MAX_PADDING = 0.3


def length_batches(
    lengths: Sequence[int], batch_size: int, *, max_padding: float = MAX_PADDING
) -> list[np.ndarray]:
    """Positions of items, grouped into batches of similar length, shortest items first.

    Items are sorted by length (stable) and cut into consecutive batches of at most
    ``batch_size`` items. A batch also ends early when adding the next (longer) item would make
    more than ``max_padding`` of its padded tokens padding: a few long items then get small
    batches of their own instead of padding a large batch of short ones.

    Why 0.3 by default: every forward pass also has a fixed cost, small on an idle machine
    (≈ 35 tokens' worth for MiniLM on one CPU thread) but dominant on a busy one, where each
    of the pass's many parallel regions waits for a descheduled thread. On ChaosNLI-SNLI
    snapshots of 112, 500 and 1,514 items, 0.3 keeps the number of forward passes of
    fixed-size batches (at most one more) and cuts the padded tokens by 10–25 %; 0.1 cuts a
    little more but needs up to 2.7× the forward passes.

    Parameters
    ----------
    lengths
        Tokens per item (unpadded).
    batch_size
        Most items per batch (≥ 1).
    max_padding
        Largest share of padding tokens a batch may have when it grows, in [0, 1]; 1 gives
        plain fixed-size batches of the sorted items.

    Returns
    -------
    list of numpy.ndarray
        Index arrays into ``lengths``; together they hold every index once.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    if not 0.0 <= max_padding <= 1.0:
        raise ValueError(f"max_padding must lie in [0, 1], got {max_padding}")
    lengths = np.asarray(lengths, np.int64)
    order = np.argsort(lengths, kind="stable")
    batches: list[np.ndarray] = []
    start, real = 0, 0
    for pos, length in enumerate(lengths[order].tolist()):
        n = pos - start
        # Sorted ascending, so the new item would be the batch's longest: padded = (n + 1) × length.
        if n and (n == batch_size or real + length < (1.0 - max_padding) * (n + 1) * length):
            batches.append(order[start:pos])
            start, real = pos, 0
        real += length
    if len(order):
        batches.append(order[start:])
    return batches


def _autocast(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager:
    if bf16:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def score_logits(
    model: torch.nn.Module,
    eval_set: EvalSet,
    *,
    collator: DynamicsCollator,
    batch_size: int = 64,
    bf16: bool = False,
    on_batch: Callable[[int], None] | None = None,
    max_padding: float = MAX_PADDING,
) -> np.ndarray:
    """Logits of every item of ``eval_set`` in eval mode under ``torch.no_grad``.

    Parameters
    ----------
    model
        A sequence-classification model (peft-wrapped or plain); its training mode is restored.
    eval_set
        The items.
    collator
        Pads each batch (its padding mode applies).
    batch_size
        Most items per forward pass.
    bf16
        Autocast to bfloat16.
    on_batch
        Called with the number of items after each batch (progress bars).
    max_padding
        See :func:`length_batches` (1 = fixed-size batches of the length-sorted items).

    Returns
    -------
    numpy.ndarray
        Shape (n, K), float32, in ``eval_set`` order.
    """
    return _score(
        model,
        eval_set.features,
        collator=collator,
        batch_size=batch_size,
        bf16=bf16,
        on_batch=on_batch,
        max_padding=max_padding,
    )


def _score(
    model: torch.nn.Module,
    features: Sequence[dict[str, list[int]]],
    *,
    collator: DynamicsCollator,
    batch_size: int,
    bf16: bool,
    on_batch: Callable[[int], None] | None,
    max_padding: float,
) -> np.ndarray:
    device = next(model.parameters()).device
    batches = length_batches(
        [len(f["input_ids"]) for f in features], batch_size, max_padding=max_padding
    )
    out: np.ndarray | None = None
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for idx in batches:
                batch = collator([features[i] for i in idx])
                batch = {k: v.to(device) for k, v in batch.items()}
                with _autocast(device, bf16):
                    logits = model(**batch).logits
                logits = logits.float().cpu().numpy()
                if out is None:
                    out = np.empty((len(features), logits.shape[1]), np.float32)
                out[idx] = logits
                if on_batch is not None:
                    on_batch(len(idx))
    finally:
        model.train(was_training)
    return out if out is not None else np.empty((0, 0), np.float32)


def take_snapshot(
    model: torch.nn.Module,
    recorder: DynamicsRecorder,
    eval_sets: Sequence[EvalSet],
    *,
    step: int,
    epoch: float,
    progress: float,
    collator: DynamicsCollator,
    batch_size: int = 64,
    bf16: bool = False,
    on_batch: Callable[[int], None] | None = None,
    max_padding: float = MAX_PADDING,
) -> None:
    """Score every set and record the rows with ``measurement="snapshot"`` (one set after another).

    All sets are scored in one length-sorted pass: the more items there are to sort, the closer
    each batch's lengths and the fewer the forward passes (the study's 1,211 tracked + 303
    validation items: 30.2 instead of 31.4 padded tokens per item; the benchmarks' 90 + 22: 3
    forward passes instead of 5). Batches then mix items of different sets, which changes their
    logits only by float rounding (padding is masked out).
    """
    sets = [es for es in eval_sets if len(es)]
    if not sets:
        return
    logits = _score(
        model,
        [f for es in sets for f in es.features],
        collator=collator,
        batch_size=batch_size,
        bf16=bf16,
        on_batch=on_batch,
        max_padding=max_padding,
    )
    start = 0
    for es in sets:
        recorder.update(
            es.item_ids,
            logits[start : start + len(es)],
            es.labels,
            step=step,
            epoch=epoch,
            progress=progress,
            measurement="snapshot",
            split=es.split,
            is_noisy=es.is_noisy,
        )
        start += len(es)


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows whose argmax equals the label."""
    return (
        float((logits.argmax(axis=1) == np.asarray(labels)).mean()) if len(labels) else float("nan")
    )
