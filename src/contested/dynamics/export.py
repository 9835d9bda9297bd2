"""A run's predictions in other tools' file formats (no torch): ChaosNLI's prediction file.

ChaosNLI's evaluation (``easonnie/ChaosNLI``, ``src/scripts/evaluate.py`` → ``src/evaluation/tools.py``)
reads ``{model_name: {uid: {"uid", "predicted_probabilities", "predicted_label"}}}``: probabilities in
class order (e, n, c for NLI; 1, 2 for αNLI) and the label as its sample and model-prediction files
spell it ("entailment" …, or 1 / 2 for αNLI).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from contested.data.predictions import chaosnli_label
from contested.dynamics.human_fit import logits_matrix
from contested.dynamics.human_scores import softmax
from contested.errors import ContestedError

CHECKPOINTS = ("final", "initial")


def run_snapshots(dynamics: pd.DataFrame, split: str | None) -> pd.DataFrame:
    """The eval-mode snapshot rows of one run, for an export.

    Parameters
    ----------
    dynamics
        One run's dynamics table.
    split
        Keep only ``"tracked"`` or ``"validation"`` items; ``None``: every item the run recorded.

    Raises
    ------
    ContestedError
        No snapshot rows (for ``split``), or rows of several runs.
    """
    snap = dynamics.loc[dynamics["measurement"] == "snapshot"]
    if split is not None:
        snap = snap.loc[snap["split"] == split]
    if snap.empty:
        raise ContestedError(f"run has no snapshot rows{f' for split {split}' if split else ''}; nothing to export")
    if "run_id" in snap.columns and snap["run_id"].nunique() > 1:
        raise ContestedError("dynamics table holds several runs; export one run at a time")
    return snap


def select_checkpoint(dynamics: pd.DataFrame, checkpoint: str | int = "final", *,
                      split: str | None = None) -> pd.DataFrame:
    """One snapshot row per item: its last (``"final"``), first (``"initial"``) or the one at a given step.

    Parameters
    ----------
    dynamics
        One run's dynamics table with ``logits``.
    checkpoint
        ``"final"``, ``"initial"`` or an optimiser step (int, or a string of digits).
    split
        Keep only ``"tracked"`` or ``"validation"`` items; ``None``: every item the run recorded.

    Raises
    ------
    ContestedError
        An unknown checkpoint, a step some items lack (the message lists recorded steps), or no rows.
    """
    snap = run_snapshots(dynamics, split)
    text = str(checkpoint).strip().lower()
    if text in CHECKPOINTS:
        by_item = snap.groupby("item_id", sort=True)["step"]
        return snap.loc[by_item.idxmax() if text == "final" else by_item.idxmin()]
    if not text.isdigit():
        raise ContestedError(f"--checkpoint '{checkpoint}': use final, initial or an optimiser step such as 300")
    step = int(text)
    rows = snap.loc[snap["step"] == step].sort_values("item_id")
    n_items = snap["item_id"].nunique()
    if len(rows) != n_items or rows["item_id"].duplicated().any():
        steps = np.sort(snap["step"].unique())
        shown = ", ".join(str(s) for s in steps[:12]) + (", …" if len(steps) > 12 else "")
        raise ContestedError(f"--checkpoint {step}: {len(rows):,} of {n_items:,} items have a snapshot at that "
                             f"step; recorded steps: {shown}")
    return rows


def chaosnli_predictions(dynamics: pd.DataFrame, *, label_names: Sequence[str], model_name: str,
                         checkpoint: str | int = "final", split: str | None = None) -> dict[str, Any]:
    """A run's checkpoint as a ChaosNLI prediction file (a JSON-ready dict).

    Parameters
    ----------
    dynamics
        One run's dynamics table, read with logits (``load_run(path, logits=True)``).
    label_names
        The run's classes in order (``metrics.json`` ``label_names``).
    model_name
        The file's top-level key.
    checkpoint, split
        See :func:`select_checkpoint`.

    Returns
    -------
    dict
        ``{model_name: {uid: {"uid": uid, "predicted_probabilities": [p_1..p_K] (softmax of the
        logits), "predicted_label": argmax, spelled by :func:`contested.data.predictions.chaosnli_label`}}}``.
    """
    rows = select_checkpoint(dynamics, checkpoint, split=split)
    logits = logits_matrix(rows["logits"])
    if logits.shape[1] != len(label_names):
        raise ContestedError(f"run: logits have {logits.shape[1]} entries but the run names {len(label_names)} "
                             f"classes ({', '.join(map(str, label_names))})")
    probs = softmax(logits)
    predicted = np.argmax(probs, axis=1)
    entries = {}
    for uid, p, k in zip(rows["item_id"].astype(str), probs, predicted, strict=True):
        entries[uid] = {"uid": uid, "predicted_probabilities": [float(x) for x in p],
                        "predicted_label": chaosnli_label(int(k), label_names)}
    return {model_name: entries}
