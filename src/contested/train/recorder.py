"""Per-item learning-dynamics recorder (the Dynamics table of ARCHITECTURE.md).

The API copies AUM's (asappresearch/aum): call :meth:`DynamicsRecorder.update` with a batch's
item ids, logits and labels from any loop, then :meth:`~DynamicsRecorder.finalize` for one long
table. The recorder derives everything else (loss, p(label), prediction) from the logits, so
rows are consistent by construction and any metric can be recomputed offline.

Example (a plain PyTorch loop)::

    rec = DynamicsRecorder(run_id="demo")
    for step, (ids, x, y) in enumerate(batches):
        logits = model(x)
        rec.update(ids, logits, y, step=step, epoch=step / steps_per_epoch,
                   progress=step / total_steps, measurement="inflight", split="tracked")
    df = rec.finalize()
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.special import log_softmax

from contested.io import atomic_path

MEASUREMENTS = ("snapshot", "inflight")

#: Column order and Arrow types of ``dynamics.parquet``.
SCHEMA = pa.schema([
    ("run_id", pa.string()),
    ("item_id", pa.string()),
    ("split", pa.string()),
    ("step", pa.int64()),
    ("epoch", pa.float64()),
    ("progress", pa.float64()),
    ("measurement", pa.string()),
    ("loss", pa.float32()),
    ("logits", pa.list_(pa.float32())),
    ("p_label", pa.float32()),
    ("predicted", pa.int64()),
    ("label_used", pa.int64()),
    ("is_noisy", pa.bool_()),
])


def _to_numpy(values: Any, dtype: Any) -> np.ndarray:
    if hasattr(values, "detach"):  # torch tensors, without importing torch here
        values = values.detach().float().cpu().numpy() if dtype == np.float32 else values.detach().cpu().numpy()
    return np.asarray(values, dtype=dtype)


def per_item_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unweighted cross-entropy and p(label) per item.

    Parameters
    ----------
    logits
        Shape (n, K), any float dtype (computed in float64).
    labels
        Shape (n,), ints in [0, K).

    Returns
    -------
    loss, p_label
        Shape (n,) each, float32; loss in nats (−log p(label)).
    """
    logp = log_softmax(np.asarray(logits, dtype=np.float64), axis=1)
    picked = logp[np.arange(len(labels)), labels]
    return (-picked).astype(np.float32), np.exp(picked).astype(np.float32)


class DynamicsRecorder:
    """Collect per-item losses and logits; one row per item × checkpoint × measurement.

    Parameters
    ----------
    run_id
        Written into every row (our runs use the config digest).

    Attributes
    ----------
    num_classes_ : int or None
        K, fixed by the first :meth:`update`.
    """

    def __init__(self, *, run_id: str = "") -> None:
        self.run_id = run_id
        self.num_classes_: int | None = None
        self._chunks: list[dict[str, Any]] = []
        self._rows = 0
        #: Step of the latest snapshot row, kept as rows arrive so callbacks need not scan the chunks.
        self.last_snapshot_step: int | None = None

    def __len__(self) -> int:
        return self._rows

    def update(
        self,
        item_ids: Sequence[str],
        logits: Any,
        labels: Any,
        *,
        step: int,
        epoch: float,
        progress: float,
        measurement: str,
        split: str,
        is_noisy: Any = None,
    ) -> None:
        """Record one batch.

        Parameters
        ----------
        item_ids
            n item ids.
        logits
            Shape (n, K) tensor or array; stored as float32.
        labels
            Shape (n,): the label each loss is measured against (``label_used``).
        step
            Optimiser steps taken when the logits were computed (0 = before training).
        epoch
            Epochs of training behind the parameters (float; 1.0 = end of the first epoch).
        progress
            ``step / total_steps``, in [0, 1].
        measurement
            ``snapshot`` (eval mode, no grad) or ``inflight`` (the training forward pass).
        split
            ``tracked`` or ``validation`` in our runs; any label in your own loop.
        is_noisy
            Shape (n,) bools: whether the item's training label was flipped; default all False.
        """
        if measurement not in MEASUREMENTS:
            raise ValueError(f"measurement must be one of {MEASUREMENTS}, got {measurement!r}")
        ids = [str(i) for i in item_ids]
        lg = _to_numpy(logits, np.float32)
        lab = _to_numpy(labels, np.int64).reshape(-1)
        n = len(ids)
        if lg.ndim != 2 or lg.shape[0] != n or lab.shape[0] != n:
            raise ValueError(f"expected logits (n, K) and labels (n,) for n={n} ids; "
                             f"got logits {lg.shape}, labels {lab.shape}")
        if n == 0:
            return
        if self.num_classes_ is None:
            self.num_classes_ = lg.shape[1]
        elif lg.shape[1] != self.num_classes_:
            raise ValueError(f"logits have {lg.shape[1]} classes, earlier batches had {self.num_classes_}")
        if lab.min() < 0 or lab.max() >= lg.shape[1]:
            raise ValueError(f"labels must lie in [0, {lg.shape[1]}), got {lab.min()}..{lab.max()}")
        noisy = np.zeros(n, bool) if is_noisy is None else _to_numpy(is_noisy, bool).reshape(-1)
        loss, p_label = per_item_cross_entropy(lg, lab)
        self._chunks.append({
            "item_id": ids, "split": split, "step": int(step), "epoch": float(epoch),
            "progress": float(progress), "measurement": measurement, "loss": loss, "logits": lg,
            "p_label": p_label, "predicted": lg.argmax(axis=1).astype(np.int64), "label_used": lab,
            "is_noisy": noisy,
        })
        self._rows += n
        if measurement == "snapshot":
            self.last_snapshot_step = int(step)

    def to_arrow(self) -> pa.Table:
        """All rows as an Arrow table with :data:`SCHEMA` (row order = recording order)."""
        if not self._chunks:
            return SCHEMA.empty_table()
        batches = []
        for c in self._chunks:
            n = len(c["item_id"])
            k = c["logits"].shape[1]
            logits = pa.ListArray.from_arrays(
                pa.array(np.arange(0, (n + 1) * k, k, dtype=np.int32)), pa.array(c["logits"].reshape(-1))
            )
            batches.append(pa.record_batch([
                pa.array([self.run_id] * n, pa.string()), pa.array(c["item_id"], pa.string()),
                pa.array([c["split"]] * n, pa.string()), pa.array(np.full(n, c["step"], np.int64)),
                pa.array(np.full(n, c["epoch"])), pa.array(np.full(n, c["progress"])),
                pa.array([c["measurement"]] * n, pa.string()), pa.array(c["loss"]), logits,
                pa.array(c["p_label"]), pa.array(c["predicted"]), pa.array(c["label_used"]),
                pa.array(c["is_noisy"]),
            ], schema=SCHEMA))
        return pa.Table.from_batches(batches, schema=SCHEMA)

    def finalize(self) -> pd.DataFrame:
        """The Dynamics table as a DataFrame (``logits`` cells are float32 arrays of length K)."""
        return self.to_arrow().to_pandas()

    def write(self, path: str | os.PathLike) -> Path:
        """Write ``dynamics.parquet`` atomically (zstd-compressed)."""
        path = Path(path)
        with atomic_path(path) as tmp:
            pq.write_table(self.to_arrow(), tmp, compression="zstd")
        return path

    def snapshot_steps(self) -> list[int]:
        """Distinct steps with snapshot rows, in recording order."""
        seen: dict[int, None] = {}
        for c in self._chunks:
            if c["measurement"] == "snapshot":
                seen.setdefault(c["step"], None)
        return list(seen)
