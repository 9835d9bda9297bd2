"""Learning-matched LoRA vs full comparison: known answers, a planted effect and calibration under the null."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from contested.dynamics.matched import at_learning, compare_runs, curve_table, curves, run_matrices
from contested.dynamics.simulate import simulate_dynamics, simulate_items
from contested.errors import ContestedError

SHORT = {"inflight": False, "total_steps": 300, "epochs": 2, "snapshot_every": 25}


@pytest.fixture(scope="module")
def items():
    return simulate_items(400, seed=1)


def _pair(items, method_a, seed_a, method_b, seed_b):
    a = simulate_dynamics(items, method=method_a, seed=seed_a, run_id="a", **SHORT)
    b = simulate_dynamics(items, method=method_b, seed=seed_b, run_id="b", **SHORT)
    runs = run_matrices(pd.concat([a, b]).drop(columns="logits"), items)
    return runs["a"], runs["b"]


def test_at_learning_reads_the_last_checkpoint_near_each_level():
    learning = np.array([0.0, 0.2, 0.4, 0.5, 0.5, 0.5])
    values = np.array([0.0, -0.1, -0.2, -0.2, 0.0, 0.3])  # un-learning after learning plateaus
    got = at_learning(learning, values, np.array([0.0, 0.2, 0.5, 0.9]), half_width=0.05)
    np.testing.assert_allclose(got[:3], [0.0, -0.1, 0.3])  # the plateau is read at its end
    assert np.isnan(got[3])  # never reached


def test_curves_known_answers_and_spearman():
    item_id = np.array(["c1", "c2", "x1", "x2"])
    loss = np.array([[1.0, 0.5, 0.2],   # clean: learns 0.5 then 0.8
                     [1.0, 0.5, 0.2],
                     [1.0, 1.2, 0.9],   # contested: rises 0.2, then −0.1
                     [1.0, 1.0, 1.3]])  # contested: 0, then +0.3
    jsd = np.array([[0.5, 0.4, 0.3], [0.5, 0.4, 0.3], [0.2, 0.3, 0.1], [0.2, 0.2, 0.4]])
    from contested.dynamics.matched import RunMatrices

    run = RunMatrices("r", item_id, np.array([0.1, 0.2, 0.9, 1.0]), np.array(["clean", "clean", "contested",
                                                                              "contested"]),
                      np.array([0.0, 10.0, 20.0]), loss, jsd)
    c = curves(run)
    np.testing.assert_allclose(c["learning"][0], [0.0, 0.5, 0.8])
    np.testing.assert_allclose(c["delta_contested"][0], [0.0, 0.1, 0.1])
    np.testing.assert_allclose(c["share_above"][0], [0.0, 0.5, 0.5])
    np.testing.assert_allclose(c["share_away"][0], [0.0, 0.5, 0.5])
    expected = [spearmanr(run.entropy, loss[:, t])[0] if np.ptp(loss[:, t]) else np.nan for t in range(3)]
    np.testing.assert_allclose(c["rho_loss"][0], expected)
    # an item drawn twice counts twice
    doubled = curves(run, np.array([[1, 1, 2, 0]]))
    np.testing.assert_allclose(doubled["delta_contested"][0], [0.0, 0.2, -0.1])


def test_planted_lora_excess_is_found_at_matched_learning(items):
    lora, full = _pair(items, "lora", 1, "full", 2)
    res = compare_runs(lora, full, metrics=("delta_contested", "share_above"), n_boot=300).set_index("metric")
    for metric in ("delta_contested", "share_above"):
        assert res.loc[metric, "ci_low_at_max"] > 0, res
    assert res.loc["delta_contested", "common_learning"] > 0.3  # nats of clean-item learning in common
    table = curve_table({"lora": lora, "full": full})
    assert set(table["run_id"]) == {"lora", "full"} and table.groupby("run_id").size().nunique() == 1


def test_no_excess_ci_covers_zero_in_at_least_90_percent_of_50_replicates(items):
    covered = 0
    for r in range(50):
        a, b = _pair(items, "full", 100 + r, "full", 200 + r)
        row = compare_runs(a, b, metrics=("delta_contested",), n_boot=200, seed=r).iloc[0]
        covered += row.ci_low_at_max <= 0 <= row.ci_high_at_max
    assert covered >= 45, covered  # measured: 46 of 50 (docs/analysis.md)


def test_runs_on_different_items_are_refused(items):
    a = simulate_dynamics(items, method="full", seed=1, run_id="a", **SHORT)
    b = simulate_dynamics(items.iloc[:200], method="full", seed=2, run_id="b", **SHORT)
    runs = run_matrices(pd.concat([a, b]).drop(columns="logits"), items)
    with pytest.raises(ContestedError, match="different items"):
        compare_runs(runs["a"], runs["b"])


def test_bootstrap_spearman_equals_scipy_on_the_expanded_resample():
    from contested.dynamics.matched import RunMatrices

    rng = np.random.default_rng(0)
    x = np.round(rng.random(200) * 5) / 5  # entropies tie, as ChaosNLI's do
    y = rng.random((200, 3))
    y[:10, 1] = 0.5  # ties in the losses too
    idx = rng.integers(0, 200, (20, 200))
    counts = np.stack([np.bincount(row, minlength=200) for row in idx])
    run = RunMatrices("r", np.arange(200), x, np.full(200, "clean"), np.arange(3.0), y, None)
    got = curves(run, counts, metrics=("rho_loss",))["rho_loss"]
    for b in range(20):
        for t in range(3):
            assert got[b, t] == pytest.approx(spearmanr(x[idx[b]], y[idx[b], t])[0], abs=1e-12)


def test_a_level_stepped_over_between_checkpoints_is_read_where_the_run_crossed_it():
    learning = np.array([0.0, 0.1, 0.5, 0.6])
    values = np.array([0.0, 0.2, 0.6, 0.6])
    got = at_learning(learning, values, np.array([0.3, 0.9]), half_width=0.05)
    np.testing.assert_allclose(got[0], 0.4)  # halfway between 0.1 (0.2) and 0.5 (0.6)
    assert np.isnan(got[1])
