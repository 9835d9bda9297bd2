"""Early warning (issue 13) on simulated dynamics: leakage-free features, planted/null AUROC, the artefact."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from contested.dynamics import early_eval as ee
from contested.dynamics import early_model as em
from contested.dynamics import simulate_dynamics, simulate_items
from contested.dynamics.early import (
    DYNAMIC_FEATURES,
    RunData,
    early_features,
    early_targets,
    feature_table,
)
from contested.dynamics.early_sim import simulate_planted
from contested.errors import ContestedError
from contested.train.early_config import EarlyWarningConfig


@pytest.fixture(scope="module")
def sim_run():
    items = simulate_items(300, seed=3)
    return RunData("sim", simulate_dynamics(items, method="lora", seed=5, run_id="sim"), items)


@pytest.fixture(scope="module")
def planted():
    return simulate_planted(1500, n_runs=3, signal=1.0, seed=0)


def _scramble_after(dynamics: pd.DataFrame, window: float, seed: int = 0) -> pd.DataFrame:
    """Every row after the window gets random loss, p(label), prediction, logits and label."""
    rng = np.random.default_rng(seed)
    out = dynamics.copy()
    late = out["progress"].to_numpy() > window
    n = int(late.sum())
    out.loc[late, "loss"] = rng.uniform(0.01, 5, n).astype(np.float32)
    out.loc[late, "p_label"] = rng.uniform(0, 1, n).astype(np.float32)
    out.loc[late, "predicted"] = rng.integers(0, 3, n)
    logits = rng.normal(0, 3, (len(out), 3)).astype(np.float32)
    base = np.stack([np.asarray(v, dtype=np.float32) for v in out["logits"]])
    base[late] = logits[late]
    offsets = np.arange(0, 3 * len(out) + 1, 3, dtype=np.int32)
    out["logits"] = pd.arrays.ArrowExtensionArray(pa.ListArray.from_arrays(offsets, base.reshape(-1)))
    return out


@pytest.mark.parametrize("window", [0.05, 0.1, 0.2, 0.4])
def test_features_never_read_past_the_window(sim_run, window):
    items = sim_run.items
    before = early_features(sim_run.dynamics, items, window=window)
    scrambled = early_features(_scramble_after(sim_run.dynamics, window), items, window=window)
    cut = sim_run.dynamics[sim_run.dynamics["progress"] <= window]
    truncated = early_features(cut, items, window=window)
    pd.testing.assert_frame_equal(before, scrambled)
    pd.testing.assert_frame_equal(before, truncated)
    # ... and they do read the window: changing a window row changes them.
    touched = sim_run.dynamics.copy()
    inside = (touched["progress"] > 0) & (touched["progress"] <= window)
    touched.loc[inside, "loss"] = touched.loc[inside, "loss"] + 1
    assert not np.allclose(early_features(touched, items, window=window)["slope"], before["slope"])


def test_feature_values_on_a_hand_made_trajectory():
    prog = np.array([0.0, 0.05, 0.1, 0.15, 0.2, 0.6])
    loss = 1.0 + 2.0 * prog + 3.0 * prog**2  # slope of the fit over [0, 0.2] ≠ 2; curvature = 6
    loss[-1] = 9.0  # after the window: ignored
    correct = [True, False, True, False, False, True]
    logits = [[2.0, 1.0, 0.5] if c else [0.0, 1.0, 0.5] for c in correct]
    dyn = pd.DataFrame({"run_id": "r", "item_id": "a", "split": "tracked", "step": (prog * 100).astype(int),
                        "progress": prog, "measurement": "snapshot", "loss": loss, "logits": logits,
                        "p_label": np.exp(-loss), "predicted": [0 if c else 1 for c in correct], "label_used": 0})
    f = early_features(dyn, window=0.2).iloc[0]
    x, y = prog[:5], loss[:5]
    ln3 = math.log(3)  # nats features are divided by ln K; probabilities are measured from chance 1/K
    assert f["n_points"] == 5 and f["n_classes"] == 3
    assert f["loss0"] == pytest.approx(1.0 / ln3)
    assert f["margin0"] == pytest.approx(1.0)  # 2.0 − max(1.0, 0.5)
    p = np.exp([2.0, 1.0, 0.5]) / np.exp([2.0, 1.0, 0.5]).sum()
    assert f["pred_entropy0"] == pytest.approx(-(p * np.log(p)).sum() / ln3)
    assert f["slope"] == pytest.approx(np.polyfit(x, y, 1)[0] / ln3)
    assert f["curvature"] == pytest.approx(6.0 / ln3)
    assert f["confidence"] == pytest.approx((np.exp(-y).mean() - 1 / 3) / (2 / 3), rel=1e-6)
    assert f["variability"] == pytest.approx(np.exp(-y).std() / (2 / 3), rel=1e-6)
    assert f["forgetting"] == 2  # correct → incorrect twice inside the window
    assert math.isnan(f["entropy"])


@pytest.mark.parametrize("k", [2, 3, 5])
def test_an_untrained_head_has_the_same_features_for_every_class_count(k):
    """Uniform logits and a loss falling from ln K to ln K / 2: every feature is the same for all K."""
    prog = np.array([0.0, 0.1, 0.2])
    loss = math.log(k) * (1 - 0.5 * prog / 0.2)
    p = np.exp(-loss)
    dyn = pd.DataFrame({"run_id": "r", "item_id": "a", "split": "tracked", "step": (prog * 100).astype(int),
                        "progress": prog, "measurement": "snapshot", "loss": loss, "logits": [[0.0] * k] * 3,
                        "p_label": p, "predicted": 0, "label_used": 0})
    items = pd.DataFrame({"item_id": ["a"], "entropy": [0.5 * math.log(k)]})
    f = early_features(dyn, items, window=0.2).iloc[0]
    assert f["n_classes"] == k
    assert f[["loss0", "pred_entropy0", "margin0", "slope", "curvature", "entropy"]].tolist() == \
        pytest.approx([1.0, 1.0, 0.0, -2.5, 0.0, 0.5], abs=1e-9)
    assert f["confidence"] == pytest.approx((p.mean() - 1 / k) / (1 - 1 / k))


def test_a_3_class_predictor_applied_to_a_2_class_run_does_not_saturate():
    """Issue 13: fitted on 3-class runs, applied to a 2-class run (LeWiDi sets are binary), the risks
    spread out instead of all being 0 or all 1, and the loss features coincide with the 3-class run's."""
    three = simulate_planted(600, n_runs=3, signal=1.0, seed=1)
    two = simulate_planted(600, n_runs=3, signal=1.0, seed=1, n_classes=2)[2]
    f3, f2 = (early_features(r.dynamics, window=0.2) for r in (three[2], two))
    assert (f2["n_classes"] == 2).all() and (f3["n_classes"] == 3).all()
    for col in ("loss0", "slope", "curvature"):  # the same dynamics in units of ln K
        np.testing.assert_allclose(f2[col], f3[col], rtol=1e-5, atol=1e-5)
    for window in (0.05, 0.2):
        predictor = em.fit_predictor(three[:2], window=window)
        risk, same = em.predict_risk(two, predictor), em.predict_risk(three[2], predictor)
        # Not all 0 or all 1: about the share flagged on the 3-class run (≈ 30 % un-learn in both).
        assert 0.15 < risk["at_risk"].mean() < 0.6 and risk["risk"].std() > 0.1, risk["risk"].describe()
        assert abs(risk["at_risk"].mean() - same["at_risk"].mean()) < 0.1
    from sklearn.metrics import roc_auc_score

    unlearned = early_targets(two.dynamics).set_index("item_id")["unlearned"]
    assert roc_auc_score(unlearned.loc[risk["item_id"]], risk["risk"]) >= 0.9


def test_planted_signal_is_found_and_its_absence_is_chance(planted):
    found = ee.summarise_loro(ee.evaluate_loro(planted, windows=(0.05, 0.2)))
    pred = found[found["model"] == "predictor"]
    assert (pred["auroc_mean"] >= 0.9).all(), pred
    null = ee.summarise_loro(ee.evaluate_loro(simulate_planted(1500, n_runs=3, signal=0.0, seed=0),
                                              windows=(0.05, 0.2)))
    assert ((null["auroc_mean"] - 0.5).abs() <= 0.05).all(), null


def test_leave_one_run_out_never_fits_on_the_held_out_run(planted, monkeypatch):
    seen = []
    fit = em._fit_table

    def spy(table, **kwargs):
        seen.append(set(table["run_id"]))
        return fit(table, **kwargs)

    monkeypatch.setattr(em, "_fit_table", spy)
    small = [RunData(r.run_id, r.dynamics[r.dynamics["item_id"] < "sim-0300"], r.items) for r in planted]
    results = ee.evaluate_loro(small, windows=(0.2,))
    assert len(seen) == len(results) == 3 * 4  # runs × (predictor + 3 baselines)
    for ids, row in zip(seen, results.itertuples(), strict=True):
        assert row.held_out not in ids and ids == set(row.trained_on.split(","))
        assert len(ids) == 2


def test_artefact_round_trip_checksum_and_window_choice(planted, tmp_path):
    runs = [RunData(r.run_id, r.dynamics[r.dynamics["item_id"] < "sim-0400"], r.items) for r in planted]
    a = em.fit_predictor(runs[:2], window=0.1, description="test")
    b = em.fit_predictor(runs[:2], window=0.2, use_entropy=True)
    path = em.save_predictor(tmp_path / "p.json", a, b)
    doc = json.loads(path.read_text())
    assert doc["format"] == em.FORMAT and doc["version"] == em.VERSION and len(doc["sha256"]) == 64
    assert doc["predictors"][0]["training_runs"] == ["planted-0", "planted-1"]
    assert em.load_predictor(path, window=0.1) == a
    assert em.load_predictor(path, window=0.2).features == (*DYNAMIC_FEATURES, "entropy")
    risk = em.predict_risk(runs[2], em.load_predictor(path, window=0.1))
    assert risk["risk"].between(0, 1).all() and set(risk["item_id"]) == set(runs[2].dynamics["item_id"])
    assert (risk["at_risk"] == (risk["risk"] >= a.threshold)).all()
    with pytest.raises(ContestedError, match=r"windows 0\.1, 0\.2; choose one"):
        em.load_predictor(path)
    with pytest.raises(ContestedError, match=r"no predictor for window 0\.4"):
        em.load_predictor(path, window=0.4)
    old = {k: v for k, v in doc.items() if k != "sha256"} | {"version": 1}  # features before ÷ ln K
    path.write_text(json.dumps({**old, "sha256": hashlib.sha256(em._canonical(old)).hexdigest()}))
    with pytest.raises(ContestedError, match=r"version 1 is not supported \(this contested reads version 2\); refit"):
        em.load_predictor(path, window=0.1)
    doc["predictors"][0]["coef"][0] += 1.0
    path.write_text(json.dumps(doc))
    with pytest.raises(ContestedError, match="sha256 does not match"):
        em.load_predictor(path, window=0.1)
    for text, message in [("{", "not valid JSON"), ('{"format": "x"}', "not an early-warning predictor")]:
        path.write_text(text)
        with pytest.raises(ContestedError, match=message):
            em.load_predictors(path)
    with pytest.raises(ContestedError, match="does not exist"):
        em.load_predictors(tmp_path / "missing.json")


def test_fitting_needs_both_outcomes_and_entropy_when_asked(sim_run):
    no_entropy = RunData("x", sim_run.dynamics, sim_run.items.drop(columns="entropy"))
    with pytest.raises(ContestedError, match="entropy"):
        em.fit_predictor([no_entropy], use_entropy=True)
    late = sim_run.dynamics["progress"] > 0.5
    flat = sim_run.dynamics.copy()
    flat.loc[late, "loss"] = 0.001  # every item ends far below its step-0 loss
    with pytest.raises(ContestedError, match="no un-learnt items"):
        em.fit_predictor([RunData("flat", flat, sim_run.items)])
    with pytest.raises(ContestedError, match="window"):
        feature_table(sim_run, window=0)


def test_the_shipped_default_is_fitted_on_the_committed_real_runs():
    """The default is `contested early fit` on the majority-label MiniLM-L6 runs that
    docs/early/majority/ evaluates (docs/early/make.sh): the same runs and the same tracked items."""
    from pathlib import Path

    shipped = em.load_predictors()  # checksum verified
    assert [p.window for p in shipped] == list(em.WINDOWS)
    docs = Path(__file__).resolve().parents[1] / "docs" / "early" / "majority"
    runs = pd.read_csv(docs / "early_runs.csv", dtype={"run_id": str})
    loro = pd.read_csv(docs / "early_loro.csv", dtype={"held_out": str})
    assert set(runs["label_scheme"]) == {"majority"} and set(runs["model"]) == {"minilm-l6"}
    assert set(runs["dataset"]) == {"chaosnli-snli"} and len(runs) >= 12
    for p in shipped:
        assert p.features == DYNAMIC_FEATURES and not p.uses_entropy
        assert "SIMULATED" not in p.description and "ChaosNLI-SNLI" in p.description
        assert set(p.training_runs) == set(runs["run_id"]) == set(loro["held_out"])
        fold = loro[(loro["window"] == p.window) & (loro["model"] == "predictor")]
        assert len(fold) == len(runs) and p.n_items == fold["n_items"].sum()
        assert p.base_rate == pytest.approx(fold["n_unlearned"].sum() / fold["n_items"].sum())
        assert 0 < p.threshold < 1


def test_transfer_fits_on_the_training_runs_only_and_equals_the_loro_fold(planted, monkeypatch):
    seen = []
    fit = em._fit_table

    def spy(table, **kwargs):
        seen.append(set(table["run_id"]))
        return fit(table, **kwargs)

    small = [RunData(r.run_id, r.dynamics[r.dynamics["item_id"] < "sim-0300"], r.items) for r in planted]
    loro = ee.evaluate_loro(small, windows=(0.1, 0.2))
    monkeypatch.setattr(em, "_fit_table", spy)
    results = ee.evaluate_transfer(small[:2], small[2:], windows=(0.1, 0.2))
    assert len(seen) == len(results) == 2 * 4 and all(ids == {"planted-0", "planted-1"} for ids in seen)
    assert set(results["held_out"]) == {"planted-2"}
    fold = loro[loro["held_out"] == "planted-2"].reset_index(drop=True)
    pd.testing.assert_frame_equal(results, fold)
    with pytest.raises(ContestedError, match="both a training and a test run"):
        ee.evaluate_transfer(small, small[2:])


def test_scores_rank_by_log_odds_not_by_a_saturated_probability(planted):
    """Features far outside the training range (e.g. another number of classes) saturate the risk
    at 1.0 for every item; the evaluation ranks by the log-odds, so its AUROC is unchanged."""
    from contested.dynamics.trajectories import MEASUREMENTS

    small = [RunData(r.run_id, r.dynamics[r.dynamics["item_id"] < "sim-0300"], r.items) for r in planted]
    train = pd.concat([feature_table(r, window=0.2) for r in small[:2]], ignore_index=True)
    held = feature_table(small[2], window=0.2)
    pred = em.fit_predictor(small[:2], window=0.2)
    shift = {f: 1e3 * s * np.sign(c) for f, s, c in zip(pred.features, pred.scale, pred.coef, strict=True)}
    far = held.assign(**{f: held[f] + d for f, d in shift.items()})
    assert (pred.risk(far) == 1.0).all()  # saturated: every item ties
    np.testing.assert_allclose(pred.risk(held), 1 / (1 + np.exp(-pred.score(held))))
    kwargs = {"window": 0.2, "use_entropy": False, "has_entropy": True, "measurements": MEASUREMENTS,
              "C": 1.0, "alpha": 1.0}
    near, shifted = (pd.DataFrame(ee._score_models(train, t, **kwargs)) for t in (held, far))
    pd.testing.assert_frame_equal(near.drop(columns="spearman_aulc"), shifted.drop(columns="spearman_aulc"))
    assert near.set_index("model").loc["predictor", "auroc"] > 0.9


def test_targets_are_computed_once_per_run_not_per_window(planted, monkeypatch):
    calls = []
    targets = ee.early_targets

    def counting(dynamics):
        calls.append(1)
        return targets(dynamics)

    monkeypatch.setattr(ee, "early_targets", counting)
    small = [RunData(r.run_id, r.dynamics[r.dynamics["item_id"] < "sim-0200"], r.items) for r in planted]
    ee.evaluate_loro(small, windows=(0.05, 0.1, 0.2, 0.4))
    assert len(calls) == len(small)


def test_early_warning_config_is_digest_neutral_and_checks_the_window():
    cfg = EarlyWarningConfig()
    assert cfg.digest() == EarlyWarningConfig(window=0.2).digest()
    assert cfg._digest_dict() == {}  # every field is added="0.2"
    with pytest.raises(ContestedError, match=r"early_warning\.window: the default predictor has windows"):
        EarlyWarningConfig(warning=True, window=0.3)
    EarlyWarningConfig(warning=True, window=0.3, predictor="mine.json")  # a user predictor may have any window
    assert EarlyWarningConfig(warning=True, window="0.1").load_predictor().window == 0.1


def test_loro_figure_draws_every_model(planted):
    from contested.report.early import loro_figure

    small = [RunData(r.run_id, r.dynamics[r.dynamics["item_id"] < "sim-0200"], r.items) for r in planted[:2]]
    fig = loro_figure(ee.evaluate_loro(small, windows=(0.1, 0.2)))
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert "early-warning predictor" in labels and "chance" in labels and len(labels) == 5


def test_the_docs_python_api_example_runs(tmp_path, monkeypatch):
    import re
    from pathlib import Path

    monkeypatch.chdir(tmp_path)
    doc = Path(__file__).resolve().parents[1] / "docs" / "early_warning.md"
    blocks = [b for b in re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
              if "simulate_planted" in b]
    assert len(blocks) == 1
    namespace: dict = {}
    exec(compile(blocks[0], "early_warning.md", "exec"), namespace)
    assert (tmp_path / "predictor.json").is_file() and set(namespace["table"]["model"]) >= {"predictor", "slope"}
