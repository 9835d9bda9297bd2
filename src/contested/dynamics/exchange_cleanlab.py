"""A run's predictions and the annotations in cleanlab's multi-annotator input format (no torch).

cleanlab (Northcutt et al.; multi-annotator: Goh, Tkachenko & Mueller 2022, "CROWDLAB")
``cleanlab.multiannotator.get_label_quality_multiannotator(labels_multiannotator, pred_probs)``
takes

* ``labels_multiannotator``: (N, M) items × annotators, the class index (0..K-1) each annotator
  gave, NaN where an annotator did not label the item; every row needs one label, every column
  names one *annotator* (whose quality it estimates);
* ``pred_probs``: (N, K) a model's predicted class probabilities, rows summing to 1, ideally
  out-of-sample (cleanlab recommends cross-validated predictions).

Our item tables keep each item's vote *counts* only (ChaosNLI publishes counts; the loaders fold
per-annotator lists into counts), never who voted what, so no annotator matrix can be written:
:func:`cleanlab_arrays` writes the counts (``label_counts``, N × K) and says so in the index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from contested.dynamics.export import select_checkpoint
from contested.dynamics.human_fit import logits_matrix
from contested.dynamics.human_scores import softmax
from contested.errors import ContestedError

#: File names inside the export folder.
PRED_PROBS = "pred_probs.npy"
LABEL_COUNTS = "label_counts.npy"
LABELS = "labels.npy"
INDEX = "contested_export.json"

NO_ANNOTATORS = ("per-annotator labels are not available: the item table keeps vote counts per class, not who "
                 "voted what, so cleanlab's get_label_quality_multiannotator(labels_multiannotator, pred_probs) "
                 "cannot be run on these files")
WITH_COUNTS = "label_counts.npy holds the votes per class"
WITH_LABELS = "labels.npy holds the training labels, for cleanlab.filter.find_label_issues(labels, pred_probs)"


def cleanlab_arrays(dynamics: pd.DataFrame, items: pd.DataFrame, *, label_names: Sequence[str],
                    checkpoint: str | int = "final", split: str | None = None) -> tuple[dict[str, np.ndarray],
                                                                                        dict[str, Any]]:
    """pred_probs, vote counts and training labels of one checkpoint, and their JSON index.

    Parameters
    ----------
    dynamics
        One run's dynamics table with ``logits``.
    items
        The run's item table (``item_id``, ``label_counts``, ``training_label``, ``split``).
    label_names
        The run's classes, in id order.
    checkpoint, split
        See :func:`contested.dynamics.export.select_checkpoint`.

    Returns
    -------
    arrays : dict of str to numpy.ndarray
        ``pred_probs.npy``: (N, K) float64, softmax of the checkpoint's logits (rows sum to 1);
        ``labels.npy``: (N,) int64, the run's training label; ``label_counts.npy``: (N, K) int64
        annotator votes per class, when the item table has them. Rows in item-id order.
    index : dict
        ``item_ids`` (row order), ``label_names``, ``checkpoint`` (what was asked and the steps
        used), ``split``, ``files`` (name → shape, dtype, meaning), ``per_annotator_labels``
        (False) and ``labels_multiannotator`` (None) with ``note`` saying why.

    Raises
    ------
    ContestedError
        A bad checkpoint or split (see ``select_checkpoint``), logits whose length is not the
        number of classes, or dynamics items the item table lacks.
    """
    rows = select_checkpoint(dynamics, checkpoint, split=split).sort_values("item_id", kind="stable")
    ids = rows["item_id"].astype(str).to_numpy()
    logits = logits_matrix(rows["logits"])
    k = len(label_names)
    if logits.shape[1] != k:
        raise ContestedError(f"run: logits have {logits.shape[1]} entries but the run names {k} classes")
    probs = softmax(logits)
    table = items.assign(item_id=items["item_id"].astype(str)).drop_duplicates("item_id").set_index("item_id")
    missing = [i for i in ids if i not in table.index]
    if missing:
        raise ContestedError(f"run: items.parquet lacks {len(missing)} item(s) of the dynamics (e.g. {missing[0]}); "
                             "the run is damaged, rerun it")
    table = table.loc[ids]
    arrays = {PRED_PROBS: probs}
    files = {PRED_PROBS: {"shape": list(probs.shape), "dtype": "float64",
                          "meaning": "predicted class probabilities (softmax of the logits), items x classes"}}
    if "training_label" in table.columns and table["training_label"].notna().all():
        arrays[LABELS] = table["training_label"].to_numpy(dtype=np.int64)
        files[LABELS] = {"shape": [len(ids)], "dtype": "int64", "meaning": "the run's training label of each item"}
    has_counts = "label_counts" in table.columns and table["label_counts"].notna().all()
    if has_counts:
        counts = np.array([np.asarray(c, dtype=np.int64) for c in table["label_counts"]], dtype=np.int64)
        if counts.ndim != 2 or counts.shape[1] != k:
            raise ContestedError(f"run: items.parquet label_counts are not {k} counts per item; rerun the run")
        arrays[LABEL_COUNTS] = counts.reshape(len(ids), k)
        files[LABEL_COUNTS] = {"shape": [len(ids), k], "dtype": "int64",
                               "meaning": "annotator votes per class (not per annotator), items x classes"}
    index = {
        "format": "cleanlab multi-annotator inputs (numpy .npy)",
        "item_ids": [str(i) for i in ids], "label_names": [str(n) for n in label_names],
        "checkpoint": {"requested": str(checkpoint),
                       "steps": sorted({int(s) for s in rows["step"]})},
        "split": split or "all",
        # Tracked items were trained on: their pred_probs are in-sample (validation items' are not).
        "trained_on": bool((rows["split"] == "tracked").any()) if "split" in rows.columns else None,
        "files": files,
        "per_annotator_labels": False, "labels_multiannotator": None,
        "note": "; ".join([NO_ANNOTATORS, *([WITH_COUNTS] if has_counts else []),
                           *([WITH_LABELS] if LABELS in arrays else [])]),
    }
    return arrays, index
