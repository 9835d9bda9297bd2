"""How close a predicted distribution is to the human (annotator) one, per item: arrays in, scores out (no torch).

The per-item scores follow ChaosNLI's published evaluation (Nie, Zhou & Bansal, EMNLP 2020;
``easonnie/ChaosNLI``, ``src/evaluation/tools.py``) exactly, and add LeWiDi 2023's soft metric:

* the model distribution p̂ is the softmax of the logits (or the given probabilities), with every
  entry whose absolute value is below 1e-15 set to 1e-15 and the row renormalised
  (:func:`normalize_prediction`, ChaosNLI's ``normalize_dist``);
* ``jsd`` = ``scipy.spatial.distance.jensenshannon(p_h, p̂)``: the Jensen–Shannon **distance**
  (square root of the divergence), natural log, in [0, √ln 2]; a NaN (rounding below zero) is 0,
  as in ChaosNLI;
* ``kl`` = ``scipy.stats.entropy(p_h, p̂)`` = KL(p_h ‖ p̂) in **nats**;
* ``pred_entropy`` = Shannon entropy of p̂ in nats;
* ``correct`` = predicted label == the item's majority label (``correct_old``: == ``old_label``);
* ``lewidi_ce`` = −Σ_k p_h,k · ln(clip(p̂_k, 1e-12, 1 − 1e-12) + 1e-9), the LeWiDi 2023
  cross-entropy of one item (its official score is the mean over items; p̂ as given, unfloored).

:func:`item_scores` computes them for any arrays of distributions; :func:`summarise` averages them
(overall, per bin, per checkpoint). A run's views over training (:mod:`contested.dynamics.human_fit`)
and ``contested score`` all go through these two functions, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from contested.errors import ContestedError

#: ChaosNLI's floor on model probabilities (``normalize_dist``), before renormalising.
FLOOR = 1e-15
#: LeWiDi 2023 cross-entropy: predictions clipped to (1e-12, 1 − 1e-12), then 1e-9 added in the log.
LEWIDI_CLIP = 1e-12
LEWIDI_EPS = 1e-9
#: Per-item score columns of :func:`item_scores`.
SCORE_COLUMNS = ("predicted", "hard_label", "correct", "correct_old", "jsd", "kl", "pred_entropy", "lewidi_ce")
#: Aggregate columns of :func:`summarise`.
SUMMARY_COLUMNS = ("n", "jsd", "kl", "accuracy", "accuracy_old", "n_old", "pred_entropy", "lewidi_ce", "f1_micro")


def _rows(p: np.ndarray | Sequence, name: str) -> np.ndarray:
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim != 2:
        raise ContestedError(f"{name}: expected a 2-D array (items × classes), got shape {arr.shape}")
    return arr


def _pair(p_h: np.ndarray | Sequence, p_hat: np.ndarray | Sequence) -> tuple[np.ndarray, np.ndarray]:
    a, b = _rows(p_h, "p_h"), _rows(p_hat, "p_hat")
    if a.shape != b.shape:
        raise ContestedError(f"human and predicted distributions differ in shape: {a.shape} vs {b.shape}")
    return a, b


def softmax(logits: np.ndarray | Sequence, axis: int = -1) -> np.ndarray:
    """``scipy.special.softmax`` in float64: logits ``(n, K)`` → probabilities ``(n, K)`` (rows sum to 1)."""
    from scipy.special import softmax as _softmax

    return _softmax(np.asarray(logits, dtype=np.float64), axis=axis)


def normalize_prediction(p_hat: np.ndarray | Sequence, *, floor: float = FLOOR) -> np.ndarray:
    """ChaosNLI's ``normalize_dist`` per row: entries with \\|p\\| < ``floor`` become ``floor``, then the row is
    renormalised. Shape ``(n, K)`` → ``(n, K)`` float64, rows summing to 1."""
    p = _rows(p_hat, "p_hat")
    p = np.where(np.abs(p) < floor, floor, p)
    return p / p.sum(axis=1, keepdims=True)


def jsd(p_h: np.ndarray | Sequence, p_hat: np.ndarray | Sequence) -> np.ndarray:
    """ChaosNLI's "JSD": ``scipy.spatial.distance.jensenshannon(p_h, p_hat)`` per row.

    The Jensen–Shannon **distance** (square root of the divergence) with the natural log, so it
    lies in [0, √ln 2 ≈ 0.833]. Not the divergence and not base 2. A NaN (the divergence
    rounded below zero for identical rows) is 0, as in ChaosNLI's evaluation.

    Parameters
    ----------
    p_h, p_hat
        Shape ``(n, K)``: human and predicted distributions (each row is normalised by scipy).

    Returns
    -------
    numpy.ndarray
        Shape ``(n,)``, unit √nats.
    """
    from scipy.spatial.distance import jensenshannon

    a, b = _pair(p_h, p_hat)
    with np.errstate(invalid="ignore"):  # sqrt of a divergence rounded below 0 → NaN → 0 below
        out = np.atleast_1d(jensenshannon(a, b, axis=1))
    return np.where(np.isnan(out), 0.0, out)


def kl(p_h: np.ndarray | Sequence, p_hat: np.ndarray | Sequence, *, floor: float | None = FLOOR) -> np.ndarray:
    """ChaosNLI's "KL": ``scipy.stats.entropy(p_h, p_hat)`` = KL(p_h ‖ p_hat) per row, in nats.

    Parameters
    ----------
    p_h, p_hat
        Shape ``(n, K)``.
    floor
        ``p_hat`` goes through :func:`normalize_prediction` with this floor first (ChaosNLI's
        1e-15), so a prediction with a zero where humans put mass gives a large but finite KL.
        ``None``: ``p_hat`` is used as given (already normalised).

    Returns
    -------
    numpy.ndarray
        Shape ``(n,)``, nats, ≥ 0.
    """
    from scipy.stats import entropy

    a, b = _pair(p_h, p_hat)
    if floor is not None:
        b = normalize_prediction(b, floor=floor)
    return np.atleast_1d(entropy(a, b, axis=1))


def prediction_entropy(p_hat: np.ndarray | Sequence) -> np.ndarray:
    """Shannon entropy of each predicted distribution (``scipy.stats.entropy``), shape ``(n, K)`` → ``(n,)``, nats."""
    from scipy.stats import entropy

    return np.atleast_1d(entropy(_rows(p_hat, "p_hat"), axis=1))


def lewidi_cross_entropy(p_h: np.ndarray | Sequence, p_hat: np.ndarray | Sequence) -> np.ndarray:
    """LeWiDi 2023's soft score of each item: −Σ_k p_h,k · ln(clip(p̂_k, 1e-12, 1 − 1e-12) + 1e-9).

    The official score is the mean of this over items (the organisers' ``cross_entropy``: the
    sum over all items and classes divided by the number of items). Shapes ``(n, K)`` → ``(n,)``, nats.
    """
    a, b = _pair(p_h, p_hat)
    return -np.sum(a * np.log(np.clip(b, LEWIDI_CLIP, 1.0 - LEWIDI_CLIP) + LEWIDI_EPS), axis=1)


def micro_f1(y_true: np.ndarray | Sequence, y_pred: np.ndarray | Sequence) -> float:
    """Micro-averaged F1 (``sklearn.metrics.f1_score(..., average="micro")``) of hard labels.

    TP, FP and FN are summed over all classes: F1 = 2·TP / (2·TP + FP + FN). For single-label
    classification every error is one FP and one FN, so this equals accuracy. NaN for no items.
    """
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if len(t) == 0:
        return float("nan")
    tp = int(np.sum(t == p))
    fp = fn = len(t) - tp
    return 2 * tp / (2 * tp + fp + fn)


def item_scores(
    p_h: np.ndarray | Sequence,
    p_hat: np.ndarray | Sequence,
    *,
    majority: np.ndarray | Sequence,
    old_label: np.ndarray | Sequence | None = None,
    predicted: np.ndarray | Sequence | None = None,
) -> pd.DataFrame:
    """Every per-item score of one prediction per item (the one implementation of the metrics).

    Parameters
    ----------
    p_h
        Shape ``(n, K)``: human label distributions (``label_dist``).
    p_hat
        Shape ``(n, K)``: predicted probabilities as given (softmax of logits, or a file's).
    majority
        Shape ``(n,)``: majority-label class ids.
    old_label
        Shape ``(n,)``: original (gold / LeWiDi ``hard_label``) class ids, ``pd.NA``/NaN/None where
        missing; ``None``: no item has one.
    predicted
        Shape ``(n,)``: predicted class ids; ``None`` or −1 entries → argmax of ``p_hat`` (ties → the
        lowest class index).

    Returns
    -------
    pandas.DataFrame
        n rows, columns :data:`SCORE_COLUMNS`: ``predicted``, ``hard_label`` (old label where present,
        else majority), ``correct`` (bool, vs majority), ``correct_old`` (float 1/0, NaN without an
        old label), ``jsd`` (√nats), ``kl``, ``pred_entropy``, ``lewidi_ce`` (nats).
    """
    h, raw = _pair(p_h, p_hat)
    n = len(h)
    floored = normalize_prediction(raw)
    argmax = np.argmax(raw, axis=1)
    pred = argmax if predicted is None else np.asarray(predicted, dtype=np.int64)
    pred = np.where(pred < 0, argmax, pred)
    maj = np.asarray(majority, dtype=np.int64)
    old = np.full(n, np.nan) if old_label is None else _float_labels(old_label)
    has_old = ~np.isnan(old)
    return pd.DataFrame({
        "predicted": pred,
        "hard_label": np.where(has_old, np.nan_to_num(old, nan=-1).astype(np.int64), maj),
        "correct": pred == maj,
        "correct_old": np.where(has_old, (pred == old).astype(float), np.nan),
        "jsd": jsd(h, floored),
        "kl": kl(h, floored, floor=None),
        "pred_entropy": prediction_entropy(floored),
        "lewidi_ce": lewidi_cross_entropy(h, raw),
    })


def summarise(scores: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Average per-item scores (from :func:`item_scores`) over items, per group.

    Parameters
    ----------
    scores
        Per-item scores plus the grouping columns.
    by
        Grouping columns (e.g. ``("run_id", "step")`` or ``("bin",)``); empty: one overall row.

    Returns
    -------
    pandas.DataFrame
        One row per group: ``by`` columns, then :data:`SUMMARY_COLUMNS`: ``n`` items, mean ``jsd``
        (ChaosNLI "JSD"), mean ``kl`` (nats, ChaosNLI "KL"), ``accuracy`` vs the majority label
        (ChaosNLI "New Acc."), ``accuracy_old`` vs ``old_label`` over the ``n_old`` items that have
        one (ChaosNLI "Old Acc."; NaN if none), mean ``pred_entropy`` (nats), mean ``lewidi_ce``
        (nats, LeWiDi 2023's soft score) and ``f1_micro`` vs the hard label (LeWiDi's hard score).
    """
    by = list(by)

    def one(g: pd.DataFrame) -> dict:
        n_old = int(g["correct_old"].notna().sum())
        return {
            "n": len(g), "jsd": g["jsd"].mean(), "kl": g["kl"].mean(), "accuracy": g["correct"].mean(),
            "accuracy_old": g["correct_old"].mean() if n_old else float("nan"), "n_old": n_old,
            "pred_entropy": g["pred_entropy"].mean(), "lewidi_ce": g["lewidi_ce"].mean(),
            "f1_micro": micro_f1(g["hard_label"].to_numpy(), g["predicted"].to_numpy()),
        }

    if not by:
        return pd.DataFrame([one(scores)], columns=list(SUMMARY_COLUMNS))
    rows = [{**dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True)), **one(g)}
            for key, g in scores.groupby(by, sort=True, observed=True)]
    return pd.DataFrame(rows, columns=[*by, *SUMMARY_COLUMNS])


def _float_labels(labels: np.ndarray | Sequence) -> np.ndarray:
    """Class ids with missing entries (pd.NA, None, NaN) as a float array with NaN."""
    series = pd.to_numeric(pd.Series(list(labels) if not isinstance(labels, pd.Series) else labels.to_numpy()),
                           errors="coerce")
    return series.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
