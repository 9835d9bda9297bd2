"""The study's split and the training mixture, on the real ChaosNLI and bulk files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from contested.data import DataConfig, build_mixture, load_items, normalise_text, split_items
from contested.data.overlap import pair_keys
from contested.errors import ContestedError

SMALL = {"bulk": 1500, "heldout": 200}  # keeps the mixture tests fast; the defaults are checked once


@pytest.fixture(scope="module")
def snli(data_dir):
    return load_items("chaosnli-snli", data_dir=data_dir)


def test_split_sizes_and_disjointness(snli):
    tracked, validation = split_items(snli, tracked_fraction=0.8, seed=42)
    assert (len(tracked), len(validation)) == (1211, 303)
    assert set(tracked["item_id"]).isdisjoint(validation["item_id"])
    assert set(tracked["item_id"]) | set(validation["item_id"]) == set(snli["item_id"])
    assert tracked.attrs["label_names"] == snli.attrs["label_names"]


def test_split_is_stratified_by_bin(snli):
    tracked, validation = split_items(snli, seed=7)
    whole = snli["bin"].value_counts()
    for part, frac in ((tracked, 0.8), (validation, 0.2)):
        got = part["bin"].value_counts()
        for name in ("clean", "ambiguous", "contested"):
            assert abs(got[name] - frac * whole[name]) <= 1, (name, got[name], frac * whole[name])


def test_split_is_deterministic_and_seeded(snli):
    a, _ = split_items(snli, seed=42)
    b, _ = split_items(snli, seed=42)
    c, _ = split_items(snli, seed=43)
    assert a["item_id"].tolist() == b["item_id"].tolist()
    assert set(a["item_id"]) != set(c["item_id"])


def test_split_rejects_a_bad_fraction(snli):
    with pytest.raises(ContestedError, match="tracked_fraction"):
        split_items(snli, tracked_fraction=1.0)


def test_default_mixture_is_the_studys(data_dir):
    mix = build_mixture(DataConfig(data_dir=str(data_dir)))
    assert mix.summary() == {"train": 21211, "bulk": 20000, "tracked": 1211, "validation": 303,
                             "heldout": 500, "dropped_overlap": 0}
    assert mix.label_names == ("entailment", "neutral", "contradiction") and mix.num_classes == 3
    assert list(mix.train.columns) == ["item_id", "premise", "hypothesis", "label", "label_dist", "is_tracked",
                                       "is_noisy"]
    tracked_rows = mix.train.loc[mix.train["is_tracked"]]
    assert tracked_rows["item_id"].tolist() == mix.tracked["item_id"].tolist()
    assert (tracked_rows["label"].to_numpy() == mix.tracked["majority_label"].to_numpy()).all()
    assert not mix.train["is_noisy"].any()
    # held-out items: never trained on, not even under another spelling
    assert set(pair_keys(mix.heldout)).isdisjoint(pair_keys(mix.train))
    names = {p.name for p in mix.data_files}
    assert {"chaosNLI_snli.jsonl", "train.csv", "test.csv"} <= names


def test_bulk_draw_depends_only_on_the_data_seed(data_dir):
    base = DataConfig(data_dir=str(data_dir), **SMALL)
    a = build_mixture(base)
    b = build_mixture(base.replace(split_seed=1, training_label="soft"))
    c = build_mixture(base.replace(data_seed=1))
    bulk = lambda m: m.train.loc[~m.train["is_tracked"], "item_id"].tolist()  # noqa: E731
    assert bulk(a) == bulk(b) and a.heldout["item_id"].tolist() == b.heldout["item_id"].tolist()
    assert set(bulk(a)) != set(bulk(c))
    assert set(a.tracked["item_id"]) != set(b.tracked["item_id"])  # the split seed moves only the split


def test_training_label_variants(data_dir):
    base = DataConfig(data_dir=str(data_dir), **SMALL)
    old = build_mixture(base.replace(training_label="old"))
    assert (old.tracked["training_label"] == old.tracked["old_label"].astype(int)).all()
    assert (old.tracked["training_label"] != old.tracked["majority_label"]).sum() > 100  # 5 vs 100 votes differ
    rows = old.train.loc[old.train["is_tracked"]]
    assert (rows["label"].to_numpy() == old.tracked["training_label"].to_numpy()).all()
    assert all(d[label] == 1.0 and sum(d) == 1.0 for d, label in zip(rows["label_dist"], rows["label"], strict=True))
    soft = build_mixture(base.replace(training_label="soft"))
    rows = soft.train.loc[soft.train["is_tracked"]]
    np.testing.assert_allclose(np.stack(rows["label_dist"]), np.stack(soft.tracked["label_dist"]))
    assert (rows["label"].to_numpy() == soft.tracked["majority_label"].to_numpy()).all()
    bulk_rows = soft.train.loc[~soft.train["is_tracked"]]
    assert all(max(d) == 1.0 for d in bulk_rows["label_dist"])  # bulk items stay one-hot


def test_overlap_guard_drops_and_reports_respelled_items(data_dir, tmp_path, snli):
    picks = snli.sample(n=5, random_state=0)
    respelled = [
        {"pairID": f"dup{i}", "sentence1": f"  {row.premise.upper()}  ", "sentence2": row.hypothesis.rstrip(". ") + "..",
         "gold_label": "neutral"}
        for i, row in enumerate(picks.itertuples())
    ]
    fresh = [{"pairID": f"new{i}", "sentence1": f"Premise number {i}.", "sentence2": f"Hypothesis {i}.",
              "gold_label": "entailment"} for i in range(40)]
    bulk = tmp_path / "bulk.jsonl"
    bulk.write_text("".join(json.dumps(r) + "\n" for r in respelled + fresh))
    mix = build_mixture(DataConfig(data_dir=str(data_dir), bulk_source=str(bulk), bulk=30, heldout=10))
    assert mix.dropped_overlap == 5
    ids = set(mix.train["item_id"]) | set(mix.heldout["item_id"])
    assert not any(i.startswith("dup") for i in ids)
    assert len(mix.heldout) == 10 and set(mix.heldout["item_id"]).isdisjoint(mix.train["item_id"])
    with pytest.raises(ContestedError, match=r"has 40 items \(after the overlap guard\) but data.bulk = 41"):
        build_mixture(DataConfig(data_dir=str(data_dir), bulk_source=str(bulk), bulk=41, heldout=0))


def test_normalise_text():
    assert normalise_text("  The  Dog\tran. ") == normalise_text("the dog ran") == "the dog ran"
    assert normalise_text(None) == ""


def test_mnli_sample_is_too_small_for_20k(data_dir):
    with pytest.raises(ContestedError, match=r"'mnli-train-sample' has 10,000 items .* data.bulk = 20,000"):
        build_mixture(DataConfig(dataset="chaosnli-mnli", data_dir=str(data_dir)))
    with pytest.raises(ContestedError, match=r"data.heldout = 500 but only 100 items are left"):
        build_mixture(DataConfig(dataset="chaosnli-mnli", bulk=9900, data_dir=str(data_dir)))
    mix = build_mixture(DataConfig(dataset="chaosnli-mnli", bulk=2000, heldout=100, data_dir=str(data_dir)))
    assert (len(mix.tracked), len(mix.validation)) == (1279, 320)


def test_max_tracked_caps_both_parts_stratified(data_dir):
    mix = build_mixture(DataConfig(data_dir=str(data_dir), bulk=100, heldout=10, max_tracked=40))
    assert len(mix.tracked) == 40 and len(mix.validation) == 10
    assert set(mix.tracked["bin"]) == {"clean", "ambiguous", "contested"}
    assert mix.train["is_tracked"].sum() == 40


def test_datasets_without_a_bulk_source(data_dir):
    with pytest.raises(ContestedError, match="has no default bulk source"):
        build_mixture(DataConfig(dataset="chaosnli-alphanli", data_dir=str(data_dir)))
    mix = build_mixture(DataConfig(dataset="chaosnli-alphanli", bulk=0, heldout=0, data_dir=str(data_dir)))
    assert mix.num_classes == 2 and len(mix.train) == len(mix.tracked) == 1225 and len(mix.heldout) == 0
    with pytest.raises(ContestedError, match=r"has classes .* but dataset 'lewidi-armis'"):
        build_mixture(DataConfig(dataset="lewidi-armis", bulk_source="snli-train-sample", data_dir=str(data_dir)))
    with pytest.raises(ContestedError, match="needs an original label for every item"):
        build_mixture(DataConfig(dataset="snli-dev-5labels", training_label="old", **SMALL, data_dir=str(data_dir)))


def test_data_config_validates_and_round_trips():
    cfg = DataConfig(dataset="chaosnli-mnli", bulk=5000, max_tracked=100)
    assert DataConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ContestedError, match=r"data\.training_label: unknown .*; use one of majority, old, soft"):
        DataConfig(training_label="gold")
    with pytest.raises(ContestedError, match="unknown key"):
        DataConfig.from_dict({"bulk_size": 3})


def test_stratified_subsample_keeps_bin_shares_even_near_the_full_size(snli):
    from contested.data.split import stratified_subsample

    for n in (3, 151, 1513):
        sub = stratified_subsample(snli, n=n, seed=3)
        assert len(sub) == n and sub["item_id"].is_unique
        for name, count in snli["bin"].value_counts().items():
            assert abs((sub["bin"] == name).sum() - n * count / len(snli)) <= 1
