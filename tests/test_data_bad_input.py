"""One test per bad-input case, in the library (ContestedError) and through the CLI (one line, exit != 0).

Each case writes a small broken file in the format of a real source and names the message it
must produce: the file (and line / item) at fault and what is wrong.
"""

from __future__ import annotations

import json
import re

import pytest

from contested.cli import main
from contested.data import load_bulk, load_items
from contested.data.bulk import load_mnli_prompt_csv, load_snli_cat_tsv
from contested.errors import ContestedError

CHAOS_OK = {"uid": "u1", "label_counter": {"e": 60, "n": 40}, "label_count": [60, 40, 0],
            "example": {"premise": "A dog runs.", "hypothesis": "An animal moves."}, "old_label": "e"}
LEWIDI_OK = {"text": "some tweet", "number of annotations": 3, "annotations": "0,1,0",
             "annotators": "Ann1,Ann2,Ann3", "hard_label": "0", "soft_label": {"0": 0.67, "1": 0.33}}


def _chaos(*records) -> str:
    return "\n".join(json.dumps(r) if isinstance(r, dict) else r for r in records) + "\n"


def _lewidi(items: dict) -> str:
    return json.dumps(items, indent=1)


def _jsonl(*records) -> str:
    return "".join((json.dumps(r) if isinstance(r, dict) else r) + "\n" for r in records)


GOOD = {"id": "a", "premise": "p", "hypothesis": "h", "label_counts": [3, 1, 0]}

# case id -> (file name, content, expected message regex)
CASES = {
    "unparsable-jsonl-line": ("bad.jsonl", _jsonl(GOOD, '{"id": "b", "premise": ', GOOD),
                              r"bad\.jsonl:2: not valid JSON"),
    "unparsable-csv-line": ("bad.csv", "id,premise,hypothesis,label_counts\na,p,h,\"[1,2,0]\"\nb,p,h,\"[1,0,0]\",x\n",
                            r"bad\.csv:3: cannot parse the line: expected 4 fields, found 5"),
    "unparsable-chaosnli-line": ("chaos.jsonl", _chaos(CHAOS_OK, '{"uid": "u2", "label_counter": {'),
                                 r"chaos\.jsonl:2: not valid JSON"),
    "unparsable-lewidi-json": ("ArMIS_dev.json", '{"1": {"text": "x",\n "annotations": }', r"ArMIS_dev\.json:2: not valid JSON"),
    "missing-field-generic": ("bad.jsonl", _jsonl(GOOD, {"id": "b", "label_counts": [1, 1, 1]}),
                              r"bad\.jsonl:2: missing field 'premise' or 'text'"),
    "missing-field-votes": ("bad.jsonl", _jsonl({"id": "b", "premise": "p"}),
                            r"bad\.jsonl:1: missing field 'label_counts' or 'labels'"),
    "missing-field-chaosnli": ("chaos.jsonl", _chaos({k: v for k, v in CHAOS_OK.items() if k != "label_counter"}),
                               r"chaos\.jsonl:1: missing field 'label_counter'"),
    "missing-field-lewidi": ("HS-Brexit_dev.json", _lewidi({"1": LEWIDI_OK, "2": {"text": "no votes"}}),
                             r"HS-Brexit_dev\.json: item '2': missing field 'annotations'"),
    "unknown-label-chaosnli": ("chaos.jsonl", _chaos(CHAOS_OK, {**CHAOS_OK, "uid": "u2", "label_counter": {"x": 100}}),
                               r"chaos\.jsonl:2: unknown label code 'x' in 'label_counter'"),
    "unknown-label-snli-jsonl": ("snli.jsonl", _jsonl({"pairID": "p1", "sentence1": "a", "sentence2": "b",
                                                      "annotator_labels": ["neutral", "maybe"], "gold_label": "-"}),
                                 r"snli\.jsonl:1: unknown label code 'maybe' in 'annotator_labels'"),
    "unknown-label-lewidi": ("ArMIS_dev.json", _lewidi({"1": {**LEWIDI_OK, "annotations": "0,7,1"}}),
                             r"ArMIS_dev\.json: item '1': unknown label code '7'"),
    "unknown-label-generic": ("bad.jsonl", _jsonl({**GOOD, "old_label": "sideways"}),
                              r"bad\.jsonl:1: unknown label code 'sideways' in 'old_label'"),
    "counts-vs-stated-generic": ("bad.jsonl", _jsonl({**GOOD, "n_annotators": 5}),
                                 r"bad\.jsonl:1: label counts sum to 4 but the record states 5 annotators"),
    "counts-vs-stated-lewidi": ("MD-Agreement_dev.json", _lewidi({"7": {**LEWIDI_OK, "number of annotations": 5}}),
                                r"MD-Agreement_dev\.json: item '7': label counts sum to 3 but the record states 5"),
    "counts-vs-stated-chaosnli": ("chaos.jsonl", _chaos({**CHAOS_OK, "label_count": [50, 50, 0]}),
                                  r"chaos\.jsonl:1: 'label_count' \[50, 50, 0\] disagrees with 'label_counter'"),
    "negative-counts": ("bad.jsonl", _jsonl({**GOOD, "label_counts": [3, -1, 2]}),
                        r"bad\.jsonl:1: negative label count in \[3, -1, 2\]"),
    "all-zero-counts": ("bad.jsonl", _jsonl(GOOD, {**GOOD, "id": "z", "label_counts": [0, 0, 0]}),
                        r"bad\.jsonl:2: all label counts are zero"),
    "negative-counts-chaosnli": ("chaos.jsonl", _chaos({**CHAOS_OK, "label_counter": {"e": -5, "n": 105},
                                                        "label_count": None}),
                                 r"chaos\.jsonl:1: negative label count"),
    "duplicate-ids-generic": ("bad.jsonl", _jsonl(GOOD, {**GOOD, "premise": "other"}),
                              r"bad\.jsonl:2: duplicate item id 'a' \(first at line 1\)"),
    "duplicate-ids-chaosnli": ("chaos.jsonl", _chaos(CHAOS_OK, CHAOS_OK), r"chaos\.jsonl:2: duplicate item id 'u1'"),
    "duplicate-ids-lewidi": ("ConvAbuse_dev.json", '{"1": {"text": "a"}, "1": {"text": "b"}}',
                             r"ConvAbuse_dev\.json: duplicate item id '1'"),
    "empty-file": ("empty.jsonl", "", r"empty\.jsonl: file is empty"),
    "blank-file": ("blank.csv", "\n  \n", r"blank\.csv: file is empty"),
    "header-only-csv": ("head.csv", "id,premise,label_counts\n", r"head\.csv: file holds no records"),
    "wrong-path": (None, "missing/nothing.jsonl", r"nothing\.jsonl: no such file"),
    "unknown-name": (None, "chaosnli-snly", r"unknown dataset 'chaosnli-snly'; use a registry name"),
    "registry-files-absent": (None, "@chaosnli-snli",
                              r"chaosnli-snli: chaosnli_v1\.0/chaosNLI_snli\.jsonl not found in the data folder .*"
                              r"contested data fetch chaosnli"),
}


def _spec(case: str, tmp_path) -> tuple[str, list[str]]:
    """The name/path to load for a case and any extra CLI arguments."""
    name, content, _ = CASES[case]
    if name is None:
        if content.startswith("@"):  # a registry name looked up in an empty data folder
            (tmp_path / "empty-data").mkdir()
            return content[1:], ["--data-dir", str(tmp_path / "empty-data")]
        return (str(tmp_path / content) if "/" in content else content), []
    path = tmp_path / name
    path.write_text(content)
    return str(path), []


@pytest.mark.parametrize("case", list(CASES))
def test_library_raises_a_located_error(case, tmp_path):
    spec, extra = _spec(case, tmp_path)
    data_dir = extra[1] if extra else None
    with pytest.raises(ContestedError) as info:
        load_items(spec, data_dir=data_dir)
    message = str(info.value)
    assert re.search(CASES[case][2], message), message
    assert "\n" not in message


@pytest.mark.parametrize("case", list(CASES))
def test_cli_prints_one_line_and_writes_nothing(case, tmp_path, capsys):
    spec, extra = _spec(case, tmp_path)
    out = tmp_path / "out" / "items.parquet"
    with pytest.raises(SystemExit) as info:
        main(["data", "entropy", spec, "--out", str(out), *extra])
    assert info.value.code not in (0, None)
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error:") and re.search(CASES[case][2], err), err
    assert not out.exists() and not out.parent.exists()


def test_bulk_unknown_label_code_in_snli_tsv(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("3\t3\tA man sleeps.\tA person rests.\n4\t4\tA dog.\tA cat.\n")
    with pytest.raises(ContestedError, match=r"train\.csv:2: unknown label code '4'; this file uses 1 = neutral"):
        load_snli_cat_tsv([path])


def test_bulk_unparsable_snli_tsv_line(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("3\t3\tA man sleeps.\tA person rests.\n1\t1\tonly three fields\n")
    with pytest.raises(ContestedError, match=r"train\.csv:2: cannot parse the line: expected 4 fields, found 3"):
        load_snli_cat_tsv([path])


def test_bulk_unparsable_mnli_prompt(tmp_path):
    path = tmp_path / "mnli_train.csv"
    path.write_text('Question,Answer,Origin\n"Is ""a"" the same as ""b""?",neutral,mnli\n')
    with pytest.raises(ContestedError, match=r"mnli_train\.csv:2: cannot parse the line: 'Question' is not"):
        load_mnli_prompt_csv(path)


def test_bulk_unknown_label_and_duplicate_ids_in_official_jsonl(tmp_path):
    path = tmp_path / "snli_1.0_train.jsonl"
    row = {"pairID": "x1", "sentence1": "a", "sentence2": "b", "gold_label": "neutral"}
    path.write_text(_jsonl(row, {**row, "pairID": "x2", "gold_label": "sideways"}))
    with pytest.raises(ContestedError, match=r":2: unknown label code 'sideways'"):
        load_bulk(str(path))
    path.write_text(_jsonl(row, row))
    with pytest.raises(ContestedError, match=r":2: duplicate item id 'x1'"):
        load_bulk(str(path))


def test_bulk_wrong_path_and_unknown_source(tmp_path):
    with pytest.raises(ContestedError, match="no such file"):
        load_bulk(str(tmp_path / "nope.jsonl"))
    with pytest.raises(ContestedError, match="unknown bulk source 'snli-train-sampel'"):
        load_bulk("snli-train-sampel")


def test_unreadable_file_is_one_line_not_a_traceback(tmp_path, monkeypatch, capsys):
    # Tests run as root in CI, where chmod 000 does not stop a read: make open() refuse this one
    # path the way the OS does for an unreadable file (PermissionError), and nothing else.
    path = tmp_path / "items.jsonl"
    path.write_text(_jsonl(GOOD))
    real_open = open

    def refusing_open(file, *args, **kwargs):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("contested.data.loaders._common.open", refusing_open, raising=False)
    with pytest.raises(ContestedError, match=r"items\.jsonl: permission denied; make the file readable"):
        load_items(str(path))
    out = tmp_path / "out" / "items.parquet"
    with pytest.raises(SystemExit) as info:
        main(["data", "entropy", str(path), "--out", str(out)])
    assert info.value.code not in (0, None)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "permission denied" in err, err
    assert not out.exists()
