"""Per-run statistics: known answers, the bootstrap vs independent loops, pingouin cross-checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin
import pytest
from scipy import stats

from contested.dynamics import item_metrics, simulate_dynamics, simulate_items
from contested.errors import ContestedError
from contested.stats import (
    RUN_STAT_COLUMNS,
    bin_means,
    bootstrap_indices,
    bootstrap_spearman,
    incremental_r2,
    kendall_tau,
    partial_spearman,
    rho_by_label,
    run_statistics,
    spearman_ci,
    unlearning_summary,
)


def test_spearman_on_a_known_permutation():
    # d = (−1, 1, −1, 1, 0): ρ = 1 − 6·4 / (5·(25 − 1)) = 0.8
    res = spearman_ci([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], n_boot=0)
    assert res.rho == pytest.approx(0.8) and res.n == 5
    assert np.isnan(res.ci_low)
    assert spearman_ci([1, 2, np.nan, 4, 5], [2, 1, 4, 3, 5], n_boot=0).n == 4  # NaN pair dropped


def test_constant_input_is_nan_without_warnings():
    # e.g. a metric that is 0 for every item of a full fine-tune; pytest turns warnings into errors
    x, flat = np.arange(12.0), np.full(12, 0.5)
    assert all(np.isnan(v) for v in spearman_ci(x, flat, n_boot=200)[:4])
    assert all(np.isnan(v) for v in spearman_ci(flat, x, n_boot=0)[:4])
    by_label = rho_by_label(pd.DataFrame({"run_id": "r", "entropy": x, "aulc": flat, "training_label": 0}))
    assert by_label["rho"].isna().all() and by_label["n"].tolist() == [12]


def test_kendall_tau_b_known_answer():
    # one discordant pair of six: τ = (5 − 1) / 6
    tau, _ = kendall_tau([1, 2, 3, 4], [1, 3, 2, 4])
    assert tau == pytest.approx(2 / 3)
    # with ties τ-b divides by √((n0 − n1)(n0 − n2)): x ties one pair, y none → 5/√(5·6)
    tau_b, _ = kendall_tau([1, 1, 2, 3], [1, 2, 3, 4])
    assert tau_b == pytest.approx(5 / np.sqrt(30))


def test_vectorised_bootstrap_equals_a_spearmanr_loop_on_the_same_indices():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 6, 80).astype(float)  # heavy ties: resample ranks must be recomputed
    y = x + rng.integers(0, 5, 80)
    fast = bootstrap_spearman(x, y, n_boot=300, seed=4, chunk=64)[0]
    idx = next(bootstrap_indices(80, n_boot=300, seed=4, chunk=300))
    loop = np.array([stats.spearmanr(x[i], y[i]).statistic for i in idx])
    np.testing.assert_allclose(fast, loop, atol=1e-12)


def test_bootstrap_without_ties_in_y_equals_a_spearmanr_loop():
    # Continuous y (losses) takes the closed-form path: variance from the counts alone.
    rng = np.random.default_rng(5)
    x = rng.integers(0, 4, 150).astype(float)  # entropy-like: many ties
    ys = np.stack([x + rng.normal(size=150), rng.normal(size=150), -x + 0.1 * rng.normal(size=150)])
    fast = bootstrap_spearman(x, ys, n_boot=400, seed=2, chunk=128)
    idx = next(bootstrap_indices(150, n_boot=400, seed=2, chunk=400))
    for y, row in zip(ys, fast, strict=True):
        loop = np.array([stats.spearmanr(x[i], y[i]).statistic for i in idx])
        np.testing.assert_allclose(row, loop, atol=1e-12)


def test_bootstrap_rows_do_not_depend_on_the_other_rows():
    # run_statistics bootstraps all runs sharing an x in one call: each row must equal its own call.
    rng = np.random.default_rng(6)
    x = rng.integers(0, 5, 90).astype(float)
    tied = rng.integers(0, 3, 90).astype(float)
    ys = np.stack([rng.normal(size=90), tied, x + rng.normal(size=90)])
    together = bootstrap_spearman(x, ys, n_boot=300, seed=1, chunk=70)
    for y, row in zip(ys, together, strict=True):
        np.testing.assert_array_equal(row, bootstrap_spearman(x, y, n_boot=300, seed=1, chunk=70)[0])


def test_bootstrap_ci_agrees_with_scipy_bootstrap():
    rng = np.random.default_rng(2)
    x = rng.normal(size=300)
    y = 0.4 * x + rng.normal(size=300)
    ours = spearman_ci(x, y, n_boot=2000, seed=0)
    ref = stats.bootstrap(
        (x, y),
        lambda a, b: stats.spearmanr(a, b).statistic,
        paired=True,
        vectorized=False,
        n_resamples=2000,
        method="percentile",
        rng=np.random.default_rng(9),
    ).confidence_interval
    # Different resamples: equal up to Monte-Carlo noise (sd of a 2.5 % quantile ≈ 0.008 here).
    assert ours.ci_low == pytest.approx(ref.low, abs=0.025)
    assert ours.ci_high == pytest.approx(ref.high, abs=0.025)


def test_bootstrap_is_seeded_and_chunk_size_does_not_matter():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(2, 120))
    a = bootstrap_spearman(x, y, n_boot=500, seed=7, chunk=500)
    np.testing.assert_array_equal(a, bootstrap_spearman(x, y, n_boot=500, seed=7, chunk=33))
    assert not np.array_equal(a, bootstrap_spearman(x, y, n_boot=500, seed=8))
    assert spearman_ci(x, y, n_boot=500, seed=7) == spearman_ci(x, y, n_boot=500, seed=7)


def test_partial_spearman_matches_pingouin():
    rng = np.random.default_rng(4)
    n = 200
    cov = rng.normal(size=(n, 3))
    x = cov @ [0.5, 0.2, 0.0] + rng.normal(size=n)
    y = 0.3 * x + cov @ [0.1, 0.4, 0.3] + rng.normal(size=n)
    ours = partial_spearman(x, y, cov)
    df = pd.DataFrame({"x": x, "y": y, "a": cov[:, 0], "b": cov[:, 1], "c": cov[:, 2]})
    ref = pingouin.partial_corr(df, x="x", y="y", covar=["a", "b", "c"], method="spearman")
    assert ours.rho == pytest.approx(ref["r"].iloc[0], abs=1e-10)
    assert ours.p_value == pytest.approx(ref["p_val"].iloc[0], rel=1e-8)
    assert ours.df == n - 3 - 2 and ours.n == n
    # no covariates: plain Spearman
    assert partial_spearman(x, y, np.empty((n, 0))).rho == pytest.approx(
        stats.spearmanr(x, y).statistic
    )


def test_incremental_r2_known_answer_with_orthogonal_predictors():
    a = np.array([1, -1, 1, -1.0])
    e = np.array([1, 1, -1, -1.0])
    b = np.array([1, -1, -1, 1.0])
    y = 2 * a + 3 * e + b  # orthogonal, equal norms: variance shares 4 : 9 : 1
    res = incremental_r2(y, a, e)
    assert res.r2_base == pytest.approx(4 / 14) and res.r2_full == pytest.approx(13 / 14)
    assert res.delta_r2 == pytest.approx(9 / 14)
    assert res.f_stat == pytest.approx(9.0)  # (9/14) / ((1/14) / (4 − 2 − 1))
    assert res.f_p == pytest.approx(stats.f.sf(9, 1, 1))


def test_incremental_r2_matches_pingouin_regressions():
    rng = np.random.default_rng(5)
    base = rng.normal(size=(150, 2))
    added = rng.normal(size=150)
    y = base @ [1.0, -0.5] + 0.3 * added + rng.normal(size=150)
    res = incremental_r2(y, base, added)
    r2_b = pingouin.linear_regression(base, y).r2.iloc[0]
    r2_f = pingouin.linear_regression(np.column_stack([base, added]), y).r2.iloc[0]
    assert (res.r2_base, res.r2_full) == pytest.approx((r2_b, r2_f), abs=1e-12)


def test_bin_means_t_interval_known_answer():
    df = pd.DataFrame({"bin": ["a", "a", "a", "b"], "v": [1.0, 2.0, 3.0, 5.0]})
    out = bin_means(df, value="v").set_index("bin")
    half = 4.302652729749462 / np.sqrt(3)  # t_{0.975, 2} · sd 1 / √3
    assert out.loc["a", "mean"] == 2 and out.loc["a", "n"] == 3
    assert (out.loc["a", "ci_low"], out.loc["a", "ci_high"]) == pytest.approx((2 - half, 2 + half))
    assert np.isnan(out.loc["b", "ci_low"])  # n = 1 has no interval


def test_unlearning_summary_known_answer():
    df = pd.DataFrame(
        {"run_id": "r", "bin": ["clean", "clean", "contested", "contested", "contested"],
         "delta_loss": [-0.2, 0.1, 0.3, 0.1, -0.1]}
    )  # fmt: skip
    row = unlearning_summary(df).iloc[0]
    assert row.mean_delta_clean == pytest.approx(-0.05) and row.share_unlearned_clean == 0.5
    assert row.mean_delta_contested == pytest.approx(
        0.1
    ) and row.share_unlearned_contested == pytest.approx(2 / 3)
    assert np.isnan(row.mean_delta_ambiguous) and row.n_ambiguous == 0


@pytest.fixture(scope="module")
def sim_metrics():
    items = simulate_items(300, seed=0)
    dyn = pd.concat(
        [simulate_dynamics(items, seed=s, total_steps=600, epochs=3) for s in (1, 2)],
        ignore_index=True,
    )
    return item_metrics(dyn, items, measurement=None)


def test_run_statistics_contract_and_consistency(sim_metrics):
    cond = pd.DataFrame({"run_id": ["sim-lora-1", "sim-lora-2"], "method": "lora", "seed": [1, 2]})
    out = run_statistics(sim_metrics, n_boot=500, conditions=cond, metric=["aulc", "delta_loss"])
    assert list(out.columns[: len(RUN_STAT_COLUMNS)]) == list(RUN_STAT_COLUMNS)
    assert {"measurement", "model", "method", "rank", "dataset", "seed"} <= set(out.columns)
    assert len(out) == 2 * 2 * 2  # runs × measurement kinds × metrics
    row = out.query(
        "run_id == 'sim-lora-1' and measurement == 'snapshot' and metric == 'aulc'"
    ).iloc[0]
    sub = sim_metrics.query("run_id == 'sim-lora-1' and measurement == 'snapshot'")
    assert row.rho == pytest.approx(stats.spearmanr(sub.entropy, sub.aulc).statistic)
    assert row.ci_low < row.rho < row.ci_high and row.partial_df == 300 - 3 - 2
    assert row.mean_delta_contested == pytest.approx(
        sub.query("bin == 'contested'").delta_loss.mean()
    )
    assert row.seed == 1 and row.method == "lora"


def test_run_statistics_ignores_row_order(sim_metrics):
    a = run_statistics(sim_metrics, n_boot=300, seed=3)
    b = run_statistics(sim_metrics.sample(frac=1, random_state=1), n_boot=300, seed=3)
    pd.testing.assert_frame_equal(a, b)


def test_run_statistics_of_many_runs_equal_each_run_alone(sim_metrics):
    both = run_statistics(sim_metrics, n_boot=300, seed=3, metric=["aulc", "forgetting_events"])
    for run_id, sub in sim_metrics.groupby("run_id"):
        alone = run_statistics(sub, n_boot=300, seed=3, metric=["aulc", "forgetting_events"])
        pd.testing.assert_frame_equal(
            both[both.run_id == run_id].reset_index(drop=True), alone.reset_index(drop=True)
        )


def test_rho_by_label_and_errors(sim_metrics):
    out = rho_by_label(sim_metrics.query("measurement == 'snapshot'"))
    assert set(out.training_label) == {0, 1, 2} and out.n.sum() == 600
    sub = sim_metrics.query(
        "run_id == 'sim-lora-1' and measurement == 'snapshot' and training_label == 1"
    )
    got = out.query("run_id == 'sim-lora-1' and training_label == 1").rho.iloc[0]
    assert got == pytest.approx(stats.spearmanr(sub.entropy, sub.aulc).statistic)
    with pytest.raises(ContestedError, match="missing column"):
        run_statistics(sim_metrics.drop(columns="total_len"))
    with pytest.raises(ContestedError, match="'entropy' is empty"):
        run_statistics(sim_metrics.assign(entropy=np.nan))


def test_item_table_without_training_label_falls_back_explicitly():
    items = simulate_items(120, seed=1).drop(columns="training_label")  # like load_items()
    m = item_metrics(
        simulate_dynamics(items, seed=2, total_steps=300, epochs=1, inflight=False), items
    )
    assert m["training_label"].isna().all()
    with pytest.raises(ContestedError, match="'training_label' is empty"):
        rho_by_label(m)
    by_used = rho_by_label(m, label="label_used")
    assert by_used.n.sum() == 120 and set(by_used.training_label) <= {0, 1, 2}


def test_spearman_of_counts_is_the_bootstrap_engine_and_scipy_on_any_expanded_sample():
    from contested.stats.bootstrap import bootstrap_indices, resample_counts, spearman_of_counts

    rng = np.random.default_rng(5)
    x = np.round(rng.random(60) * 4) / 4  # ties in x
    ys = np.vstack([rng.random(60), np.round(rng.random(60) * 3)])  # one y without ties, one with
    idx = next(bootstrap_indices(60, n_boot=50, seed=3, chunk=50))
    np.testing.assert_array_equal(spearman_of_counts(x, ys, resample_counts(idx, 60)),
                                  bootstrap_spearman(x, ys, n_boot=50, seed=3))
    counts = rng.integers(0, 3, (5, 60))  # rows of any total, not only n
    got = spearman_of_counts(x, ys, counts)
    for b, c in enumerate(counts):
        expanded = np.repeat(np.arange(60), c)
        for j, y in enumerate(ys):
            assert got[j, b] == pytest.approx(stats.spearmanr(x[expanded], y[expanded])[0], abs=1e-12)
    with pytest.raises(ContestedError, match="whole numbers"):
        spearman_of_counts(x, ys, np.full((1, 60), 0.5))
