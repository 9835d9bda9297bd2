"""`contested score`: known answers on hand-made prediction files, every format, every bad input."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from cli_helpers import run_cli
from contested.data import load_items
from contested.data.predictions import chaosnli_label, label_codes, read_predictions
from contested.dynamics.scoring import score_file
from contested.errors import ContestedError

DATASET = """item_id,premise,hypothesis,count_entailment,count_neutral,count_contradiction,old_label
a,p,h,10,0,0,entailment
b,p,h,5,5,0,neutral
c,p,h,4,3,3,contradiction
d,p,h,6,2,2,entailment
e,p,h,0,7,3,neutral
f,p,h,2,2,6,
"""
IDS = list("abcdef")
COUNTS = np.array([[10, 0, 0], [5, 5, 0], [4, 3, 3], [6, 2, 2], [0, 7, 3], [2, 2, 6]], dtype=float)
P_H = COUNTS / COUNTS.sum(axis=1, keepdims=True)
H = np.array([-sum(p * math.log(p) for p in row if p > 0) for row in P_H])  # nats


@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text(DATASET)
    return path


def _write(tmp_path, name: str, content) -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def _entry(p, label=None):
    out = {"predicted_probabilities": list(map(float, p))}
    if label is not None:
        out["predicted_label"] = label
    return out


def _js_by_hand(p, q):
    m = (p + q) / 2
    kl = lambda a, b: sum(x * math.log(x / y) for x, y in zip(a, b, strict=True) if x > 0)  # noqa: E731
    return math.sqrt(0.5 * kl(p, m) + 0.5 * kl(q, m))


def test_known_answers_uniform_one_hot_and_the_human_distribution(dataset, tmp_path, capsys):
    preds = {
        "uniform": {i: _entry([1 / 3] * 3, "entailment") for i in IDS},
        "one-hot": {i: _entry([1, 0, 0], "e") for i in IDS},
        "human": {i: _entry(p) for i, p in zip(IDS, P_H, strict=True)},
    }
    path = _write(tmp_path, "preds.json", preds)
    out = tmp_path / "scores.json"
    code, stdout, _ = run_cli(capsys, "score", str(dataset), path, "--out", str(out))
    assert code == 0 and "one-hot" in stdout and "contested" in stdout
    res = json.loads(out.read_text())
    assert res["format"] == "chaosnli" and res["n_items"] == 6 and res["label_names"][0] == "entailment"
    m = res["models"]

    human = m["human"]["overall"]
    assert human["jsd"] < 1e-7 and human["kl"] < 1e-12  # 0 up to ChaosNLI's 1e-15 floor
    assert human["lewidi_ce"] == pytest.approx(H.mean(), abs=1e-7)
    # No predicted_label: argmax (ties → lowest index) = the majority label.
    assert human["accuracy"] == 1.0

    uni = m["uniform"]["overall"]
    assert uni["kl"] == pytest.approx(np.mean(math.log(3) - H), rel=1e-12)
    assert uni["jsd"] == pytest.approx(np.mean([_js_by_hand(p, np.full(3, 1 / 3)) for p in P_H]), rel=1e-12)
    assert uni["pred_entropy"] == pytest.approx(math.log(3))
    assert uni["lewidi_ce"] == pytest.approx(-math.log(1 / 3 + 1e-9), rel=1e-12)
    # Majorities a..f: e, e (5/5 tie → lowest), e, e, n, c; old labels e, n, c, e, n, —.
    assert uni["accuracy"] == pytest.approx(4 / 6)
    assert uni["accuracy_old"] == pytest.approx(2 / 5) and uni["n_old"] == 5
    assert uni["f1_micro"] == pytest.approx(2 / 6)  # hard labels e, n, c, e, n, c(majority of f)

    one = m["one-hot"]["overall"]
    s = 1 + 2e-15
    q = np.array([1 / s, 1e-15 / s, 1e-15 / s])
    kl_by_hand = [sum(x * math.log(x / y) for x, y in zip(p, q, strict=True) if x > 0) for p in P_H]
    assert one["kl"] == pytest.approx(np.mean(kl_by_hand), rel=1e-12) and math.isfinite(one["kl"])
    assert one["accuracy"] == uni["accuracy"]

    bins = m["uniform"]["bins"]
    assert {b: bins[b]["n"] for b in bins} == {"clean": 1, "ambiguous": 2, "contested": 3}
    assert bins["clean"]["kl"] == pytest.approx(math.log(3))  # item a is unanimous
    assert m["uniform"]["n_missing"] == 0 and "jsd" in res["conventions"]


def test_formats_give_the_same_scores(dataset, tmp_path):
    probs = np.array([[0.7, 0.2, 0.1], [0.3, 0.4, 0.3], [0.2, 0.2, 0.6], [0.5, 0.25, 0.25], [0.1, 0.8, 0.1],
                      [0.3, 0.3, 0.4]])
    ref = score_file(str(dataset), _write(tmp_path, "flat.json", {i: _entry(p) for i, p in zip(IDS, probs, strict=True)}))
    assert ref.predictions.fmt == "json"
    rows = "\n".join(f"{i},{p[0]},{p[1]},{p[2]},{lab}" for i, p, lab in zip(IDS, probs, "encenc", strict=True))
    files = {
        "list.json": {i: list(p) for i, p in zip(IDS, probs, strict=True)},
        "logits.json": {i: {"logits": list(np.log(p) + 3.0)} for i, p in zip(IDS, probs, strict=True)},
        "cols.csv": "uid,entailment,neutral,contradiction,predicted_label\n" + rows + "\n",
        "rows.jsonl": "".join(json.dumps({"item_id": i, "probabilities": list(p)}) + "\n"
                              for i, p in zip(IDS, probs, strict=True)),
        "cell.csv": "id,probabilities\n" + "".join(f'{i},"{json.dumps(list(p))}"\n' for i, p in zip(IDS, probs, strict=True)),
    }
    for name, content in files.items():
        got = score_file(str(dataset), _write(tmp_path, name, content))
        for col in ("jsd", "kl", "lewidi_ce", "accuracy"):
            np.testing.assert_allclose(got.table[col], ref.table[col], rtol=1e-9, err_msg=f"{name}: {col}")


def test_label_spellings_follow_chaosnli():
    nli = label_codes(["entailment", "neutral", "contradiction"])
    assert nli["e"] == nli["entailment"] == 0 and nli["c"] == 2
    alpha = label_codes(["hyp1", "hyp2"])
    assert alpha["1"] == 0 and alpha["2"] == 1  # ChaosNLI's αNLI labels are 1 / 2
    assert label_codes(["not_offensive", "offensive"])["1"] == 1  # LeWiDi hard labels 0 / 1
    assert chaosnli_label(1, ["entailment", "neutral", "contradiction"]) == "neutral"
    assert chaosnli_label(0, ["hyp1", "hyp2"]) == 1


def test_lewidi_results_tsv_and_json_against_the_real_dev_split(data_dir, tmp_path):
    items = load_items("lewidi-md-agreement:dev", data_dir=data_dir)
    soft = np.stack(items["label_dist"].to_numpy())
    hard = items["old_label"].to_numpy(dtype=int)
    tsv = "".join(f"{h}\t{float(p[0])!r}\t{float(p[1])!r}\n" for h, p in zip(hard, soft, strict=True))
    scores = score_file("lewidi-md-agreement:dev", _write(tmp_path, "MD-Agreement_results.tsv", tsv),
                        data_dir=data_dir)
    row = scores.table.iloc[0]
    assert scores.predictions.fmt == "lewidi-tsv" and row["n"] == len(items) == 1104
    entropy = -np.sum(np.where(soft > 0, soft * np.log(np.where(soft > 0, soft, 1)), 0), axis=1)
    assert row["lewidi_ce"] == pytest.approx(entropy.mean(), abs=1e-8)  # CE(p, p) = H(p)
    assert row["f1_micro"] == 1.0 and row["accuracy_old"] == 1.0
    # Keyed by the file's own ids ("1", "2", …): the registry's "dev-" prefix is matched.
    keyed = {k.split("-", 1)[1]: {"soft_label": {"0": p[0], "1": p[1]}, "hard_label": int(h)}
             for k, p, h in zip(items["item_id"], soft, hard, strict=True)}
    again = score_file("lewidi-md-agreement:dev", _write(tmp_path, "sub.json", keyed), data_dir=data_dir)
    assert again.table.iloc[0]["lewidi_ce"] == pytest.approx(row["lewidi_ce"], rel=1e-12)
    with pytest.raises(ContestedError, match="must match the dataset's 1,104 items"):
        score_file("lewidi-md-agreement:dev", _write(tmp_path, "short.tsv", tsv.split("\n", 1)[1]), data_dir=data_dir)


def test_allow_missing_reports_the_count(dataset, tmp_path, capsys):
    path = _write(tmp_path, "part.json", {"m": {i: _entry([0.2, 0.3, 0.5], "c") for i in IDS[:4]}})
    out = tmp_path / "s.json"
    code, stdout, _ = run_cli(capsys, "score", str(dataset), path, "--allow-missing", "--out", str(out))
    assert code == 0 and "2 of 6 items have no prediction" in " ".join(stdout.split())
    res = json.loads(out.read_text())["models"]["m"]
    assert res["n_missing"] == 2 and res["overall"]["n"] == 4


OK = {i: _entry([0.2, 0.3, 0.5], "c") for i in IDS}


def test_allow_extra_skips_ids_the_dataset_lacks(dataset, tmp_path, capsys):
    # e.g. ChaosNLI's model_predictions_for_snli_mnli.json (SNLI and MNLI uids) scored against one dataset
    path = _write(tmp_path, "both.json", {"m": {**OK, "mnli-1": _entry([1, 0, 0]), "mnli-2": [0.5, 0.5, 0.0]}})
    out = tmp_path / "s.json"
    code, stdout, _ = run_cli(capsys, "score", str(dataset), path, "--allow-extra", "--out", str(out))
    assert code == 0 and "skipped 2 prediction(s)" in " ".join(stdout.split())
    res = json.loads(out.read_text())["models"]["m"]
    assert res["n_extra"] == 2 and res["overall"]["n"] == 6
    assert res["overall"]["accuracy"] == pytest.approx(1 / 6)  # predicted c; only item f's majority is c
# case → (file name, content, message regex)
BAD = {
    "unknown id": ("p.json", {**OK, "zzz": _entry([0.2, 0.3, 0.5])}, r"item 'zzz'.*not in votes"),
    "missing items": ("p.json", {i: OK[i] for i in IDS[:5]}, r"no prediction for 1 of the dataset's 6 items \(e.g. 'f'\).*--allow-missing"),
    "wrong class count": ("p.json", {**OK, "c": _entry([0.5, 0.5])}, r"item 'c': 2 classes in 'probabilities', the dataset has 3"),
    "sum not 1": ("p.json", {**OK, "b": _entry([0.2, 0.3, 0.50001])}, r"item 'b': probabilities sum to 1.00001, not 1"),
    "negative": ("p.json", {**OK, "b": _entry([-0.1, 0.6, 0.5])}, r"negative probability"),
    "unknown label": ("p.json", {**OK, "d": _entry([0.2, 0.3, 0.5], "maybe")}, r"item 'd': unknown predicted label 'maybe'"),
    "alpha label on nli": ("p.json", {**OK, "d": _entry([0.2, 0.3, 0.5], 2)}, r"unknown predicted label '2'"),
    "no probabilities": ("p.json", {**OK, "e": {"predicted_label": "e"}}, r"item 'e': no probabilities"),
    "duplicate id": ("p.json", '{"a": [0.2, 0.3, 0.5], "a": [0.2, 0.3, 0.5]}', r"duplicate key 'a'"),
    "bad json": ("p.json", '{"a": [0.2, 0.3', r"p.json:1: not valid JSON"),
    "csv wrong columns": ("p.csv", "uid,entailment,neutral\na,0.5,0.5\n", r"p.csv:2: .class columns. gives 2 classes, the dataset has 3"),
    "csv no columns": ("p.csv", "uid,yes,no\na,0.5,0.5\n", r"p.csv:2: no probabilities"),
    "csv not a number": ("p.csv", "uid,entailment,neutral,contradiction\na,0.5,x,0.5\n", r"'x' is not a number"),
    "jsonl no id": ("p.jsonl", '{"probabilities": [0.2, 0.3, 0.5]}\n', r"p.jsonl:1: missing field 'uid'"),
    "tsv wrong width": ("p.tsv", "0\t0.5\t0.5\n", r"p.tsv:1: expected 4 tab-separated fields"),
    "unknown suffix": ("p.txt", "x", r"unknown prediction file type"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_predictions_one_line_exit_2_nothing_written(case, dataset, tmp_path, capsys):
    name, content, message = BAD[case]
    path = _write(tmp_path, name, content)
    out = tmp_path / "scores.json"
    code, _, err = run_cli(capsys, "score", str(dataset), path, "--out", str(out))
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert re.search(message, err), err
    assert "Traceback" not in err and not out.exists()


def test_sum_within_tolerance_is_accepted(dataset, tmp_path):
    preds = {**OK, "b": _entry([0.2, 0.3, 0.5000004])}
    assert score_file(str(dataset), _write(tmp_path, "p.json", preds)).table.iloc[0]["n"] == 6


def test_ids_and_model_names_are_printed_literally(dataset, tmp_path, capsys):
    preds = {"[bold]m:smile:": OK, "other": {**OK, "[/x]": _entry([0.2, 0.3, 0.5])}}
    code, _, err = run_cli(capsys, "score", str(dataset), _write(tmp_path, "p.json", preds))
    assert code == 2 and "item '[/x]'" in err  # the second model's unknown id, brackets kept
    code, out, _ = run_cli(capsys, "score", str(dataset), _write(tmp_path, "q.json", {"[bold]m:smile:": OK}))
    assert code == 0 and "[bold]m:smile:" in out and "😄" not in out


def test_read_predictions_library_api(tmp_path):
    path = _write(tmp_path, "p.json", {"m1": OK, "m2": {i: {"logits": [0.0, 0.0, 1.0]} for i in IDS}})
    pred = read_predictions(path, label_names=["entailment", "neutral", "contradiction"])
    assert pred.fmt == "chaosnli" and list(pred.models) == ["m1", "m2"]
    assert pred.models["m1"].predicted.tolist() == [2] * 6 and not pred.models["m1"].from_logits.any()
    assert pred.models["m2"].from_logits.all() and pred.models["m2"].values.shape == (6, 3)
