"""`contested export chaosnli RUN`: ChaosNLI's prediction file from a run directory.

The export is scored twice: by an independent re-implementation of ChaosNLI's evaluation protocol
(written here from its published definition: ``easonnie/ChaosNLI`` ``src/evaluation/tools.py``) and
by ``contested score``; both must equal the run's own human-fit numbers.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

import chaosnli_reference
from cli_helpers import run_cli
from contested.dynamics.human_fit import chaosnli_scores
from contested.report.runs import load_run
from report_synth import fake_run_dir
from report_synth import items as synth_items

LETTER = {0: "e", 1: "n", 2: "c"}
NAMES = ("entailment", "neutral", "contradiction")


@pytest.fixture
def run_and_dataset(tmp_path):
    items = synth_items(90, seed=3)
    rng = np.random.default_rng(0)
    # The original (5-vote) gold label: mostly the majority, sometimes not.
    old = np.where(rng.random(90) < 0.8, items["majority_label"], (items["majority_label"] + 1) % 3)
    items["old_label"] = pd.array(old, dtype="Int64")
    run = fake_run_dir(tmp_path / "runs", items, seed=7, total_steps=300, epochs=3)
    counts = np.stack(items["label_counts"].to_numpy())
    dataset = tmp_path / "votes.csv"
    dataset.write_text("item_id,premise,hypothesis,count_entailment,count_neutral,count_contradiction,old_label\n" + "".join(
        f"{i},p,h,{c[0]},{c[1]},{c[2]},{NAMES[o]}\n" for i, c, o in zip(items["item_id"], counts, old, strict=True)))
    return run, dataset, items


def test_export_scores_like_chaosnli_and_like_the_run(run_and_dataset, tmp_path, capsys):
    run_dir, dataset, items = run_and_dataset
    exported = tmp_path / "preds.json"
    code, out, _ = run_cli(capsys, "export", "chaosnli", str(run_dir), "--out", str(exported), "--name", "my-lora")
    assert code == 0 and "wrote 90 predictions" in " ".join(out.split())
    preds = json.loads(exported.read_text())
    entry = preds["my-lora"]["sim-00"]
    assert set(entry) == {"uid", "predicted_probabilities", "predicted_label"}
    assert entry["uid"] == "sim-00" and entry["predicted_label"] in NAMES
    assert sum(entry["predicted_probabilities"]) == pytest.approx(1.0, abs=1e-12)

    run = load_run(run_dir, logits=True)
    own = chaosnli_scores(run.dynamics, run.items, split=None)
    own = own.loc[own["step"] == own["step"].max()].iloc[0]
    assert own["n"] == 90

    data = [{"uid": r.item_id, "label_dist": list(r.label_dist), "majority_label": LETTER[r.majority_label],
             "old_label": LETTER[int(r.old_label)]} for r in items.itertuples()]
    theirs = chaosnli_reference.evaluate(data, preds)["my-lora"]
    assert theirs["jsd"] == pytest.approx(own["jsd"], rel=1e-12)
    assert theirs["kl"] == pytest.approx(own["kl"], rel=1e-12)
    assert theirs["new_acc"] == pytest.approx(own["accuracy"])
    assert theirs["old_acc"] == pytest.approx(own["accuracy_old"])

    scores_file = tmp_path / "scores.json"
    code, _, _ = run_cli(capsys, "score", str(dataset), str(exported), "--out", str(scores_file))
    assert code == 0
    scored = json.loads(scores_file.read_text())["models"]["my-lora"]
    for col in ("jsd", "kl", "accuracy", "accuracy_old", "pred_entropy", "lewidi_ce", "f1_micro"):
        assert scored["overall"][col] == pytest.approx(own[col], rel=1e-12), col
    per_bin = chaosnli_scores(run.dynamics, run.items, split=None, by_bin=True)
    per_bin = per_bin.loc[per_bin["step"] == per_bin["step"].max()].set_index("bin")
    for name, row in scored["bins"].items():
        assert row["n"] == per_bin.loc[name, "n"]
        assert row["jsd"] == pytest.approx(per_bin.loc[name, "jsd"], rel=1e-12)
        assert row["kl"] == pytest.approx(per_bin.loc[name, "kl"], rel=1e-12)


def test_checkpoint_split_and_default_name(run_and_dataset, tmp_path, monkeypatch, capsys):
    run_dir, _, items = run_and_dataset
    monkeypatch.chdir(tmp_path)
    code, _, _ = run_cli(capsys, "export", "chaosnli", str(run_dir), "--checkpoint", "initial", "--split", "validation")
    assert code == 0
    run_id = load_run(run_dir).run_id
    preds = json.loads((tmp_path / f"{run_id}.chaosnli.json").read_text())[run_id]
    assert len(preds) == int((items["split"] == "validation").sum())
    run = load_run(run_dir, logits=True)
    initial = chaosnli_scores(run.dynamics, run.items)
    code, _, _ = run_cli(capsys, "export", "chaosnli", str(run_dir), "--checkpoint", "0", "--split", "validation",
                                 "--out", "step0.json")
    assert code == 0
    assert json.loads((tmp_path / "step0.json").read_text())[run_id] == preds
    assert initial.iloc[0]["step"] == 0


@pytest.mark.parametrize(("args", "message"), [
    (["--checkpoint", "12345"], r"--checkpoint 12345: 0 of 90 items have a snapshot at that step; recorded steps: 0, 100"),
    (["--checkpoint", "last"], r"--checkpoint 'last': use final, initial or an optimiser step"),
])
def test_bad_export_options_one_line_nothing_written(run_and_dataset, tmp_path, args, message, capsys):
    run_dir, _, _ = run_and_dataset
    out = tmp_path / "x.json"
    code, _, err = run_cli(capsys, "export", "chaosnli", str(run_dir), "--out", str(out), *args)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert re.search(message, err), err
    assert not out.exists()


def test_not_a_run_is_one_line(tmp_path, capsys):
    code, _, err = run_cli(capsys, "export", "chaosnli", str(tmp_path), "--out", str(tmp_path / "x.json"))
    assert code == 2 and "not a finished run" in err and len(err.strip().splitlines()) == 1
