"""Tokenised training items that keep their item ids, and the collator that batches them.

The HF ``Trainer`` drops every column its model does not accept unless
``remove_unused_columns=False``; we keep ``item_id``, ``is_tracked``, ``label_used`` and
``is_noisy`` in each batch so that :class:`~contested.train.trainer.InflightLossMixin` can
record per-item losses from the training forward pass, and the optional ``soft_labels``
(soft targets) and ``item_weight`` (per-item loss weights) that its training loss uses;
``compute_loss`` strips them (``MODEL_EXTRAS``) before the model sees the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import datasets
import numpy as np
import torch

from contested.data import BIN_NAMES
from contested.errors import ContestedError

#: Batch keys that describe items rather than feed the model.
MODEL_EXTRAS = ("item_id", "is_tracked", "label_used", "is_noisy", "soft_labels", "item_weight")


def encode_texts(
    tokenizer: Any,
    premises: Sequence[str],
    hypotheses: Sequence[str | None] | None,
    *,
    max_length: int,
    template: str | None = None,
) -> list[dict[str, list[int]]]:
    """Tokenise items without padding (padding happens per batch in :class:`DynamicsCollator`).

    Parameters
    ----------
    tokenizer
        A HF tokenizer.
    premises, hypotheses
        First and second texts, length n; ``hypotheses`` None (or all None) for single-text tasks.
    max_length
        Truncate to this many tokens (pairs: the longer text is cut first).
    template
        Decoders read one string: ``template.format(premise=..., hypothesis=...)``.

    Returns
    -------
    list of dict
        n feature dicts (``input_ids``, ``attention_mask``, maybe ``token_type_ids``).
    """
    premises = [str(p) for p in premises]
    pairs = hypotheses is not None and any(_present(h) for h in hypotheses)
    if pairs and not all(_present(h) for h in hypotheses):
        raise ContestedError(
            "items mix single-text and pair items (some hypotheses are empty); "
            "give every item a hypothesis or none"
        )
    if template is not None:
        texts = [template.format(premise=p, hypothesis=h if pairs else "")
                 for p, h in zip(premises, hypotheses if pairs else premises, strict=True)]
        enc = tokenizer(texts, truncation=True, max_length=max_length)
    elif pairs:
        enc = tokenizer(premises, [str(h) for h in hypotheses], truncation=True, max_length=max_length)
    else:
        enc = tokenizer(premises, truncation=True, max_length=max_length)
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    return [{k: list(enc[k][i]) for k in keys} for i in range(len(premises))]


def _present(text: object) -> bool:
    return text is not None and not (isinstance(text, float) and np.isnan(text)) and str(text) != ""


def tokenised_dataset(
    features: list[dict[str, list[int]]],
    *,
    labels: Sequence[int],
    item_ids: Sequence[str],
    is_tracked: Sequence[bool] | None = None,
    label_used: Sequence[int] | None = None,
    is_noisy: Sequence[bool] | None = None,
    soft_labels: np.ndarray | None = None,
    item_weight: Sequence[float] | None = None,
) -> datasets.Dataset:
    """Training items as a HF ``datasets.Dataset`` that keeps the item metadata.

    Columns: the token features, ``labels`` (training label), ``item_id``, ``is_tracked``,
    ``label_used`` (the label tracking compares against; -1 for untracked bulk items),
    ``is_noisy``, ``length`` (tokens, for ``group_by_length``) and optionally ``soft_labels``
    and ``item_weight``.

    Parameters
    ----------
    features
        Output of :func:`encode_texts`, length n.
    labels
        Training labels, shape (n,), ints in [0, K).
    item_ids
        Unique item ids, length n.
    is_tracked, label_used, is_noisy
        Per-item flags/labels, shape (n,); defaults: all tracked, ``label_used = labels``,
        not noisy.
    soft_labels
        Optional soft targets, shape (n, K), rows summing to 1.
    item_weight
        Optional per-item training-loss weights, shape (n,), ≥ 0 (see :func:`item_weights`);
        absent = every item weighs 1. They never touch the recorded losses.
    """
    n = len(features)
    labels = np.asarray(labels, dtype=np.int64)
    columns: dict[str, Any] = {k: [f[k] for f in features] for k in (features[0] if n else {})}
    columns.update(
        labels=labels.tolist(),
        item_id=[str(i) for i in item_ids],
        is_tracked=[True] * n if is_tracked is None else np.asarray(is_tracked, bool).tolist(),
        label_used=labels.tolist() if label_used is None else np.asarray(label_used, np.int64).tolist(),
        is_noisy=[False] * n if is_noisy is None else np.asarray(is_noisy, bool).tolist(),
        length=[len(f["input_ids"]) for f in features],
    )
    if soft_labels is not None:
        columns["soft_labels"] = np.asarray(soft_labels, np.float32).tolist()
    if item_weight is not None:
        columns["item_weight"] = np.asarray(item_weight, np.float32).tolist()
    for name, values in columns.items():
        if len(values) != n:
            raise ValueError(f"{name} has length {len(values)}, expected {n}")
    return datasets.Dataset.from_dict(columns)


class DynamicsCollator:
    """Pad token features with the tokenizer and stack the item metadata.

    Parameters
    ----------
    tokenizer
        HF tokenizer (its ``padding_side`` is respected: decoders pad on the left).
    padding
        ``longest`` (to the longest item of the batch) or ``max_length`` (always ``max_length``).
    max_length
        Pad length for ``padding="max_length"``.

    Notes
    -----
    ``item_id`` stays a list of str; the HF ``Trainer`` moves tensors to the device and passes
    other values through unchanged.
    """

    def __init__(self, tokenizer: Any, *, padding: str = "longest", max_length: int = 128) -> None:
        if padding not in ("longest", "max_length"):
            raise ContestedError(f"padding '{padding}' is unknown; use longest or max_length")
        self.tokenizer = tokenizer
        self.padding = padding
        self.max_length = max_length

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        token_keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in items[0]]
        batch = dict(self.tokenizer.pad(
            [{k: it[k] for k in token_keys} for it in items],
            padding=self.padding, max_length=self.max_length if self.padding == "max_length" else None,
            return_tensors="pt",
        ))
        if "labels" in items[0]:
            batch["labels"] = torch.tensor([it["labels"] for it in items], dtype=torch.long)
        if "item_id" in items[0]:
            batch["item_id"] = [it["item_id"] for it in items]
        for key, dtype in (("is_tracked", torch.bool), ("label_used", torch.long),
                           ("is_noisy", torch.bool), ("soft_labels", torch.float32),
                           ("item_weight", torch.float32)):
            if key in items[0]:
                batch[key] = torch.tensor([it[key] for it in items], dtype=dtype)
        return batch


def class_weights(labels: Sequence[int], num_classes: int) -> np.ndarray:
    """Inverse-class-frequency weights normalised to sum to ``num_classes`` (the study's).

    Parameters
    ----------
    labels
        Training labels of the whole mixture, shape (n,).
    num_classes
        K.

    Returns
    -------
    numpy.ndarray
        Shape (K,), float32. A class absent from ``labels`` gets weight 0 (it is never a target).

    Examples
    --------
    >>> class_weights([0, 0, 0, 1], 2).round(3).tolist()
    [0.5, 1.5]
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes).astype(np.float64)
    if (counts > 0).sum() < 2:
        raise ContestedError(
            f"the training labels cover {(counts > 0).sum()} class(es); training needs at least two "
            "(check the dataset's labels or the bulk source)"
        )
    inv = np.divide(1.0, counts, out=np.zeros_like(counts), where=counts > 0)
    return (inv / inv.sum() * num_classes).astype(np.float32)


def item_weights(
    is_tracked: Sequence[bool],
    entropy: Sequence[float],
    bins: Sequence[str | None],
    *,
    mode: str,
    num_classes: int,
    bin_weights: Sequence[float] | None = None,
) -> np.ndarray:
    """Per-item training-loss weights (``train.item_weighting``); bulk items weigh 1.

    Parameters
    ----------
    is_tracked
        Shape (n,): which rows are tracked multi-annotator items.
    entropy
        Shape (n,): annotation entropy in **nats** (ignored for bulk rows; NaN is fine there).
    bins
        Shape (n,): entropy bin names (``clean``/``ambiguous``/``contested``; ignored for bulk rows).
    mode
        ``none`` (all 1), ``entropy`` (tracked: ``1 − H / ln K``, clipped to [0, 1]) or ``bins``
        (tracked: ``bin_weights[b]`` for bin b in ``BIN_NAMES`` order).
    num_classes
        K (the normaliser ln K of ``entropy``).
    bin_weights
        One weight per bin for ``mode="bins"``.

    Returns
    -------
    numpy.ndarray
        Shape (n,), float32.

    Examples
    --------
    >>> import math
    >>> item_weights([True, True, False], [0.0, math.log(3), float("nan")], ["clean", "contested", None],
    ...              mode="entropy", num_classes=3).round(3).tolist()
    [1.0, 0.0, 1.0]
    >>> item_weights([True, False], [0.9, 0.0], ["contested", None], mode="bins", num_classes=3,
    ...              bin_weights=[1, 1, 0.5]).tolist()
    [0.5, 1.0]
    """
    tracked = np.asarray(is_tracked, dtype=bool)
    out = np.ones(len(tracked), dtype=np.float64)
    if mode == "none":
        return out.astype(np.float32)
    if mode == "entropy":
        h = np.asarray(entropy, dtype=np.float64)[tracked]
        if not np.isfinite(h).all():
            raise ContestedError("item_weighting 'entropy' needs the annotation entropy of every tracked item")
        out[tracked] = np.clip(1.0 - h / np.log(num_classes), 0.0, 1.0)
    elif mode == "bins":
        if bin_weights is None or len(bin_weights) != len(BIN_NAMES):
            raise ContestedError(f"item_weighting 'bins' needs {len(BIN_NAMES)} bin weights "
                                 f"({', '.join(BIN_NAMES)})")
        lookup = dict(zip(BIN_NAMES, map(float, bin_weights), strict=True))
        names = [str(b) for b, t in zip(bins, tracked, strict=True) if t]
        unknown = sorted(set(names) - set(lookup))
        if unknown:
            raise ContestedError(f"tracked items in bin(s) {', '.join(unknown)}; item_weighting 'bins' knows "
                                 f"{', '.join(BIN_NAMES)}")
        out[tracked] = [lookup[b] for b in names]
    else:
        raise ContestedError(f"unknown item_weighting {mode!r}; use none, entropy or bins")
    return out.astype(np.float32)
