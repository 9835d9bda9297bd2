"""Eval-mode snapshots: score fixed item sets with dropout off and no gradients.

Items are tokenised once (:class:`EvalSet`), sorted by length so that each batch pads to
little more than its own length, and scored in large batches; logits come back in the
set's original order.
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
        feats = encode_texts(tokenizer, premises, hypotheses, max_length=max_length, template=template)
        n = len(feats)
        return cls(
            split=split, item_ids=[str(i) for i in item_ids], labels=np.asarray(labels, np.int64),
            features=feats,
            is_noisy=np.zeros(n, bool) if is_noisy is None else np.asarray(is_noisy, bool),
        )

    def __len__(self) -> int:
        return len(self.item_ids)

    def n_batches(self, batch_size: int) -> int:
        """Forward passes needed at ``batch_size``."""
        return -(-len(self) // batch_size)


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
        Items per forward pass.
    bf16
        Autocast to bfloat16.
    on_batch
        Called with the number of items after each batch (progress bars).

    Returns
    -------
    numpy.ndarray
        Shape (n, K), float32, in ``eval_set`` order.
    """
    device = next(model.parameters()).device
    order = np.argsort([len(f["input_ids"]) for f in eval_set.features], kind="stable")
    out: np.ndarray | None = None
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                batch = collator([eval_set.features[i] for i in idx])
                batch = {k: v.to(device) for k, v in batch.items()}
                with _autocast(device, bf16):
                    logits = model(**batch).logits
                logits = logits.float().cpu().numpy()
                if out is None:
                    out = np.empty((len(eval_set), logits.shape[1]), np.float32)
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
) -> None:
    """Score every set and record the rows with ``measurement="snapshot"``."""
    for es in eval_sets:
        if len(es) == 0:
            continue
        logits = score_logits(model, es, collator=collator, batch_size=batch_size, bf16=bf16,
                              on_batch=on_batch)
        recorder.update(es.item_ids, logits, es.labels, step=step, epoch=epoch, progress=progress,
                        measurement="snapshot", split=es.split, is_noisy=es.is_noisy)


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows whose argmax equals the label."""
    return float((logits.argmax(axis=1) == np.asarray(labels)).mean()) if len(labels) else float("nan")
