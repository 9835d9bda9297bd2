"""The simulator obeys the contracts, is seeded, and the pipeline recovers the ρ it was given."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from contested.dynamics import (
    DYNAMICS_COLUMNS,
    item_metrics,
    simulate_dynamics,
    simulate_items,
    simulate_sweep,
)
from contested.errors import ContestedError
from contested.stats import run_statistics, spearman_ci


@pytest.fixture(scope="module")
def items():
    return simulate_items(1211, seed=0)


def test_items_look_like_chaosnli_snli():
    big = simulate_items(5000, seed=1)
    shares = big["bin"].value_counts(normalize=True)
    # ChaosNLI-SNLI: 25.0 / 50.6 / 24.4 % clean / ambiguous / contested.
    assert shares["clean"] == pytest.approx(0.25, abs=0.03)
    assert shares["ambiguous"] == pytest.approx(0.506, abs=0.03)
    assert shares["contested"] == pytest.approx(0.244, abs=0.03)
    assert big["entropy"].between(0, math.log(3)).all()
    counts = np.stack(big["label_counts"])
    assert (counts.sum(axis=1) == 100).all()
    assert (counts.argmax(axis=1) == big["majority_label"]).all()
    assert (big["total_len"] == big["premise_len"] + big["hypothesis_len"]).all()


def test_dynamics_follow_the_contract(items):
    dyn = simulate_dynamics(items.iloc[:50], seed=3)
    assert list(dyn.columns) == list(DYNAMICS_COLUMNS)
    snap = dyn[dyn.measurement == "snapshot"]
    assert snap.groupby("item_id").size().eq(39).all()  # the study's 39 checkpoints
    assert sorted(snap.step.unique())[:2] == [0, 100]
    assert dyn[dyn.measurement == "inflight"].groupby("item_id").size().eq(5).all()
    np.testing.assert_allclose(dyn.loss, -np.log(dyn.p_label), rtol=1e-4, atol=1e-6)
    logits = np.stack(dyn.logits.to_numpy())
    assert logits.shape[1] == 3 and (logits.argmax(axis=1) == dyn.predicted).all()
    assert dyn.progress.between(0, 1).all()


def test_seeded(items):
    a = simulate_dynamics(items.iloc[:30], seed=5)
    pd.testing.assert_frame_equal(a, simulate_dynamics(items.iloc[:30], seed=5))
    assert not np.allclose(a.loss, simulate_dynamics(items.iloc[:30], seed=6).loss)


def test_pipeline_recovers_the_chosen_rho_inside_its_ci(items):
    m = item_metrics(simulate_dynamics(items, rho=0.3, seed=11, inflight=False), items)
    stats = run_statistics(m, n_boot=2000, seed=0).iloc[0]
    assert stats.n == 1211
    assert stats.ci_low < 0.3 < stats.ci_high
    assert stats.ci_high - stats.ci_low == pytest.approx(0.105, abs=0.02)  # ≈ 2·1.96·(1−ρ²)/√n


def test_recovered_rho_is_unbiased_over_seeds(items):
    rhos = []
    for seed in range(6):
        # A fresh item effect per draw makes the six estimates independent.
        dyn = simulate_dynamics(items, rho=0.2, seed=seed, item_seed=seed, inflight=False)
        m = item_metrics(dyn, items)
        rhos.append(spearman_ci(m.entropy, m.aulc, n_boot=0).rho)
    # Sampling sd of ρ at n=1,211 is ≈ 0.028, so the mean of 6 has sd ≈ 0.011: allow ~3 sd.
    assert np.mean(rhos) == pytest.approx(0.2, abs=0.035)
    assert 0.005 < np.std(rhos) < 0.06


def test_lora_unlearns_contested_items_and_full_ft_does_not(items):
    lora = item_metrics(simulate_dynamics(items, method="lora", seed=1, inflight=False), items)
    full = item_metrics(simulate_dynamics(items, method="full", seed=1, inflight=False), items)
    share = {
        k: df.groupby("bin", observed=True)["unlearned"].mean()
        for k, df in (("lora", lora), ("full", full))
    }
    assert share["lora"]["contested"] > 0.25 > share["lora"]["clean"]
    assert share["full"]["contested"] < share["lora"]["contested"] - 0.1
    assert (
        lora.query("bin == 'contested'").delta_loss.mean()
        > full.query("bin == 'contested'").delta_loss.mean()
    )


def test_noise_flips_a_share_of_clean_items_and_raises_their_loss(items):
    m = item_metrics(simulate_dynamics(items, seed=1, noise_fraction=0.3, inflight=False), items)
    clean = m[m.bin == "clean"]
    assert clean.is_noisy.mean() == pytest.approx(0.3, abs=0.01)
    assert not m[m.bin != "clean"].is_noisy.any()
    assert clean[clean.is_noisy].aulc.mean() > clean[~clean.is_noisy].aulc.mean() + 0.2


def test_sweep_and_errors(items):
    dyn, cond = simulate_sweep(
        items.iloc[:20], methods=("lora", "full"), seeds=(1, 2), inflight=False
    )
    assert list(cond.run_id) == ["sim-lora-1", "sim-lora-2", "sim-full-1", "sim-full-2"]
    assert set(dyn.run_id) == set(cond.run_id)
    with pytest.raises(ContestedError, match="method 'adapter' unknown"):
        simulate_dynamics(items, method="adapter")
    with pytest.raises(ContestedError, match="strictly between"):
        simulate_dynamics(items, rho=1.0)


def test_simulated_losses_are_never_negative():
    from contested.dynamics.simulate import simulate_dynamics, simulate_items

    # rho 0.3 / full / seed 0 at the study's n once produced -0.014 nats (a negative rise cap).
    items = simulate_items(1211, seed=0)
    for method in ("lora", "full"):
        dyn = simulate_dynamics(items, rho=0.3, method=method, seed=0)
        assert (dyn["loss"] > 0).all()
