"""Score prediction files against a multi-annotator dataset: ChaosNLI's and LeWiDi 2023's metrics (no torch).

Every number comes from :func:`contested.dynamics.human_scores.item_scores` and
:func:`~contested.dynamics.human_scores.summarise`, the same code that scores a run's own
checkpoints, so ``contested score`` on an exported run reproduces the run's human-fit table.
Formats and metric definitions, with their sources: ``docs/scoring.md``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from contested.data.predictions import ModelPredictions, PredictionFile, read_predictions
from contested.dynamics.human_scores import SUMMARY_COLUMNS, item_scores, softmax, summarise
from contested.errors import ContestedError, located

#: Rows of the scores table per model: all items, then each entropy bin that has items.
OVERALL = "all"


@dataclass(frozen=True)
class Scores:
    """The scores of every model in a prediction file.

    Attributes
    ----------
    dataset
        Dataset name (item table ``attrs["dataset"]``).
    predictions
        The prediction file and its detected format.
    label_names
        The dataset's classes, in order.
    n_items
        Items in the dataset.
    table
        One row per model × (``all``, then each bin with items): ``model, bin`` and
        :data:`~contested.dynamics.human_scores.SUMMARY_COLUMNS` (``n, jsd, kl, accuracy,
        accuracy_old, n_old, pred_entropy, lewidi_ce, f1_micro``).
    missing
        Model → number of dataset items without a prediction (non-zero only with ``allow_missing``).
    extra
        Model → number of predictions for ids the dataset lacks, skipped (non-zero only with ``allow_extra``).
    """

    dataset: str
    predictions: PredictionFile
    label_names: list[str]
    n_items: int
    table: pd.DataFrame
    missing: dict[str, int] = field(default_factory=dict)
    extra: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN → null): dataset, file, format, conventions and per-model scores."""
        models: dict[str, Any] = {}
        for name, rows in self.table.groupby("model", sort=False):
            per = {str(r["bin"]): {c: _plain(r[c]) for c in SUMMARY_COLUMNS} for _, r in rows.iterrows()}
            overall = per.pop(OVERALL)
            models[str(name)] = {"n_missing": self.missing.get(str(name), 0), "n_extra": self.extra.get(str(name), 0),
                                 "overall": overall, "bins": per}
        return {
            "dataset": self.dataset, "predictions": str(self.predictions.path), "format": self.predictions.fmt,
            "label_names": self.label_names, "n_items": self.n_items, "models": models,
            "conventions": CONVENTIONS,
        }


#: What each JSON field means (written into every scores file).
CONVENTIONS = {
    "jsd": "mean Jensen-Shannon distance (sqrt of the divergence, natural log) between the human label "
           "distribution and the prediction floored at 1e-15 and renormalised (ChaosNLI 'JSD')",
    "kl": "mean KL(human || prediction) in nats, prediction floored at 1e-15 and renormalised (ChaosNLI 'KL')",
    "accuracy": "predicted label == majority of the annotator votes, ties to the lowest class index (ChaosNLI 'New Acc.')",
    "accuracy_old": "predicted label == the original gold label, over the n_old items that have one "
                    "(ChaosNLI 'Old Acc.')",
    "pred_entropy": "mean entropy of the (floored) prediction, nats",
    "lewidi_ce": "LeWiDi 2023 soft score: mean over items of -sum_k p_human,k ln(clip(p_k, 1e-12, 1-1e-12) + 1e-9), nats",
    "f1_micro": "LeWiDi 2023 hard score: micro-averaged F1 of the predicted label against the hard label "
                "(the original label where the dataset has one, else the majority)",
}


def score_predictions(items: pd.DataFrame, predictions: PredictionFile, *, allow_missing: bool = False,
                      allow_extra: bool = False) -> Scores:
    """Score every model of a prediction file against an item table.

    Parameters
    ----------
    items
        Item table (:func:`contested.data.load_items`): ``item_id, label_dist, majority_label,
        old_label, bin``; ``attrs["label_names"]``.
    predictions
        From :func:`contested.data.predictions.read_predictions` with the same label names.
    allow_missing
        Score only the items a model predicts; otherwise a dataset item without a prediction is an error.
    allow_extra
        Skip predictions for ids the dataset lacks (e.g. ChaosNLI's ``model_predictions_for_snli_mnli.json``,
        which holds SNLI and MNLI items, scored against one of them); otherwise they are an error.

    Raises
    ------
    ContestedError
        A predicted id the dataset lacks (without ``allow_extra``), two predictions for one item, or
        (without ``allow_missing``) dataset items with no prediction.
    """
    ids = items["item_id"].astype(str).to_numpy()
    index = {item_id: i for i, item_id in enumerate(ids)}
    aliases = _aliases(ids, items.attrs.get("dataset", ""))
    p_h = np.stack([np.asarray(v, dtype=np.float64) for v in items["label_dist"]])
    rows, missing, extra = [], {}, {}
    for name, model in predictions.models.items():
        pos, keep = _positions(model, index, aliases, predictions.path, items.attrs.get("dataset", "the dataset"),
                               allow_extra=allow_extra)
        extra[name] = len(model.item_ids) - len(pos)
        lacking = len(ids) - len(pos)
        if lacking and not allow_missing:
            absent = ids[np.setdiff1d(np.arange(len(ids)), pos)[0]]
            raise located(predictions.path, f"model '{name}' has no prediction for {lacking:,} of the dataset's "
                          f"{len(ids):,} items (e.g. '{absent}'); predict every item or pass --allow-missing")
        missing[name] = lacking
        probs, logits = model.values[keep], model.from_logits[keep]
        if logits.any():
            probs[logits] = softmax(probs[logits])
        sub = items.iloc[pos]
        scores = item_scores(p_h[pos], probs, majority=sub["majority_label"].to_numpy(),
                             old_label=sub["old_label"] if "old_label" in sub.columns else None,
                             predicted=model.predicted[keep])
        rows.append(summarise(scores).assign(model=name, bin=OVERALL))
        if "bin" in sub.columns:  # categorical: clean, ambiguous, contested order; empty bins dropped
            rows.append(summarise(scores.assign(bin=pd.Categorical(sub["bin"])), by=["bin"]).assign(model=name))
    table = pd.concat(rows, ignore_index=True)[["model", "bin", *SUMMARY_COLUMNS]]
    table["bin"] = table["bin"].astype(str)
    return Scores(dataset=str(items.attrs.get("dataset", "")), predictions=predictions,
                  label_names=[str(n) for n in items.attrs.get("label_names", [])], n_items=len(ids),
                  table=table, missing=missing, extra=extra)


def score_file(dataset: str, predictions: str | os.PathLike, *, data_dir: str | os.PathLike | None = None,
               allow_missing: bool = False, allow_extra: bool = False) -> Scores:
    """Load ``dataset`` (registry name or file), read ``predictions`` and score them (see :func:`score_predictions`)."""
    from contested.data import load_items

    items = load_items(dataset, data_dir=data_dir)
    names = items.attrs.get("label_names")
    if not names:
        raise ContestedError(f"{dataset}: the item table carries no label names; cannot read predictions")
    pred = read_predictions(Path(predictions), label_names=names, item_order=items["item_id"].astype(str).tolist())
    return score_predictions(items, pred, allow_missing=allow_missing, allow_extra=allow_extra)


def _positions(model: ModelPredictions, index: dict[str, int], aliases: dict[str, str], path: Path,
               dataset: str, *, allow_extra: bool) -> tuple[np.ndarray, np.ndarray]:
    """Dataset row of each prediction, and the mask of predictions kept (known ids)."""
    pos, keep = [], np.zeros(len(model.item_ids), dtype=bool)
    first: dict[int, str] = {}
    for row, (item_id, here) in enumerate(zip(model.item_ids, model.where, strict=True)):
        key = item_id if item_id in index else aliases.get(item_id)
        if key is None:
            if allow_extra:
                continue
            unknown = sum(1 for i in model.item_ids if i not in index and i not in aliases)
            raise located(path, f"{here}: item id '{item_id}' is not in {dataset} ({unknown:,} of the file's "
                          f"{len(model.item_ids):,} ids are not); score against the dataset the predictions were "
                          "made for, or pass --allow-extra to skip them")
        at = index[key]
        if at in first:
            raise located(path, f"{here}: a second prediction for item '{key}' (first at {first[at]})")
        first[at] = here
        pos.append(at)
        keep[row] = True
    return np.asarray(pos, dtype=np.int64), keep


def _aliases(ids: np.ndarray, dataset: str) -> dict[str, str]:
    """LeWiDi registry splits prefix ids with '<split>-'; a submission keyed by the raw id still matches."""
    if not dataset.startswith("lewidi-"):
        return {}
    raw = [i.split("-", 1)[1] if "-" in i else i for i in ids]
    return dict(zip(raw, ids, strict=True)) if len(set(raw)) == len(raw) else {}


def _plain(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    return value
