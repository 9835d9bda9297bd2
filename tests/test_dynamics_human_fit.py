"""Known answers for the human-fit metrics (ChaosNLI's convention) and their training-dynamics views."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy

from chaosnli_reference import normalize_dist
from contested.dynamics import simulate_dynamics
from contested.dynamics.human_fit import (
    chaosnli_scores,
    human_fit_items,
    human_fit_table,
    unlearning_decomposition,
)
from contested.dynamics.human_scores import (
    item_scores,
    jsd,
    kl,
    lewidi_cross_entropy,
    micro_f1,
    normalize_prediction,
    prediction_entropy,
    softmax,
    summarise,
)
from contested.errors import ContestedError
from report_synth import items as synth_items

P_H = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5], [1.0, 0.0, 0.0], [0.6, 0.3, 0.1]])
P_HAT = np.array([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5], [0.3, 0.3, 0.4], [0.1, 0.1, 0.8]])


def test_jsd_equals_scipy_distance_row_by_row():
    expected = [jensenshannon(a, b) for a, b in zip(P_H, P_HAT, strict=True)]
    np.testing.assert_allclose(jsd(P_H, P_HAT), expected, rtol=1e-12)


def test_jsd_is_the_distance_in_natural_log_not_the_divergence_or_bits():
    # Disjoint distributions: divergence = ln 2 (nats), distance = sqrt(ln 2) ≈ 0.8326; base 2 would give 1.
    out = jsd([[1.0, 0.0]], [[0.0, 1.0]])
    assert out[0] == pytest.approx(math.sqrt(math.log(2)), rel=1e-12)
    assert out[0] != pytest.approx(math.log(2)) and out[0] != pytest.approx(1.0)
    # By hand from the definition: sqrt(½ KL(p‖m) + ½ KL(q‖m)), natural log.
    p, q = np.array([0.7, 0.2, 0.1]), np.array([0.1, 0.3, 0.6])
    m = (p + q) / 2
    by_hand = math.sqrt(0.5 * np.sum(p * np.log(p / m)) + 0.5 * np.sum(q * np.log(q / m)))
    assert jsd([p], [q])[0] == pytest.approx(by_hand, rel=1e-12)


def test_jsd_of_identical_rows_is_zero_not_nan():
    p = np.array([[0.1, 0.2, 0.7], [1 / 3, 1 / 3, 1 / 3]])
    out = jsd(p, p)
    assert not np.isnan(out).any() and np.allclose(out, 0.0, atol=1e-7)


def test_kl_equals_scipy_entropy_after_chaosnli_floor():
    expected = [entropy(a, normalize_dist(b)) for a, b in zip(P_H, P_HAT, strict=True)]
    np.testing.assert_allclose(kl(P_H, P_HAT), expected, rtol=1e-12)
    # Strictly positive predictions: the floor changes nothing.
    q = np.array([[0.2, 0.3, 0.5]])
    assert kl([[0.5, 0.25, 0.25]], q)[0] == pytest.approx(entropy([0.5, 0.25, 0.25], q[0]), rel=1e-12)


def test_one_hot_prediction_against_a_split_distribution_has_the_hand_computed_finite_kl():
    out = kl([[0.5, 0.5, 0.0]], [[1.0, 0.0, 0.0]])[0]
    s = 1 + 2e-15  # the floored row [1, 1e-15, 1e-15] is renormalised by its sum
    by_hand = 0.5 * math.log(0.5 / (1 / s)) + 0.5 * math.log(0.5 / (1e-15 / s))
    assert math.isfinite(out)
    assert out == pytest.approx(by_hand, rel=1e-12)
    assert out == pytest.approx(16.5762, abs=1e-4)  # nats
    # Without the floor it would be infinite.
    assert math.isinf(entropy([0.5, 0.5, 0.0], [1.0, 0.0, 0.0]))


def test_normalize_prediction_is_chaosnli_normalize_dist():
    rows = np.array([[1.0, 0.0, 0.0], [0.5, 1e-16, 0.5], [0.2, 0.3, 0.5]])
    np.testing.assert_array_equal(normalize_prediction(rows), np.stack([normalize_dist(r) for r in rows]))


def test_prediction_entropy_softmax_and_units():
    assert prediction_entropy([[1 / 3] * 3])[0] == pytest.approx(math.log(3), rel=1e-12)  # nats
    logits = np.array([[2.0, -1.0, 0.5], [1000.0, 1000.0, -1000.0]])
    expected = np.exp(logits[0]) / np.exp(logits[0]).sum()
    np.testing.assert_allclose(softmax(logits)[0], expected, rtol=1e-12)
    np.testing.assert_allclose(softmax(logits)[1], [0.5, 0.5, 0.0], atol=1e-300)  # stable


def test_lewidi_cross_entropy_and_micro_f1_by_hand():
    out = lewidi_cross_entropy([[0.5, 0.5]], [[1.0, 0.0]])[0]
    by_hand = -(0.5 * math.log(1 - 1e-12 + 1e-9) + 0.5 * math.log(1e-12 + 1e-9))
    assert out == pytest.approx(by_hand, rel=1e-12)
    assert lewidi_cross_entropy([[0.25, 0.75]], [[0.25, 0.75]])[0] == pytest.approx(
        -(0.25 * math.log(0.25 + 1e-9) + 0.75 * math.log(0.75 + 1e-9)), rel=1e-12)
    # Micro-F1 = 2TP / (2TP + FP + FN), summed over classes; for single-label data it is accuracy.
    true, pred = np.array([0, 1, 1, 0, 1]), np.array([0, 1, 0, 0, 0])
    assert micro_f1(true, pred) == pytest.approx(3 / 5)
    assert math.isnan(micro_f1([], []))


def test_item_scores_labels_and_summary():
    old = pd.array([1, pd.NA, 0, 2], dtype="Int64")
    scores = item_scores(P_H, P_HAT, majority=[0, 2, 0, 0], old_label=old, predicted=[-1, 1, -1, 2])
    assert scores["predicted"].tolist() == [0, 1, 2, 2]  # -1 → argmax of the prediction
    assert scores["hard_label"].tolist() == [1, 2, 0, 2]  # old label where present, else majority
    assert scores["correct"].tolist() == [True, False, False, False]
    assert np.isnan(scores.loc[1, "correct_old"]) and scores["correct_old"].tolist()[2:] == [0.0, 1.0]
    summary = summarise(scores).iloc[0]
    assert summary["n"] == 4 and summary["n_old"] == 3
    assert summary["accuracy"] == pytest.approx(0.25) and summary["accuracy_old"] == pytest.approx(1 / 3)
    assert summary["jsd"] == pytest.approx(np.mean(jsd(P_H, normalize_prediction(P_HAT))))
    assert summary["f1_micro"] == pytest.approx(1 / 4)  # hard labels [1, 2, 0, 2] vs predicted [0, 1, 2, 2]


# ---- training dynamics views ------------------------------------------------------------------------

def _hand_run():
    """Three items, two checkpoints; the loss is against the majority label (class 0)."""
    items = pd.DataFrame({
        "item_id": ["toward", "away", "learnt"],
        "label_dist": [[0.5, 0.5, 0.0], [0.8, 0.2, 0.0], [1.0, 0.0, 0.0]],
        "majority_label": [0, 0, 0],
        "old_label": pd.array([0, 1, pd.NA], dtype="Int64"),
        "entropy": [math.log(2), 0.5004, 0.0],
        "bin": pd.Categorical(["contested", "contested", "clean"], categories=["clean", "ambiguous", "contested"]),
        "split": "tracked",
    })
    probs = {  # item → (step 0, final step)
        "toward": ([0.9, 0.05, 0.05], [0.5, 0.5, 0.0]),   # loss rises, JSD falls to ~0: toward humans
        "away": ([0.8, 0.2, 0.0], [0.1, 0.1, 0.8]),        # loss rises, JSD rises: away from humans
        "learnt": ([0.4, 0.3, 0.3], [0.95, 0.03, 0.02]),   # loss falls
    }
    rows = []
    for item, pair in probs.items():
        for step, p in zip((0, 100), pair, strict=True):
            p = np.asarray(p)
            rows.append({"run_id": "r1", "item_id": item, "split": "tracked", "step": step, "epoch": step / 100,
                         "progress": step / 100, "measurement": "snapshot", "loss": -math.log(p[0]),
                         "logits": np.log(np.maximum(p, 1e-30)).tolist(), "p_label": p[0],
                         "predicted": int(np.argmax(p)), "label_used": 0, "is_noisy": False})
    return pd.DataFrame(rows), items


def test_toward_and_away_decomposition_on_a_hand_built_trajectory():
    dynamics, items = _hand_run()
    fit = human_fit_items(dynamics, items).set_index("item_id")
    assert fit.loc["toward", "delta_jsd"] < 0 < fit.loc["away", "delta_jsd"]
    assert fit.loc["toward", "final_jsd"] == pytest.approx(0.0, abs=1e-6)
    out = unlearning_decomposition(dynamics, items).set_index("bin")
    assert out.index.tolist() == ["clean", "contested", "all"]
    c = out.loc["contested"]
    assert (c["n_items"], c["n_unlearned"], c["n_toward"], c["n_away"]) == (2, 2, 1, 1)
    assert c["share_toward"] == 0.5 and c["share_away"] == 0.5
    assert out.loc["clean", "n_unlearned"] == 0 and math.isnan(out.loc["clean", "share_toward"])
    assert out.loc["all", "n_items"] == 3 and out.loc["all", "n_unlearned"] == 2
    expected = np.mean([fit.loc["toward", "delta_jsd"], fit.loc["away", "delta_jsd"]])
    assert out.loc["all", "mean_delta_jsd"] == pytest.approx(expected)
    # Split filter: no validation items → no rows.
    assert unlearning_decomposition(dynamics, items, split="validation").empty


def test_human_fit_table_matches_scipy_per_row():
    dynamics, items = _hand_run()
    table = human_fit_table(dynamics, items)
    assert len(table) == 6 and table["step"].tolist() == [0, 100] * 3
    away_final = table[(table["item_id"] == "away") & (table["step"] == 100)].iloc[0]
    p = normalize_dist(softmax([np.log([0.1, 0.1, 0.8])])[0])
    assert away_final["jsd"] == pytest.approx(jensenshannon([0.8, 0.2, 0.0], p), rel=1e-9)
    assert away_final["kl"] == pytest.approx(entropy([0.8, 0.2, 0.0], p), rel=1e-9)
    assert away_final["predicted"] == 2 and not away_final["correct"] and away_final["correct_old"] == 0.0


def test_chaosnli_scores_on_simulated_run_match_an_independent_loop():
    items = synth_items(60)
    dynamics = simulate_dynamics(items, seed=1, total_steps=300, epochs=3, inflight=True)
    scores = chaosnli_scores(dynamics, items)
    final = scores.loc[scores["step"] == scores["step"].max()].iloc[0]
    val = items.loc[items["split"] == "validation"].set_index("item_id")
    snap = dynamics[(dynamics["measurement"] == "snapshot") & (dynamics["split"] == "validation")]
    last = snap[snap["step"] == snap["step"].max()]
    js, kls, acc = [], [], []
    for row in last.itertuples():
        logits = np.asarray(row.logits, dtype=float)
        p = normalize_dist(np.exp(logits) / np.sum(np.exp(logits)))
        h = np.asarray(val.loc[row.item_id, "label_dist"])
        js.append(jensenshannon(h, p))
        kls.append(entropy(h, p))
        acc.append(int(np.argmax(p)) == val.loc[row.item_id, "majority_label"])
    assert final["n"] == len(val)
    assert final["jsd"] == pytest.approx(np.mean(js), rel=1e-9)
    assert final["kl"] == pytest.approx(np.mean(kls), rel=1e-9)
    assert final["accuracy"] == pytest.approx(np.mean(acc))
    assert math.isnan(final["accuracy_old"])  # simulated items have no old label
    per_bin = chaosnli_scores(dynamics, items, by_bin=True)
    assert set(per_bin["bin"]) <= {"clean", "ambiguous", "contested"}
    assert per_bin.loc[per_bin["step"] == 0, "n"].sum() == len(val)


def test_errors_are_contested_errors():
    dynamics, items = _hand_run()
    with pytest.raises(ContestedError, match="logits=True"):
        human_fit_table(dynamics.drop(columns="logits"), items)
    with pytest.raises(ContestedError, match="2 classes"):
        human_fit_table(dynamics, items.assign(label_dist=[[0.5, 0.5]] * 3))
    with pytest.raises(ContestedError, match="lacks"):
        human_fit_table(dynamics, items.iloc[:2])
    with pytest.raises(ContestedError, match="shape"):
        jsd([[0.5, 0.5]], [[0.2, 0.3, 0.5]])
