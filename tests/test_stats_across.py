"""Across-run statistics: pooling by hand, textbook corrections, paired and hierarchical bootstraps."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pingouin
import pytest
from scipy import stats

from contested.dynamics import item_metrics, simulate_dynamics, simulate_items
from contested.errors import ContestedError
from contested.stats import (
    benjamini_hochberg,
    bootstrap_spearman,
    correct_across_conditions,
    fisher_z_pool,
    hierarchical_bootstrap,
    holm,
    kendalls_w,
    noise_injection_test,
    paired_rho_difference,
    percentile_ci,
    seed_aggregate,
    seed_stability,
)


def test_fisher_z_pooling_by_hand():
    # z = (100·atanh .3 + 50·atanh .5) / 150 = 0.389448; SE = √(1.06 / 150) = 0.084063
    res = fisher_z_pool([0.3, 0.5], [103, 53])
    assert res.rho == pytest.approx(math.tanh(0.3894484509134261))
    assert res.se_z == pytest.approx(0.08406346808612328)
    assert (res.ci_low, res.ci_high) == pytest.approx((0.22098085016322633, 0.5036687327873837))
    assert res.p_value == pytest.approx(3.6076927388650103e-06, rel=1e-6)
    pearson = fisher_z_pool([0.3, 0.5], [103, 53], spearman=False)
    assert pearson.se_z == pytest.approx(math.sqrt(1 / 150))
    with pytest.raises(ContestedError, match="n > 3"):
        fisher_z_pool([0.1], [3])


def test_seed_aggregate_mean_std_and_pooled():
    run_stats = pd.DataFrame(
        {"model": "m", "method": ["lora"] * 3 + ["full"] * 2, "rank": [4, 4, 4, pd.NA, pd.NA],
         "dataset": "d", "measurement": "snapshot", "metric": "aulc",
         "rho": [0.30, 0.32, 0.28, 0.1, 0.12], "n": 1211, "p_value": [1e-20, 1e-22, 1e-18, 1e-3, 1e-4],
         "partial_rho": [0.29, 0.31, 0.27, 0.09, 0.11]}
    )  # fmt: skip
    out = seed_aggregate(run_stats).set_index("method")
    assert out.loc["lora", "n_seeds"] == 3 and out.loc["full", "n_seeds"] == 2  # NA rank is a group
    assert out.loc["lora", "rho_mean"] == pytest.approx(0.30)
    assert out.loc["lora", "rho_std"] == pytest.approx(0.02)
    assert out.loc["lora", "rho_pooled"] == pytest.approx(
        fisher_z_pool([0.30, 0.32, 0.28], 1211).rho
    )
    assert out.loc["full", "p_max"] == 1e-3


def test_holm_and_bh_on_a_textbook_vector():
    p = [0.01, 0.04, 0.03, 0.005]
    # Holm: sorted .005,.01,.03,.04 × 4,3,2,1 = .02,.03,.06,.04 → running max .02,.03,.06,.06
    np.testing.assert_allclose(holm(p), [0.03, 0.06, 0.06, 0.02])
    # BH: sorted × 4/i = .02,.02,.04,.04 → running min from the top
    np.testing.assert_allclose(benjamini_hochberg(p), [0.02, 0.04, 0.04, 0.02])
    np.testing.assert_allclose(holm(p), pingouin.multicomp(p, method="holm")[1])
    np.testing.assert_allclose(benjamini_hochberg(p), pingouin.multicomp(p, method="fdr_bh")[1])
    np.testing.assert_allclose(benjamini_hochberg(p), stats.false_discovery_control(p))
    with_nan = holm([0.01, np.nan, 0.04])
    assert np.isnan(with_nan[1]) and with_nan[0] == pytest.approx(0.02)  # m = 2, NaN not counted
    with pytest.raises(ContestedError, match="must lie in"):
        holm([1.2])


def test_correct_across_conditions_adds_columns():
    table = pd.DataFrame({"cond": list("abcd"), "p_value": [0.01, 0.04, 0.03, 0.005]})
    out = correct_across_conditions(table)
    assert list(out.reject_holm) == [True, False, False, True]
    assert list(out.reject_bh) == [True, True, True, True]
    assert "p_value_bh" in out and "p_value" in out


def test_kendalls_w_textbook_and_relation_to_mean_spearman():
    ratings = np.array([[1, 1, 2], [2, 3, 1], [3, 2, 3], [4, 4, 4]], float)  # 4 items × 3 raters
    w, chi2, _ = kendalls_w(ratings)
    assert w == pytest.approx(12 * 35 / (9 * 60))  # rank sums 4, 6, 8, 12 → S = 35
    assert chi2 == pytest.approx(3 * 3 * w)
    assert kendalls_w(np.tile(np.arange(5.0)[:, None], (1, 3)))[0] == pytest.approx(1.0)
    # Without ties, mean pairwise Spearman = (m·W − 1) / (m − 1)
    rng = np.random.default_rng(0)
    r = rng.normal(size=(50, 1)) + rng.normal(size=(50, 4))
    pairs = [stats.spearmanr(r[:, i], r[:, j]).statistic for i in range(4) for j in range(i + 1, 4)]
    assert np.mean(pairs) == pytest.approx((4 * kendalls_w(r)[0] - 1) / 3)


def test_noise_injection_known_answer():
    control = pd.DataFrame({"run_id": "c", "item_id": list("abcdef"), "bin": ["clean"] * 5 + ["contested"],
                            "aulc": [0.5, 0.4, 0.3, 0.6, 0.2, 0.9]})  # fmt: skip
    noisy = control.assign(
        run_id="n", aulc=control.aulc.to_numpy() + np.array([0.1, 0.2, 0.3, 0.4, 0.5, -1.0])
    )
    res = noise_injection_test(noisy, control)
    assert res["n_pairs"] == 5  # the contested item is not compared
    assert res["wilcoxon_stat"] == 15 and res["p_value"] == pytest.approx(
        1 / 32
    )  # exact, all positive
    assert res["cohens_dz"] == pytest.approx(0.3 / np.std([0.1, 0.2, 0.3, 0.4, 0.5], ddof=1))
    with pytest.raises(ContestedError, match="'seed' column"):
        noise_injection_test(pd.concat([noisy, noisy.assign(run_id="n2")]), control)


@pytest.fixture(scope="module")
def runs():
    items = simulate_items(400, seed=0)

    def metrics(method, rho, seed, **kw):
        dyn = simulate_dynamics(items, method=method, rho=rho, seed=seed, inflight=False, total_steps=900,
                                epochs=3, **kw)  # fmt: skip
        return item_metrics(dyn, items).assign(seed=seed)

    lora = pd.concat([metrics("lora", 0.4, s) for s in (1, 2, 3)], ignore_index=True)
    full = pd.concat([metrics("full", 0.05, s) for s in (1, 2, 3)], ignore_index=True)
    noisy = pd.concat(
        [metrics("lora", 0.4, s, noise_fraction=0.3) for s in (1, 2, 3)], ignore_index=True
    )
    return lora, full, noisy


def test_paired_difference_detects_lora_vs_full_and_is_zero_for_identical_arms(runs):
    lora, full, _ = runs
    res = paired_rho_difference(lora, full, n_boot=1000, seed=0)
    assert res["n_items"] == 400 and res["n_runs_a"] == 3 and res["n_runs_b"] == 3
    assert res["diff"] == pytest.approx(res["rho_a"] - res["rho_b"])
    assert 0 < res["ci_low"] < res["diff"] < res["ci_high"] and res["p_value"] <= 0.01
    same = paired_rho_difference(lora, lora, n_boot=200, seed=0)
    assert same["diff"] == 0 and same["ci_low"] == 0 and same["ci_high"] == 0


def test_hierarchical_bootstrap_reduces_to_item_bootstrap_for_identical_seeds(runs):
    lora, _, _ = runs
    one = lora[lora.seed == 1]
    clones = pd.concat([one.assign(run_id=f"copy{k}") for k in range(3)], ignore_index=True)
    res = hierarchical_bootstrap(clones, n_boot=800, seed=5)
    # Identical runs: drawing seeds changes nothing, so the CI is the item bootstrap's on the
    # same item stream (the first of the two spawned from the seed).
    item_rng = np.random.default_rng(5).spawn(2)[0]
    one = one.sort_values("item_id")
    ref = percentile_ci(bootstrap_spearman(one.entropy, one.aulc, n_boot=800, seed=item_rng)[0])
    assert (res["ci_low"], res["ci_high"]) == pytest.approx(ref)
    three = hierarchical_bootstrap(lora, n_boot=800, seed=5)
    assert three["n_runs"] == 3 and three["ci_low"] < three["rho_mean"] < three["ci_high"]
    assert three == hierarchical_bootstrap(lora, n_boot=800, seed=5)


def test_seed_stability_of_simulated_seeds(runs):
    lora, _, _ = runs
    res = seed_stability(lora)
    assert res["n_runs"] == 3 and res["n_items"] == 400
    assert 0.5 < res["mean_pairwise_spearman"] < 1 and res["w_p"] < 1e-10
    assert res["mean_pairwise_spearman"] == pytest.approx((3 * res["kendalls_w"] - 1) / 2, abs=1e-3)


def test_noise_injection_on_simulated_runs_pairs_by_seed(runs):
    lora, _, noisy = runs
    res = noise_injection_test(noisy, lora)
    n_clean = int((lora.bin == "clean").sum())
    assert res["n_pairs"] == n_clean and res["p_value"] < 1e-6 and res["cohens_dz"] > 0.2
    spill = noise_injection_test(noisy, lora, exclude_flipped=True)
    assert spill["n_pairs"] < n_clean and abs(spill["mean_diff"]) < res["mean_diff"]


def test_across_run_functions_refuse_two_rows_per_run_and_item(runs):
    lora, _, _ = runs
    both = pd.concat([lora, lora.assign(measurement="inflight")], ignore_index=True)
    with pytest.raises(ContestedError, match="appears twice in one run"):
        seed_stability(both)
