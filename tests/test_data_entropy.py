"""Annotation entropy, bins and majority labels: known answers and the real ChaosNLI files."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from contested.data import (
    annotation_entropy,
    assign_bins,
    bin_summary,
    load_items,
    majority_label,
    study_thresholds,
)
from contested.errors import ContestedError

CHAOS = {
    "chaosnli-snli": "chaosNLI_snli.jsonl",
    "chaosnli-mnli": "chaosNLI_mnli_m.jsonl",
    "chaosnli-alphanli": "chaosNLI_alphanli.jsonl",
}


def test_entropy_known_values_in_nats_and_bits():
    counts = np.array([[100, 0, 0], [50, 50, 0], [1, 1, 1], [2, 1, 1]])
    h = annotation_entropy(counts)
    assert h[0] == 0.0
    assert h[1] == pytest.approx(math.log(2), abs=1e-12)
    assert h[2] == pytest.approx(math.log(3), abs=1e-12)
    p = np.array([0.5, 0.25, 0.25])
    assert h[3] == pytest.approx(-(p * np.log(p)).sum(), abs=1e-12)
    assert annotation_entropy(counts, base=2)[1] == pytest.approx(1.0, abs=1e-12)


def test_study_thresholds_rescale_by_ln_k_over_ln_3():
    assert study_thresholds(3) == pytest.approx((0.4, 0.7))
    lo, hi = study_thresholds(2)
    assert lo == pytest.approx(0.4 * math.log(2) / math.log(3)) and lo == pytest.approx(0.2524, abs=1e-4)
    assert hi == pytest.approx(0.4417, abs=1e-4)
    # the same edges expressed in bits
    assert study_thresholds(3, base=2) == pytest.approx((0.4 / math.log(2), 0.7 / math.log(2)))


def test_study_bins_edges_belong_to_the_upper_bin():
    bins = assign_bins(np.array([0.0, 0.3999, 0.4, 0.6999, 0.7, 1.09]), num_classes=3)
    assert list(bins) == ["clean", "clean", "ambiguous", "ambiguous", "contested", "contested"]
    assert bins.ordered and list(bins.categories) == ["clean", "ambiguous", "contested"]


def test_quantile_bins_are_terciles_and_refuse_too_few_values():
    h = np.linspace(0, 1, 30)
    assert pd.Series(assign_bins(h, num_classes=3, scheme="quantile")).value_counts().tolist() == [10, 10, 10]
    with pytest.raises(ContestedError, match="too few distinct values"):
        assign_bins(np.array([0.0, 0.0, 0.6, 0.6]), num_classes=2, scheme="quantile")
    with pytest.raises(ContestedError, match="unknown bin scheme"):
        assign_bins(h, num_classes=3, scheme="deciles")


def test_majority_ties_go_to_the_lowest_class_index():
    counts = np.array([[50, 50, 0], [42, 16, 42], [16, 42, 42], [0, 1, 0]])
    assert majority_label(counts).tolist() == [0, 0, 1, 1]


@pytest.mark.parametrize("name", list(CHAOS))
def test_entropy_equals_chaosnli_stored_base2_entropy(data_dir, name):
    stored = [json.loads(line)["entropy"] for line in
              (data_dir / "chaosnli_v1.0" / CHAOS[name]).read_text().splitlines() if line.strip()]
    items = load_items(name, data_dir=data_dir, base=2)
    assert len(items) == len(stored)
    np.testing.assert_allclose(items["entropy"].to_numpy(), stored, rtol=0, atol=1e-9)
    # and the default unit is nats: the same numbers times ln 2
    nats = load_items(name, data_dir=data_dir)
    np.testing.assert_allclose(nats["entropy"].to_numpy(), np.array(stored) * math.log(2), rtol=0, atol=1e-9)
    assert (nats["bin"] == items["bin"]).all(), "bins must not depend on the reported unit"


def test_all_chaosnli_items_counted(data_dir):
    assert sum(len(load_items(n, data_dir=data_dir)) for n in CHAOS) == 4645


def test_chaosnli_snli_bin_shares_match_the_study(data_dir):
    summary = bin_summary(load_items("chaosnli-snli", data_dir=data_dir))
    assert summary["items"].tolist() == [378, 766, 370]
    assert summary["share_pct"].round(1).tolist() == [25.0, 50.6, 24.4]


def test_chaosnli_mnli_and_alphanli_bin_counts(data_dir):
    assert bin_summary(load_items("chaosnli-mnli", data_dir=data_dir))["items"].tolist() == [79, 521, 999]
    alpha = load_items("chaosnli-alphanli", data_dir=data_dir)
    assert alpha.attrs["label_names"] == ["hyp1", "hyp2"]
    assert bin_summary(alpha)["items"].tolist() == [819, 308, 405]


def test_item_table_columns_and_covariates(data_dir):
    items = load_items("chaosnli-snli", data_dir=data_dir)
    assert list(items.columns) == [
        "item_id", "premise", "hypothesis", "label_counts", "n_annotators", "label_dist", "entropy", "bin",
        "majority_label", "majority_share", "old_label", "premise_len", "hypothesis_len", "total_len", "source",
    ]
    assert items.attrs["label_names"] == ["entailment", "neutral", "contradiction"]
    assert items.attrs["dataset"] == "chaosnli-snli"
    assert (items["n_annotators"] == 100).all()
    row = items.set_index("item_id").loc["2407214681.jpg#0r1n"]  # counts e30 n70 c0 in the file
    assert row["label_counts"] == [30, 70, 0] and row["majority_label"] == 1
    assert row["majority_share"] == pytest.approx(0.7) and row["label_dist"] == pytest.approx([0.3, 0.7, 0.0])
    assert row["old_label"] == 1
    assert row["hypothesis_len"] == len("Two kids at a ballgame wash their hands.".split())
    assert (items["total_len"] == items["premise_len"] + items["hypothesis_len"]).all()
    # the study's tie rule differs from ChaosNLI's own majority field on exactly these items
    assert row.name and items.set_index("item_id").loc["4431189771.jpg#0r1n", "majority_label"] == 0
