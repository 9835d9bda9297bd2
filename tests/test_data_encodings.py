"""Every text format the loaders read accepts what real tools write: UTF-8 with or without a BOM,
LF or CRLF line ends. Each case writes the same records twice (plain; BOM + CRLF) and compares."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from contested.data import load_bulk, load_items
from contested.data.bulk import (
    load_mnli_prompt_csv,
    load_nli_csv,
    load_nli_jsonl,
    load_snli_cat_tsv,
)
from contested.data.loaders import detect_format
from contested.errors import ContestedError

BOM = b"\xef\xbb\xbf"


def _jsonl(*records: dict) -> str:
    # ensure_ascii=False, as most tools write it: non-ASCII (and U+2028) appear raw in the file.
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def _write_both(tmp_path: Path, name: str, text: str) -> tuple[Path, Path]:
    """``text`` as plain UTF-8 + LF, and as UTF-8 with a BOM + CRLF (Excel's "CSV UTF-8", Notepad)."""
    plain, windows = tmp_path / "plain" / name, tmp_path / "windows" / name
    for path in (plain, windows):
        path.parent.mkdir(parents=True, exist_ok=True)
    plain.write_bytes(text.encode("utf-8"))
    windows.write_bytes(BOM + text.replace("\n", "\r\n").encode("utf-8"))
    assert windows.read_bytes().startswith(BOM) and b"\r\n" in windows.read_bytes()
    return plain, windows


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    a, b = a.copy(), b.copy()
    a.attrs, b.attrs = {}, {}  # data_files name the two different paths
    pd.testing.assert_frame_equal(a, b)


GENERIC_CSV = (
    'id,premise,hypothesis,label_counts,old_label\n'
    'a1,"A man plays, loudly.",Someone makes music.,"[3, 1, 1]",0\n'
    'a2,"Two lines\nin one cell",Café crème,"[0, 2, 3]",\n'
)
GENERIC_COUNT_COLUMNS = "id\ttext\tcount_no\tcount_yes\nt1\tfine\t4\t1\nt2\tnot fine\t2\t3\n"
GENERIC_JSONL = _jsonl(
    {"id": "j1", "premise": "Line separator\u2028inside a string is valid JSON", "labels": ["yes", "no", "yes"]},
    {"id": "j2", "premise": "naïve", "labels": ["no", "no"]},
)
CHAOSNLI = _jsonl(
    {"uid": "u1", "label_counter": {"n": 70, "e": 30}, "label_count": [30, 70, 0],
     "example": {"premise": "Two kids wash their hands.", "hypothesis": "Kids at a ballgame."}, "old_label": "n"},
    {"uid": "u2", "label_counter": {"c": 100}, "label_count": [0, 0, 100],
     "example": {"premise": "A dog runs.", "hypothesis": "A cat sleeps."}, "old_label": "c"},
)
SNLI = _jsonl(
    {"pairID": "p1", "sentence1": "A man sleeps.", "sentence2": "He is awake.",
     "annotator_labels": ["contradiction", "contradiction", "neutral"], "gold_label": "contradiction"},
    {"pairID": "p2", "sentence1": "A girl reads.", "sentence2": "Someone reads.",
     "annotator_labels": ["entailment"], "gold_label": "entailment"},
)
LEWIDI = json.dumps({
    "1": {"text": "<user> first post", "number of annotations": 3, "annotations": "0,0,1", "hard_label": "0"},
    "2": {"text": "second\npost", "number of annotations": 3, "annotations": "1,1,1", "hard_label": "1"},
}, indent=4, ensure_ascii=False) + "\n"

ITEM_FILES = {  # file name -> (text, format detect_format must find)
    "generic.csv": (GENERIC_CSV, "generic"),
    "generic.tsv": (GENERIC_COUNT_COLUMNS, "generic"),
    "generic.jsonl": (GENERIC_JSONL, "generic"),
    "chaosnli.jsonl": (CHAOSNLI, "chaosnli"),
    "snli.jsonl": (SNLI, "snli-jsonl"),
    "MD-Agreement_dev.json": (LEWIDI, "lewidi-md-agreement"),
}


@pytest.mark.parametrize("name", list(ITEM_FILES))
def test_item_formats_read_bom_and_crlf_like_plain_files(tmp_path, name):
    text, fmt = ITEM_FILES[name]
    plain, windows = _write_both(tmp_path, name, text)
    assert detect_format(plain) == detect_format(windows) == fmt
    expected = load_items(str(plain))
    got = load_items(str(windows))
    _same(expected, got)
    assert not any(col.startswith("\ufeff") for col in got.columns)
    texts = [t for t in [*got["premise"], *got["hypothesis"]] if isinstance(t, str)]
    assert texts and not any("\r" in t or "\ufeff" in t for t in texts)


BULK_FILES = {  # file name -> (text, loader)
    "official.jsonl": (_jsonl(
        {"pairID": "b1", "sentence1": "A man sleeps.", "sentence2": "He is awake.", "gold_label": "contradiction"},
        {"pairID": "b2", "sentence1": "No majority.", "sentence2": "Skipped.", "gold_label": "-"},
        {"pairID": "b3", "sentence1": "A girl reads.", "sentence2": "Someone reads.", "gold_label": "entailment"},
    ), load_nli_jsonl),
    "pairs.csv": ("premise,hypothesis,label\nA man sleeps.,He is awake.,contradiction\n"
                  '"A girl reads, happily.",Someone reads.,0\n', lambda p: load_nli_csv([p])),
    "cat.tsv": ('3\t3\tA man sleeps "soundly".\tHe rests.\n2\t2\tA dog runs.\tA cat sleeps.\n',
                lambda p: load_snli_cat_tsv([p])),
    "mnli.csv": ('Question,Answer,Origin\n"For the statement, ""A man sleeps"", does the hypothesis ""He rests"" '
                 'represent entailment, contradiction, or neutrality?",entailment,mnli\n', load_mnli_prompt_csv),
}


@pytest.mark.parametrize("name", list(BULK_FILES))
def test_bulk_formats_read_bom_and_crlf_like_plain_files(tmp_path, name):
    text, loader = BULK_FILES[name]
    plain, windows = _write_both(tmp_path, name, text)
    expected, got = loader(plain), loader(windows)
    # ids made from the file's line numbers stay the same: CRLF adds no lines
    _same(expected, got)
    assert not any("\r" in t or "\ufeff" in t for t in [*got["premise"], *got["hypothesis"]])


def test_bulk_paths_through_load_bulk(tmp_path):
    plain, windows = _write_both(tmp_path, "official.jsonl", BULK_FILES["official.jsonl"][0])
    _same(load_bulk(str(plain)), load_bulk(str(windows)))


@pytest.mark.parametrize("name,text,line", [
    ("bad.jsonl", '{"id": "a", "text": "x", "label_counts": [1, 2]}\n\n{"id": "b", "text": \n', 3),
    ("bad.csv", 'id,text,label_counts\na,x,"[1, 2]"\nb,"two\nlines","[1, 2]"\nc,y\n', 5),
    ("missing.csv", 'id,text,label_counts\na,x,"[1, 2]"\n,y,"[1, 2]"\n', 3),
])
def test_error_line_numbers_are_the_same_with_bom_and_crlf(tmp_path, name, text, line):
    plain, windows = _write_both(tmp_path, name, text)
    messages = []
    for path in (plain, windows):
        with pytest.raises(ContestedError, match=rf"{name}:{line}: ") as err:
            load_items(str(path))
        messages.append(str(err.value).replace(str(path), name))
    assert messages[0] == messages[1]


def test_a_bom_is_not_part_of_the_first_field_name(tmp_path):
    # Before: "missing field 'id'" because the header's first name was "\ufeffid".
    path = tmp_path / "excel.csv"
    path.write_bytes(BOM + b'id,text,labels\r\nx1,hello,"[""a"", ""b"", ""a""]"\r\n')
    items = load_items(str(path))
    assert items["item_id"].tolist() == ["x1"] and items["label_counts"].tolist() == [[2, 1]]
