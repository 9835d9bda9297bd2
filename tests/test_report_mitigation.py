"""The mitigation analysis: two-level bootstrap means, the table, the effects vs control, the Pareto
figure and the report's "what to change" sentences, checked against known answers."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import report_synth as rs
from contested.errors import ContestedError
from contested.report.analysis import analyze
from contested.report.html import render_html
from contested.report.mitigation import (
    GOAL_RELATIVE_JSD,
    mitigation_effects,
    mitigation_summary,
    what_to_change,
)
from contested.report.mitigation_views import (
    mitigation_effects_table,
    mitigation_table,
    pareto_figure,
)
from contested.report.runs import load_runs
from contested.stats import binomial_mean_draws, hierarchical_mean_draws, mean_ci

# ---------------------------------------------------------------------------------------------
# contested.stats.means


def test_single_run_ci_matches_scipys_percentile_bootstrap_of_the_mean():
    x = np.random.default_rng(3).normal(1.0, 2.0, size=300)
    point, draws = hierarchical_mean_draws(x[None], n_boot=20_000, seed=1)
    ours = mean_ci(point[0], draws[:, 0])
    ref = stats.bootstrap((x,), np.mean, n_resamples=20_000, method="percentile", random_state=2).confidence_interval
    assert ours["value"] == pytest.approx(x.mean())
    assert ours["ci_low"] == pytest.approx(ref.low, abs=0.03)
    assert ours["ci_high"] == pytest.approx(ref.high, abs=0.03)


def test_seed_resampling_alone_matches_the_exact_distribution_of_three_draws():
    # Items identical within a run: only the seed draw varies; the mean of 3 draws with replacement
    # from {0, 1, 5} has 27 equally likely ordered outcomes, so each value's probability is known.
    values = np.repeat(np.array([[0.0], [1.0], [5.0]]), 40, axis=1)
    point, draws = hierarchical_mean_draws(values, n_boot=40_000, seed=0)
    exact = pd.Series([np.mean(c) for c in itertools.product([0.0, 1.0, 5.0], repeat=3)]).round(9)
    observed = pd.Series(draws[:, 0]).round(9).value_counts(normalize=True)
    expected = exact.value_counts(normalize=True)
    assert point[0] == pytest.approx(2.0)
    assert set(observed.index) == set(expected.index)
    for value, prob in expected.items():
        assert observed[value] == pytest.approx(prob, abs=0.006)


def test_arms_resampled_together_give_an_exact_paired_difference():
    rng = np.random.default_rng(0)
    control = rng.normal(0.3, 0.1, size=(2, 80))
    point, draws = hierarchical_mean_draws(np.stack([control - 0.05, control]), n_boot=500, seed=4)
    assert point[0] - point[1] == pytest.approx(-0.05)
    np.testing.assert_allclose(draws[:, 0] - draws[:, 1], -0.05, atol=1e-12)


def test_binomial_draws_match_the_normal_approximation():
    point, draws = binomial_mean_draws(np.array([0.7]), 500, n_boot=40_000, seed=0)
    ci = mean_ci(point[0], draws[:, 0])
    half = 1.96 * np.sqrt(0.7 * 0.3 / 500)
    assert ci["ci_low"] == pytest.approx(0.7 - half, abs=0.005)
    assert ci["ci_high"] == pytest.approx(0.7 + half, abs=0.005)


def test_no_resamples_give_the_point_and_nan_intervals_and_bad_input_is_refused():
    point, draws = hierarchical_mean_draws(np.ones((2, 5)), n_boot=0)
    assert draws.shape == (0, 1)
    ci = mean_ci(point[0], draws[:, 0])
    assert ci["value"] == 1.0 and np.isnan(ci["ci_low"]) and np.isnan(ci["ci_high"])
    with pytest.raises(ContestedError, match="NaN"):
        hierarchical_mean_draws(np.array([[1.0, np.nan]]))
    with pytest.raises(ContestedError, match=r"\[0, 1\]"):
        binomial_mean_draws(np.array([1.2]), 10)


# ---------------------------------------------------------------------------------------------
# mitigation_summary / mitigation_effects on hand-built per-item tables

SEEDS = (42, 123)
N_VAL, N_TRACKED = 60, 90


def _runs_table(shifts: dict[str, float], heldout: dict[str, float]) -> pd.DataFrame:
    rows = []
    for (mitigation, _), seed in itertools.product(shifts.items(), SEEDS):
        rows.append({"run_id": f"{mitigation}-{seed}", "model": "m", "dataset": "d", "method": "lora", "rank": 4,
                     "lr": 2e-3, "mitigation": mitigation, "seed": seed, "noise_rate": 0.0,
                     "heldout_accuracy": heldout[mitigation], "n_heldout": 500})
    return pd.DataFrame(rows)


def _item_metrics(shifts: dict[str, float]) -> pd.DataFrame:
    """Validation JSD of a mitigation = the control's + its shift, item by item and seed by seed."""
    rng = np.random.default_rng(7)
    frames = []
    entropy = rng.uniform(0, 1.1, N_TRACKED)  # a property of the item: the same in every run
    for seed in SEEDS:
        base_jsd = rng.uniform(0.2, 0.4, N_VAL)
        aulc = entropy + rng.normal(0, 0.3, N_TRACKED)
        for mitigation, shift in shifts.items():
            run = f"{mitigation}-{seed}"
            val = pd.DataFrame({"item_id": [f"v{i}" for i in range(N_VAL)], "split": "validation", "bin": "clean",
                                "final_jsd": base_jsd + shift, "final_kl": 2 * (base_jsd + shift),
                                "final_correct": (np.arange(N_VAL) % 2).astype(float), "delta_jsd": np.nan,
                                "delta_loss": np.nan, "aulc": np.nan, "entropy": 0.5})
            tracked = pd.DataFrame({"item_id": [f"t{i}" for i in range(N_TRACKED)], "split": "tracked",
                                    "bin": np.where(entropy >= 0.7, "contested", "clean"),
                                    "final_jsd": np.nan, "final_kl": np.nan, "final_correct": np.nan,
                                    "delta_jsd": np.where(np.arange(N_TRACKED) % 4 == 0, 0.1, -0.1),
                                    "delta_loss": entropy - 0.5, "aulc": aulc, "entropy": entropy})
            frames.append(pd.concat([val, tracked]).assign(run_id=run, measurement="snapshot"))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def effects():
    shifts = {"none": 0.0, "soft": -0.05, "ls0.1": 0.0}
    table = _runs_table(shifts, {"none": 0.70, "soft": 0.695, "ls0.1": 0.65})
    return _item_metrics(shifts), table, mitigation_effects(_item_metrics(shifts), table, n_boot=300, seed=0)


def test_effects_are_exact_for_a_constant_shift_and_zero_without_one(effects):
    items, _, eff = effects
    soft = eff.set_index("mitigation").loc["soft"]
    control = items[(items["run_id"].str.startswith("none")) & (items["split"] == "validation")]["final_jsd"].mean()
    assert soft["val_jsd_diff"] == pytest.approx(-0.05)
    assert soft["val_jsd_diff_ci_low"] == pytest.approx(-0.05) and soft["val_jsd_diff_ci_high"] == pytest.approx(-0.05)
    assert soft["val_jsd_relative"] == pytest.approx(-0.05 / control)
    assert soft["val_kl_diff"] == pytest.approx(-0.10)
    assert soft["heldout_accuracy_diff"] == pytest.approx(-0.005)
    assert soft["n_seeds"] == 2 and soft["seeds"] == "42 123"
    ls = eff.set_index("mitigation").loc["ls0.1"]
    assert ls["val_jsd_diff"] == 0 and ls["rho_diff"] == pytest.approx(0) and ls["share_away_diff"] == 0
    assert "none" not in set(eff["mitigation"])


def test_verdicts_and_the_goal(effects):
    _, _, eff = effects
    by = eff.set_index("mitigation")
    assert bool(by.loc["soft", "improves_fit"]) and bool(by.loc["soft", "keeps_accuracy"])
    assert bool(by.loc["soft", "meets_goal"]) == (by.loc["soft", "val_jsd_relative"] <= GOAL_RELATIVE_JSD)
    assert not by.loc["ls0.1", "improves_fit"] and not by.loc["ls0.1", "keeps_accuracy"]
    lines = what_to_change(eff)
    assert len(lines) == 3
    assert "soft" in lines[next(i for i, m in enumerate(eff["mitigation"]) if m == "soft")]
    assert any("without losing more than 1 point" in line for line in lines)
    assert any("did not improve" in line for line in lines)
    assert lines[-1].startswith("Goal") and ("reached by LoRA r=4 (lr 0.002) · soft" in lines[-1])


def test_goal_not_reached_names_the_best_lora_reduction():
    shifts = {"none": 0.0, "soft": -0.01}
    table = _runs_table(shifts, {"none": 0.70, "soft": 0.70})
    eff = mitigation_effects(_item_metrics(shifts), table, n_boot=50)
    assert what_to_change(eff)[-1].startswith("Goal") and "not reached" in what_to_change(eff)[-1]
    assert "soft at -" in what_to_change(eff)[-1]


def test_summary_means_cis_and_shares(effects):
    items, table, _ = effects
    summary = mitigation_summary(items, table, n_boot=300, seed=0)
    assert list(summary["mitigation"]) == ["none", "ls0.1", "soft"]  # control first
    none = summary.set_index("mitigation").loc["none"]
    val = items[items["run_id"].str.startswith("none") & (items["split"] == "validation")]
    assert none["val_jsd"] == pytest.approx(val["final_jsd"].mean())
    assert none["val_jsd_ci_low"] < none["val_jsd"] < none["val_jsd_ci_high"]
    assert none["share_away"] == pytest.approx(0.25, abs=0.1)  # every 4th tracked item moved away
    assert none["heldout_accuracy"] == pytest.approx(0.70) and none["n_seeds"] == 2
    tracked = items[items["run_id"].str.startswith("none") & (items["split"] == "tracked")]
    rho = np.mean([stats.spearmanr(g["entropy"], g["aulc"]).statistic for _, g in tracked.groupby("run_id")])
    assert none["rho"] == pytest.approx(rho)


def test_no_mitigation_runs_give_empty_frames():
    shifts = {"none": 0.0}
    table = _runs_table(shifts, {"none": 0.7})
    assert mitigation_summary(_item_metrics(shifts), table, n_boot=10).empty
    assert mitigation_effects(_item_metrics(shifts), table, n_boot=10).empty


def test_tables_and_pareto_figure_render(effects):
    items, table, eff = effects
    summary = mitigation_summary(items, table, n_boot=100)
    t = mitigation_table(summary)
    assert len(t.display) == 3 and "val JSD ↓" in t.display.columns
    assert "[" in t.display["val JSD ↓"].iloc[0]
    e = mitigation_effects_table(eff)
    assert list(e.display["better fit, ≤ 1 pt acc lost"]) == ["no", "yes"]  # ls0.1, then soft
    fig = pareto_figure(summary)
    assert len(fig.axes[0].containers) == 3  # one error bar per condition
    with pytest.raises(ContestedError, match="no mitigation"):
        mitigation_table(summary.iloc[0:0])


# ---------------------------------------------------------------------------------------------
# analyze + report on run directories


def test_analyze_and_report_carry_the_mitigation_tables(tmp_path):
    rs.sweep(tmp_path / "runs", n=80, seeds=(1, 2), ranks=(4,), full=False)
    runs = load_runs([tmp_path / "runs"])
    copies = []
    for run in runs:  # the same dynamics trained "with label smoothing": every difference is 0
        config = {**run.config, "train": {**run.config["train"], "label_smoothing": 0.1}}
        run_id = run.run_id + "-ls"
        copies.append(dataclasses.replace(run, run_id=run_id, config=config,
                                          dynamics=run.dynamics.assign(run_id=run_id)))
    analysis = analyze([*runs, *copies], n_boot=50, seed=0)
    assert set(analysis.mitigation["mitigation"]) == {"none", "ls0.1"}
    row = analysis.mitigation_effects.iloc[0]
    assert row["mitigation"] == "ls0.1" and row["val_jsd_diff"] == 0 and row["heldout_accuracy_diff"] == 0
    names = [t.name for t in analysis.tables]
    assert "table_mitigation" in names and "table_mitigation_effects" in names
    html = render_html(analysis, [])
    assert 'id="what-to-change"' in html and "did not improve the fit" in html and "not reached" in html


def test_goal_sentence_without_any_measured_jsd(effects):
    _, _, eff = effects
    unmeasured = eff.assign(val_jsd_relative=np.nan, meets_goal=False)
    assert what_to_change(unmeasured)[-1].endswith("No LoRA mitigation with a measured JSD was run.")
