"""Per-item metrics: hand-computed answers, ragged in-flight trajectories, invariances, errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from contested.dynamics import METRIC_COLUMNS, item_metrics, simulate_dynamics, simulate_items
from contested.errors import ContestedError


def _rows(run, item, steps, total, losses, p_label, predicted, label, measurement="snapshot"):
    return pd.DataFrame(
        {
            "run_id": run,
            "item_id": item,
            "split": "tracked",
            "step": steps,
            "epoch": np.asarray(steps, float) / total,
            "progress": np.asarray(steps, float) / total,
            "measurement": measurement,
            "loss": losses,
            "logits": [[0.0, 0.0, 0.0]] * len(steps),
            "p_label": p_label,
            "predicted": predicted,
            "label_used": label,
            "is_noisy": False,
        }
    )


@pytest.fixture()
def toy():
    # A: falls then rises; correct only in the middle (one forgetting event).
    a = _rows("r1", "A", [0, 50, 100], 100, [1.0, 0.4, 0.7], [0.2, 0.6, 0.5], [1, 0, 1], 0)
    # B: rises monotonically and is never predicted correctly (never learnt).
    b = _rows("r1", "B", [0, 50, 100], 100, [0.9, 1.2, 1.5], [0.4, 0.3, 0.2], [2, 2, 2], 1)
    items = pd.DataFrame(
        {"item_id": ["A", "B"], "entropy": [0.1, 0.9], "bin": ["clean", "contested"], "training_label": [0, 1],
         "premise_len": [5, 7], "hypothesis_len": [3, 4], "total_len": [8, 11]}
    )  # fmt: skip
    return pd.concat([a, b], ignore_index=True), items


def test_known_answers_for_two_hand_computed_trajectories(toy):
    dyn, items = toy
    m = item_metrics(dyn, items).set_index("item_id")
    a, b = m.loc["A"], m.loc["B"]
    # AULC (Eq. 2) = plain mean; trapezoid over progress 0, .5, 1.
    assert a.aulc == pytest.approx(0.7)
    assert a.aulc_trapz == pytest.approx(0.5 * 1.4 * 0.5 + 0.5 * 1.1 * 0.5)  # 0.625
    assert b.aulc == pytest.approx(1.2) and b.aulc_trapz == pytest.approx(1.2)
    assert (a.initial_loss, a.final_loss) == pytest.approx((1.0, 0.7))
    assert a.delta_loss == pytest.approx(-0.3) and not a.unlearned
    assert b.delta_loss == pytest.approx(0.6) and b.unlearned
    assert a.max_rise == pytest.approx(0.3)  # minimum 0.4 at step 50, back up to 0.7
    assert b.max_rise == pytest.approx(0.6)  # minimum is the first checkpoint
    # Cartography: population std (ddof 0) as in Swayamdipta et al.
    assert a.confidence == pytest.approx(1.3 / 3)
    assert a.variability == pytest.approx(
        math.sqrt((0.2333333**2 + 0.1666667**2 + 0.0666667**2) / 3), rel=1e-5
    )
    assert a.correctness == pytest.approx(1 / 3)
    assert a.forgetting_events == 1 and not a.never_learnt and a.first_step_learned == 50
    # Never-learnt rule: forgetting_events = number of checkpoints, first_step_learned NaN.
    assert b.never_learnt and b.forgetting_events == 3 and np.isnan(b.first_step_learned)
    assert b.correctness == 0 and b.n_checkpoints == 3
    assert a.entropy == 0.1 and b.bin == "contested" and a.total_len == 8


def test_forgetting_count_on_a_fixed_sequence():
    correct = np.array([1, 1, 0, 1, 0, 0, 1], dtype=bool)
    steps = list(range(0, 700, 100))
    dyn = _rows(
        "r", "X", steps, 600, np.linspace(1, 0.5, 7), np.full(7, 0.5), np.where(correct, 0, 1), 0
    )
    m = item_metrics(dyn).iloc[0]
    assert m.forgetting_events == 2  # transitions at (100→200) and (300→400)
    assert m.first_step_learned == 0
    assert m.correctness == pytest.approx(4 / 7)


def test_contract_columns_and_missing_item_columns_without_items(toy):
    dyn, items = toy
    m = item_metrics(dyn, items)
    assert list(m.columns[: len(METRIC_COLUMNS)]) == list(METRIC_COLUMNS)
    assert {"premise_len", "hypothesis_len", "total_len", "label_used", "is_noisy"} <= set(
        m.columns
    )
    bare = item_metrics(dyn)
    assert bare["entropy"].isna().all() and list(bare.columns[: len(METRIC_COLUMNS)]) == list(
        METRIC_COLUMNS
    )


def test_inflight_ragged_trajectories_use_their_own_checkpoints():
    d = _rows("r", "D", [30, 80], 100, [0.6, 0.2], [0.5, 0.8], [0, 0], 0, "inflight")
    e = _rows(
        "r", "E", [20, 50, 90], 100, [1.0, 0.5, 0.5], [0.4, 0.6, 0.6], [1, 0, 0], 0, "inflight"
    )
    snap = _rows("r", "D", [0, 100], 100, [1.1, 0.3], [0.3, 0.7], [1, 0], 0)
    dyn = pd.concat([d, e, snap], ignore_index=True)
    m = item_metrics(dyn, measurement="inflight").set_index("item_id")
    assert list(m.n_checkpoints) == [2, 3]
    assert m.loc["D", "aulc_trapz"] == pytest.approx(0.4)
    assert m.loc["E", "aulc_trapz"] == pytest.approx((0.5 * 1.5 * 0.3 + 0.5 * 1.0 * 0.4) / 0.7)
    assert m.loc["D", "final_loss"] == pytest.approx(0.2) and m.loc[
        "E", "final_loss"
    ] == pytest.approx(0.5)
    assert m.loc["E", "first_step_learned"] == 50
    both = item_metrics(dyn, measurement=None)
    assert sorted(both.measurement) == ["inflight", "inflight", "snapshot"]


def test_matches_a_straightforward_groupby_on_simulated_runs():
    items = simulate_items(60, seed=3)
    dyn = pd.concat(
        [
            simulate_dynamics(items, seed=s, total_steps=600, epochs=3, inflight=False)
            for s in (1, 2)
        ],
        ignore_index=True,
    )
    fast = item_metrics(dyn, items).set_index(["run_id", "item_id"])
    grp = dyn.sort_values("step").groupby(["run_id", "item_id"])
    slow = pd.DataFrame(
        {
            "aulc": grp["loss"].mean(),
            "delta_loss": grp["loss"].last() - grp["loss"].first(),
            "confidence": grp["p_label"].mean(),
            "variability": grp["p_label"].std(ddof=0),
            "correctness": grp.apply(
                lambda g: (g.predicted == g.label_used).mean(), include_groups=False
            ),
        }
    )
    for col in slow.columns:
        np.testing.assert_allclose(fast.loc[slow.index, col], slow[col], rtol=1e-5, err_msg=col)


def test_invariant_to_row_order_and_to_splitting_runs():
    items = simulate_items(40, seed=0)
    dyn = pd.concat([simulate_dynamics(items, seed=s, total_steps=400, epochs=2) for s in (1, 2)])
    ref = item_metrics(dyn, items, measurement=None)
    shuffled = item_metrics(dyn.sample(frac=1.0, random_state=7), items, measurement=None)
    pd.testing.assert_frame_equal(ref, shuffled)
    one = item_metrics(dyn[dyn.run_id == "sim-lora-2"], items, measurement=None)
    pd.testing.assert_frame_equal(ref[ref.run_id == "sim-lora-2"].reset_index(drop=True), one)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.drop(columns="loss"), "missing column"),
        (lambda d: d.assign(measurement="eval"), "unknown value"),
        (lambda d: d.assign(loss=np.nan), "not finite"),
        (lambda d: pd.concat([d, d.iloc[:1]]), "two 'snapshot' rows"),
    ],
)
def test_bad_dynamics_tables_raise_one_line_errors(toy, mutate, message):
    dyn, _ = toy
    with pytest.raises(ContestedError, match=message):
        item_metrics(mutate(dyn))


def test_items_table_must_cover_the_dynamics(toy):
    dyn, items = toy
    with pytest.raises(ContestedError, match="lacks 1 item"):
        item_metrics(dyn, items.iloc[:1])
    with pytest.raises(ContestedError, match="appears twice"):
        item_metrics(dyn, pd.concat([items, items]))
    with pytest.raises(ContestedError, match="no rows with measurement 'inflight'"):
        item_metrics(dyn, items, measurement="inflight")


def test_analysis_layers_do_not_import_torch():
    import subprocess
    import sys

    code = "import sys, contested.dynamics, contested.stats; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
