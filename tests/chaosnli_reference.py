"""ChaosNLI's published evaluation, re-implemented from its source for the tests (independent of contested).

Source: ``easonnie/ChaosNLI``, ``src/evaluation/tools.py`` (``normalize_dist``,
``calculate_divergence_bwt_model_human_simplify``) as called by ``src/scripts/evaluate.py``.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import distance
from scipy.stats import entropy

_TO_LETTER = {"e": "e", "n": "n", "c": "c", "entailment": "e", "neutral": "n", "contradiction": "c", "-": "-"}


def normalize_dist(prob) -> np.ndarray:
    """ChaosNLI's ``normalize_dist``, element by element as published (a copy; the input is unchanged)."""
    prob = np.array(prob, dtype=float)
    for i, value in enumerate(prob):
        if np.abs(value) < 1e-15:
            prob[i] = 1e-15
    return prob / np.sum(prob)


def evaluate(data: list[dict], predictions: dict) -> dict:
    """ChaosNLI's evaluation as published, per model: mean JSD, mean KL, new and old accuracy.

    Parameters
    ----------
    data
        ChaosNLI items (``uid, label_dist, majority_label, old_label``; labels as letters).
    predictions
        A prediction file: ``{model: {uid: {"predicted_probabilities", "predicted_label"}}}``.
    """
    results = {}
    for model, pred in predictions.items():
        js, kls, m_acc, o_acc = [], [], 0, 0
        for item in data:
            entry = pred[item["uid"]]
            human = np.asarray(item["label_dist"])
            model_dist = normalize_dist(entry["predicted_probabilities"])
            label = _TO_LETTER[entry["predicted_label"]]
            o_acc += label == item["old_label"]
            m_acc += label == item["majority_label"]
            d = distance.jensenshannon(human, model_dist)
            js.append(0.0 if np.isnan(d) else d)
            kls.append(entropy(human, model_dist))
        n = len(data)
        results[model] = {"jsd": np.mean(js), "kl": np.mean(kls), "new_acc": m_acc / n, "old_acc": o_acc / n}
    return results
