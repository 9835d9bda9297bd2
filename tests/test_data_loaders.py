"""Every loader on the real files in shared/data, plus the generic format on small files."""

from __future__ import annotations

import json
import math
from collections import Counter

import pandas as pd
import pytest

from contested.data import ITEM_COLUMNS, load_bulk, load_items, resolve_data_dir
from contested.data.bulk import load_nli_jsonl
from contested.data.loaders import detect_format
from contested.data.sources import ITEM_SOURCES
from contested.io import write_table

LEWIDI = {  # name: (items per split train/dev/test, annotations per item where constant)
    "lewidi-hs-brexit": ((784, 168, 168), 6),
    "lewidi-md-agreement": ((6592, 1104, 3057), 5),
    "lewidi-convabuse": ((2398, 812, 840), None),
    "lewidi-armis": ((657, 141, 145), 3),
}


def test_chaosnli_texts_and_old_labels(data_dir):
    snli = load_items("chaosnli-snli", data_dir=data_dir)
    assert snli["item_id"].is_unique and snli["hypothesis"].notna().all()
    assert snli["old_label"].value_counts().to_dict() == {1: 677, 0: 486, 2: 351}
    alpha = load_items("chaosnli-alphanli", data_dir=data_dir)
    row = alpha.set_index("item_id").loc["58090d3f-8a91-4c89-83ef-2b4994de9d241"]
    assert row["label_counts"] == [97, 3] and row["old_label"] == 0  # old_label 1 -> class 0 (hyp1)
    assert row["premise"].startswith("Ron started his new job") and row["hypothesis"].startswith("1: Ron ignores")


@pytest.mark.parametrize("name", list(LEWIDI))
def test_lewidi_splits_counts_and_agreement_with_soft_labels(data_dir, name):
    sizes, n_ann = LEWIDI[name]
    items = load_items(name, data_dir=data_dir)
    assert len(items) == sum(sizes) and items["item_id"].is_unique
    assert items["hypothesis"].isna().all() and len(items.attrs["label_names"]) == 2
    for split, n in zip(("train", "dev", "test"), sizes, strict=True):
        part = load_items(f"{name}:{split}", data_dir=data_dir)
        assert len(part) == n and part["item_id"].str.startswith(f"{split}-").all()
    if n_ann is not None:
        assert (items["n_annotators"] == n_ann).all()
    # the organisers' soft label for class 1 equals our vote share (to their 2-3 rounding digits)
    folder = data_dir / ITEM_SOURCES[name].files[1].rsplit("/", 1)[0]
    raw = json.loads(next(folder.glob("*_dev.json")).read_text())
    dev = load_items(f"{name}:dev", data_dir=data_dir).set_index("item_id")
    for key, item in raw.items():
        assert dev.loc[f"dev-{key}", "label_dist"][1] == pytest.approx(item["soft_label"]["1"], abs=0.006)


def test_convabuse_severity_is_binarised_and_text_is_the_user_turn(data_dir):
    items = load_items("lewidi-convabuse:dev", data_dir=data_dir).set_index("item_id")
    assert items.loc["dev-1", "premise"] == "What are carbon offsets?"
    assert items.loc["dev-32", "label_counts"] == [1, 2]  # annotations "-1,-1,1": two abusive votes
    assert Counter(items["n_annotators"]) == {3: 473, 2: 215, 4: 67, 5: 46, 6: 10, 7: 1}


def test_snli_dev_5labels(data_dir):
    items = load_items("snli-dev-5labels", data_dir=data_dir)
    assert len(items) == 2566 and items["item_id"].is_unique
    assert items["n_annotators"].value_counts().to_dict() == {5: 2563, 4: 3}
    assert items["old_label"].isna().sum() == 39  # gold_label "-"
    first = items.iloc[0]
    assert first["item_id"] == "4705552913.jpg#2r1n" and first["label_counts"] == [1, 4, 0]
    # 381 of these are ChaosNLI-SNLI items (SOURCE.md)
    chaos = set(load_items("chaosnli-snli", data_dir=data_dir)["item_id"])
    assert items["item_id"].isin(chaos).sum() == 381


def test_bulk_snli_sample_label_codes(data_dir):
    bulk = load_bulk("snli-train-sample", data_dir=data_dir)
    assert len(bulk) == 20000 and list(bulk.columns) == ["item_id", "premise", "hypothesis", "label"]
    # codes 1 neutral / 2 contradiction / 3 entailment, counts from SOURCE.md (train + test)
    assert bulk["label"].value_counts().to_dict() == {2: 6086 + 685, 0: 6015 + 652, 1: 5899 + 663}
    first = bulk.iloc[0]  # code 1 in the file
    assert first["label"] == 1 and first["hypothesis"] == "The man is gazing over the water thinking about his life."


def test_bulk_mnli_sample_prompt_parsing(data_dir):
    bulk = load_bulk("mnli-train-sample", data_dir=data_dir)
    assert len(bulk) == 10000 and bulk["item_id"].is_unique
    assert bulk["label"].value_counts().to_dict() == {2: 3394, 1: 3367, 0: 3239}
    first = bulk.iloc[0]
    assert first["premise"] == "The default procedures provide for the sale of all allowances at a single, clearing price"
    assert first["hypothesis"] == "The default makes sure there isn't more than one sale " and first["label"] == 0
    assert not bulk["premise"].str.startswith("For the statement").any()


def test_bulk_extra_random_snli_pool(data_dir):
    extra = load_bulk("snli-train-random-extra", data_dir=data_dir)
    assert 11000 < len(extra) <= 11954 and extra["label"].isin([0, 1, 2]).all()


def test_official_snli_jsonl_as_bulk(data_dir):
    bulk = load_nli_jsonl(data_dir / "snli_dev_partial_5labels" / "snli_1.0_dev.jsonl")
    assert len(bulk) == 1289 - Counter(json.loads(x)["gold_label"] for x in (
        data_dir / "snli_dev_partial_5labels" / "snli_1.0_dev.jsonl").read_text().splitlines())["-"]
    assert bulk["label"].isin([0, 1, 2]).all() and bulk["item_id"].is_unique


def test_detect_format_on_real_files(data_dir):
    assert detect_format(data_dir / "chaosnli_v1.0" / "chaosNLI_mnli_m.jsonl") == "chaosnli"
    assert detect_format(data_dir / "snli_dev_partial_5labels" / "snli_1.0_test.jsonl") == "snli-jsonl"
    assert detect_format(data_dir / "lewidi2023_ArMIS" / "ArMIS_dev.json") == "lewidi-armis"
    by_path = load_items(str(data_dir / "chaosnli_v1.0" / "chaosNLI_snli.jsonl"))
    assert len(by_path) == 1514 and by_path.attrs["dataset"] == "chaosNLI_snli"


def test_generic_jsonl_counts_and_labels(tmp_path):
    counts = tmp_path / "counts.jsonl"
    counts.write_text('{"id": "a", "premise": "p a", "hypothesis": "h", "label_counts": [3, 1, 0]}\n'
                      '{"id": "b", "text": "only text", "label_counts": [0, 2, 2], "n_annotators": 4}\n')
    items = load_items(str(counts))
    assert items["label_counts"].tolist() == [[3, 1, 0], [0, 2, 2]]
    assert items.attrs["label_names"] == ["0", "1", "2"] and items["hypothesis"].isna().tolist() == [False, True]
    assert items["majority_label"].tolist() == [0, 1]  # tie 2-2 -> lowest index
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"id": 1, "text": "x", "labels": ["yes", "no", "yes"], "old_label": "yes"}\n'
                      '{"id": 2, "text": "y", "labels": ["no", "no"]}\n')
    items = load_items(str(labels))
    assert items.attrs["label_names"] == ["no", "yes"] and items["label_counts"].tolist() == [[1, 2], [2, 0]]
    assert items["old_label"].tolist()[0] == 1 and pd.isna(items["old_label"].tolist()[1])
    assert items["entropy"].iloc[0] == pytest.approx(-(1 / 3 * math.log(1 / 3) + 2 / 3 * math.log(2 / 3)))


def test_generic_csv_count_columns_and_nli_labels(tmp_path):
    cols = tmp_path / "votes.csv"
    cols.write_text("id,premise,hypothesis,count_entailment,count_neutral,count_contradiction\n"
                    'a,"A man, asleep.",A person rests.,4,1,0\nb,x,y,0,0,5\n')
    items = load_items(str(cols))
    assert items.attrs["label_names"] == ["entailment", "neutral", "contradiction"]
    assert items["premise"].iloc[0] == "A man, asleep." and items["label_counts"].iloc[1] == [0, 0, 5]
    tsv = tmp_path / "labels.tsv"
    tsv.write_text('id\ttext\tlabels\nq\tsome text\t["neutral", "entailment", "neutral"]\n')
    items = load_items(str(tsv))
    assert items.attrs["label_names"] == ["entailment", "neutral", "contradiction"]
    assert items["label_counts"].iloc[0] == [1, 2, 0]


def test_item_table_round_trips_through_our_own_csv(tmp_path, data_dir):
    items = load_items("lewidi-armis:dev", data_dir=data_dir)
    write_table(items, tmp_path / "armis.csv")
    again = load_items(str(tmp_path / "armis.csv"))
    assert again["label_counts"].tolist() == items["label_counts"].tolist()
    assert again["entropy"].to_numpy() == pytest.approx(items["entropy"].to_numpy())
    assert list(again.columns) == list(ITEM_COLUMNS)


def test_data_dir_resolution_order(tmp_path, monkeypatch):
    monkeypatch.setenv("CONTESTED_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("CONTESTED_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert resolve_data_dir() == tmp_path / "cache" / "contested" / "data"
