"""Label-noise injection: exact counts, each noise model's rule, seeds, and the persisted flip list.

Runs on the real ChaosNLI-SNLI tracked items (1,211 items, 302 clean at the study's split).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from contested.data import DataConfig, load_items, split_items
from contested.data.noise import (
    FLIP_COLUMNS,
    NOISE_KINDS,
    NoiseConfig,
    apply_flips,
    flip_labels,
    noise_count,
)
from contested.errors import ContestedError
from contested.io import write_table


@pytest.fixture(scope="module")
def tracked(data_dir) -> pd.DataFrame:
    items = load_items("chaosnli-snli", data_dir=data_dir)
    tracked, _ = split_items(items, tracked_fraction=0.8, seed=42)
    return tracked.assign(training_label=tracked["majority_label"].to_numpy())


def _train_table(tracked: pd.DataFrame) -> pd.DataFrame:
    """A mixture-shaped training table: two bulk rows and the tracked items."""
    labels = tracked["training_label"].to_numpy()
    rows = pd.DataFrame({"item_id": tracked["item_id"].to_numpy(), "label": labels,
                         "label_dist": [np.eye(3)[c].tolist() for c in labels],
                         "is_tracked": True, "is_noisy": False})
    bulk = pd.DataFrame({"item_id": ["bulk-1", "bulk-2"], "label": [0, 2],
                         "label_dist": [[1.0, 0, 0], [0, 0, 1.0]], "is_tracked": False, "is_noisy": False})
    return pd.concat([bulk, rows], ignore_index=True)


@pytest.mark.parametrize("kind", NOISE_KINDS)
@pytest.mark.parametrize("rate", [0.3, 0.6])
def test_exact_count_of_clean_items_and_rule_of_each_kind(tracked, kind, rate):
    clean = tracked[tracked["bin"].astype(str) == "clean"]
    flips = flip_labels(tracked, config=NoiseConfig(rate=rate, kind=kind, seed=7))
    assert len(clean) == 302
    assert len(flips) == int(rate * len(clean)) == noise_count(len(clean), rate=rate)  # 90 / 181
    assert list(flips.columns) == list(FLIP_COLUMNS)
    assert flips["item_id"].is_unique and set(flips["item_id"]) <= set(clean["item_id"])
    assert (flips["bin"] == "clean").all()
    by_id = tracked.set_index("item_id")
    assert (flips["old_label"].to_numpy() == by_id.loc[flips["item_id"], "training_label"].to_numpy()).all()
    assert (flips["new_label"] != flips["old_label"]).all()
    assert flips["new_label"].between(0, 2).all()
    if kind == "symmetric":
        # Uniform over the two other classes: each of the 6 (old, new) pairs that occur gets a share.
        assert (flips["drawn_from"] == "uniform").all()
        for _old, group in flips.groupby("old_label"):
            if len(group) >= 20:
                assert group["new_label"].nunique() == 2
    elif kind == "pair":
        assert (flips["new_label"] == (flips["old_label"] + 1) % 3).all()
    else:
        votes = np.stack(by_id.loc[flips["item_id"], "label_counts"].map(np.asarray).to_numpy())
        drawn = flips["drawn_from"].to_numpy()
        new = flips["new_label"].to_numpy()
        # A flip drawn from the annotators names a class somebody voted for; only items whose
        # other classes got no vote at all fall back to a uniform draw.
        assert (votes[np.arange(len(flips)), new][drawn == "annotators"] > 0).all()
        minority = votes.sum(axis=1) - votes[np.arange(len(flips)), flips["old_label"].to_numpy()]
        assert ((drawn == "uniform") == (minority == 0)).all()
        assert (drawn == "annotators").mean() > 0.9


def test_count_rounds_down_like_the_study():
    assert noise_count(302, rate=0.3) == 90 and noise_count(10, rate=0.3) == 3
    assert noise_count(7, rate=0.0) == 0 and noise_count(7, rate=1.0) == 7


def test_same_items_across_kinds_nested_across_rates_and_seeded(tracked):
    base = NoiseConfig(rate=0.3, seed=123)
    low = flip_labels(tracked, config=base)
    high = flip_labels(tracked, config=base.replace(rate=0.6))
    assert set(low["item_id"]) < set(high["item_id"])
    merged = low.merge(high, on="item_id", suffixes=("_low", "_high"))
    assert (merged["new_label_low"] == merged["new_label_high"]).all()
    for kind in ("pair", "human"):
        assert set(flip_labels(tracked, config=base.replace(kind=kind))["item_id"]) == set(low["item_id"])
    shuffled = tracked.sample(frac=1.0, random_state=0)
    pd.testing.assert_frame_equal(flip_labels(shuffled, config=base), low)
    other = flip_labels(tracked, config=base.replace(seed=124))
    assert set(other["item_id"]) != set(low["item_id"])


def test_pair_map_and_other_bins(tracked):
    flips = flip_labels(tracked, config=NoiseConfig(rate=0.5, kind="pair", pair_map=(2, 0, 1), bins=("contested",)))
    assert (flips["bin"] == "contested").all()
    assert len(flips) == int(0.5 * (tracked["bin"].astype(str) == "contested").sum())
    assert (flips["new_label"].to_numpy() == np.array([2, 0, 1])[flips["old_label"].to_numpy()]).all()
    everything = flip_labels(tracked, config=NoiseConfig(rate=0.1, bins=None))
    assert len(everything) == int(0.1 * len(tracked)) and everything["bin"].nunique() == 3


def test_no_noise_is_an_empty_table(tracked):
    flips = flip_labels(tracked, config=NoiseConfig())
    assert flips.empty and list(flips.columns) == list(FLIP_COLUMNS)
    train = _train_table(tracked)
    pd.testing.assert_frame_equal(apply_flips(train, flips, num_classes=3), train)


def test_apply_flips_changes_training_labels_only_and_persists(tracked, tmp_path):
    flips = flip_labels(tracked, config=NoiseConfig(rate=0.6, kind="human", seed=42))
    train = _train_table(tracked)
    noisy = apply_flips(train, flips, num_classes=3)
    assert int(noisy["is_noisy"].sum()) == len(flips) == 181
    assert set(noisy.loc[noisy["is_noisy"], "item_id"]) == set(flips["item_id"])
    new = dict(zip(flips["item_id"], flips["new_label"], strict=True))
    hit = noisy["item_id"].isin(new.keys())
    assert (noisy.loc[hit, "label"].to_numpy() == noisy.loc[hit, "item_id"].map(new).to_numpy()).all()
    assert all(np.argmax(d) == c for d, c in zip(noisy.loc[hit, "label_dist"], noisy.loc[hit, "label"], strict=True))
    pd.testing.assert_frame_equal(noisy.loc[~hit], train.loc[~hit])  # bulk and unflipped rows untouched
    assert (train["is_noisy"] == False).all()  # noqa: E712  (the input is not modified)
    path = write_table(flips, tmp_path / "noise.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(path), flips)


@pytest.mark.parametrize("bad", [dict(rate=1.5), dict(rate=-0.1), dict(kind="random"), dict(bins=[]),
                                 dict(pair_map=(0, 2, 1)), dict(pair_map=(1, 1, 0)), dict(seed="x")])
def test_bad_noise_config_is_one_line_error(bad):
    with pytest.raises(ContestedError, match=r"data\.noise"):
        NoiseConfig(**bad)


def test_config_from_yaml_or_cli_text():
    config = NoiseConfig.from_dict({"rate": "3e-1", "seed": "7", "bins": "clean", "pair_map": ["1", "2", "0"]})
    assert (config.rate, config.seed, config.bins, config.pair_map) == (0.3, 7, ("clean",), (1, 2, 0))
    assert NoiseConfig.from_dict({"bins": None}).bins is None and not NoiseConfig().active


def test_unknown_bin_and_wrong_pair_map_length(tracked):
    with pytest.raises(ContestedError, match="unknown bin"):
        flip_labels(tracked, config=NoiseConfig(rate=0.3, bins=("clear",)))
    with pytest.raises(ContestedError, match=r"data\.noise\.pair_map: has 2 entries"):
        flip_labels(tracked, config=NoiseConfig(rate=0.3, kind="pair", pair_map=(1, 0)))


def test_flips_must_match_the_training_table(tracked):
    flips = flip_labels(tracked, config=NoiseConfig(rate=0.3))
    train = _train_table(tracked)
    with pytest.raises(ContestedError, match="not tracked"):
        apply_flips(train[~train["item_id"].isin(flips["item_id"].iloc[:1])], flips, num_classes=3)


def test_mixture_flips_training_labels_and_keeps_tracking_labels(data_dir):
    from contested.data import build_mixture

    config = DataConfig(bulk=20, heldout=0, data_dir=str(data_dir),
                        noise=NoiseConfig(rate=0.6, kind="symmetric", seed=5))
    mixture = build_mixture(config)
    clean = (mixture.tracked["bin"].astype(str) == "clean").sum()
    assert len(mixture.noise) == int(0.6 * clean)
    train = mixture.train.set_index("item_id")
    flipped = mixture.noise.set_index("item_id")
    assert train.loc[flipped.index, "is_noisy"].all() and int(train["is_noisy"].sum()) == len(flipped)
    assert (train.loc[flipped.index, "label"] == flipped["new_label"]).all()
    tracked = mixture.tracked.set_index("item_id")
    assert (tracked.loc[flipped.index, "training_label"] == flipped["old_label"]).all()


def test_noisy_run_persists_flips_and_tracks_original_labels(data_dir, tmp_path):
    """A tiny real run: noise.parquet lists the flips, dynamics mark them and score the old labels."""
    import torch

    from contested.models import build_tiny_model_dir
    from contested.train.config import RunConfig
    from contested.train.pipeline import run

    model = build_tiny_model_dir("bert", tmp_path / "tiny-bert")
    config = RunConfig.from_dict({
        "model": str(model), "method": {"method": "lora", "rank": 2},
        "data": {"bulk": 16, "heldout": 0, "max_tracked": 6, "data_dir": str(data_dir),
                 "noise": {"rate": 0.5, "kind": "human", "bins": None, "seed": 3}},
        "train": {"epochs": 1, "batch_size": 8, "max_length": 32, "device": "cpu"},
        "record": {"snapshot_every": 3, "heldout_eval": False},
    })
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_dir = run(config, runs_dir=tmp_path / "runs", progress=False)
    finally:
        torch.set_num_threads(threads)
    flips = pd.read_parquet(run_dir / "noise.parquet")
    items = pd.read_parquet(run_dir / "items.parquet")
    tracked = items[items["split"] == "tracked"]
    assert len(tracked) == 6 and len(flips) == 3 and list(flips.columns) == list(FLIP_COLUMNS)
    dyn = pd.read_parquet(run_dir / "dynamics.parquet")
    rows = dyn[dyn["split"] == "tracked"]
    assert set(rows.loc[rows["is_noisy"], "item_id"]) == set(flips["item_id"])
    original = dict(zip(tracked["item_id"], tracked["training_label"], strict=True))
    assert (rows["label_used"].to_numpy() == rows["item_id"].map(original).to_numpy()).all()
    flipped = rows[rows["is_noisy"]]
    assert (flipped["label_used"].to_numpy() == flipped["item_id"].map(
        dict(zip(flips["item_id"], flips["old_label"], strict=True))).to_numpy()).all()
