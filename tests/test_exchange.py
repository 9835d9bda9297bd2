"""Exchange formats: Dataset Cartography's training dynamics (export and import) and cleanlab's inputs.

The cartography files are checked against the published format and metric definitions
(``allenai/cartography``: ``selection/selection_utils.py`` writes and reads
``training_dynamics/dynamics_epoch_{k}.jsonl`` with ``guid``, ``logits_epoch_{k}``, ``gold``;
``selection/train_dy_filtering.py`` computes confidence = mean and variability = ``np.std`` over
epochs of the softmax probability of ``gold``), re-implemented here with plain json + numpy.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cli_helpers import run_cli
from contested.cli import main
from contested.dynamics import item_metrics
from contested.dynamics.exchange import epoch_checkpoints, read_cartography
from contested.errors import ContestedError
from contested.models import build_tiny_model_dir
from contested.report.runs import load_run
from train_helpers import single_thread

TRAIN = ["--bulk", "24", "--max-tracked", "12", "--heldout", "10", "--batch-size", "8", "--epochs", "2",
         "--device", "cpu", "--snapshot-every", "2", "--quiet"]
SAME = ["aulc", "confidence", "variability", "correctness", "initial_loss", "final_loss", "delta_loss", "max_rise"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    """One real tiny run: 12 tracked + 3 validation ChaosNLI-SNLI items, 2 epochs, snapshots every 2 steps."""
    root = tmp_path_factory.mktemp("exchange")
    model = build_tiny_model_dir("bert", root / "bert")
    with single_thread(), pytest.raises(SystemExit) as done:
        main(["train", "--model", str(model), *TRAIN, "--data-dir", str(data_dir), "--runs-dir", str(root / "runs")])
    assert done.value.code in (0, None)
    (run,) = [p for p in (root / "runs").iterdir() if not p.name.startswith(".")]
    return run


def _recomputed(dyn: pd.DataFrame) -> pd.DataFrame:
    """The rows with loss / p_label / predicted recomputed in float64 from the stored logits."""
    z = np.stack([np.asarray(v, dtype=np.float64) for v in dyn["logits"]])
    gold = dyn["label_used"].to_numpy()
    lse = z.max(axis=1) + np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1))
    loss = lse - z[np.arange(len(z)), gold]
    return dyn.assign(loss=loss, p_label=np.exp(-loss), predicted=z.argmax(axis=1))


def _metrics(dyn: pd.DataFrame) -> pd.DataFrame:
    return item_metrics(dyn).set_index("item_id").sort_index()


@pytest.mark.parametrize("all_snapshots", [False, True])
def test_round_trip_reproduces_the_metrics(trained, tmp_path, capsys, data_dir, all_snapshots):
    flag = ["--all-snapshots"] if all_snapshots else []
    code, out, err = run_cli(capsys, "export", "cartography", trained, "--out", tmp_path / "cart", *flag)
    assert code == 0 and err == "" and "tracked items" in out
    code, out, _ = run_cli(capsys, "import", "cartography", tmp_path / "cart", "--out", tmp_path / "runs",
                        "--dataset", "chaosnli-snli", "--data-dir", data_dir)
    assert code == 0 and "12 items x" in out
    (imported,) = [p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]
    original, copy = load_run(trained), load_run(imported)

    dyn = original.dynamics
    snap = dyn[(dyn["measurement"] == "snapshot") & (dyn["split"] == "tracked")]
    steps = sorted(snap["step"].unique()) if all_snapshots else [
        e["step"] for e in original.metrics["epochs"]]  # the training layer's own epoch ends
    assert list(epoch_checkpoints(dyn, all_snapshots=all_snapshots)["step"]) == steps
    assert copy.dynamics["step"].nunique() == len(steps) == (7 if all_snapshots else 2)
    exported = snap[snap["step"].isin(steps)]

    ours, theirs = _metrics(copy.dynamics), _metrics(_recomputed(exported))
    assert list(ours.index) == list(theirs.index) and len(ours) == 12
    # The logits travel exactly: every metric of the same checkpoints agrees to rounding.
    for col in [*SAME, *([] if all_snapshots else ["aulc_trapz"])]:
        np.testing.assert_allclose(ours[col], theirs[col], rtol=0, atol=1e-9, err_msg=col)
    assert (ours["forgetting_events"] == theirs["forgetting_events"]).all()
    # Against the run's own float32 losses: equal to float32 precision.
    stored = _metrics(exported)
    for col in ("aulc", "confidence", "variability"):
        np.testing.assert_allclose(ours[col], stored[col], rtol=0, atol=2e-6, err_msg=col)
    # The annotation entropy and bins come from the dataset, joined on guid = item id.
    items = original.items.set_index("item_id").loc[ours.index]
    got = copy.items.set_index("item_id").loc[ours.index]
    np.testing.assert_allclose(got["entropy"], items["entropy"], rtol=0, atol=0)
    assert (got["bin"].astype(str) == items["bin"].astype(str)).all()
    assert copy.config["model"] == "imported:cartography" and copy.condition["method"] == "unknown"
    assert copy.metrics["label_names"] == ["entailment", "neutral", "contradiction"]


def test_files_follow_cartography_and_its_metrics_equal_ours(trained, tmp_path, capsys, data_dir):
    run_cli(capsys, "export", "cartography", trained, "--out", tmp_path / "cart")
    folder = tmp_path / "cart" / "training_dynamics"
    # Their reader counts every file in training_dynamics/ as an epoch: nothing else may be there.
    assert sorted(p.name for p in folder.iterdir()) == ["dynamics_epoch_0.jsonl", "dynamics_epoch_1.jsonl"]
    trend: dict[str, list[float]] = {}
    for k in range(2):
        for line in (folder / f"dynamics_epoch_{k}.jsonl").read_text().splitlines():
            record = json.loads(line)
            assert set(record) == {"guid", f"logits_epoch_{k}", "gold"}
            logits = np.asarray(record[f"logits_epoch_{k}"], dtype=np.float64)
            probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
            trend.setdefault(record["guid"], []).append(probs[record["gold"]])
    confidence = {g: np.mean(t) for g, t in trend.items()}
    variability = {g: np.std(t) for g, t in trend.items()}  # np.std: population std, as theirs

    run_cli(capsys, "import", "cartography", tmp_path / "cart", "--out", tmp_path / "runs")
    (imported,) = [p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]
    ours = _metrics(load_run(imported).dynamics)
    assert sorted(ours.index) == sorted(trend)
    np.testing.assert_allclose(ours["confidence"], [confidence[g] for g in ours.index], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours["variability"], [variability[g] for g in ours.index], rtol=0, atol=1e-12)
    # The exported epochs are the epoch-end snapshots, logits bit for bit.
    run = load_run(trained)
    snap = run.dynamics[(run.dynamics["measurement"] == "snapshot") & (run.dynamics["step"] == 10)]
    row = snap[snap["split"] == "tracked"].iloc[0]
    record = next(json.loads(x) for x in (folder / "dynamics_epoch_1.jsonl").read_text().splitlines()
                  if json.loads(x)["guid"] == row["item_id"])
    assert np.array_equal(np.float32(record["logits_epoch_1"]), np.asarray(row["logits"], dtype=np.float32))
    assert record["gold"] == row["label_used"]


def test_integer_guids_and_a_model_dir_import(tmp_path, capsys):
    """Their own sample files: integer guids, floats as pandas writes them, the model directory given."""
    folder = tmp_path / "model" / "training_dynamics"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    guids, gold = [4734364254410, 1355224458312, 13042995210], [0, 1, 2]
    logits = rng.normal(size=(3, 3, 3))
    for k in range(3):
        folder.joinpath(f"dynamics_epoch_{k}.jsonl").write_text("".join(
            json.dumps({"guid": g, f"logits_epoch_{k}": list(logits[k, i]), "gold": gold[i]}) + "\n"
            for i, g in enumerate(guids)))
    code, out, _ = run_cli(capsys, "import", "cartography", tmp_path / "model", "--out", tmp_path / "runs")
    assert code == 0 and "3 items x 3 epochs" in out and "no --dataset" in out
    (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]
    run = load_run(run_dir)
    m = _metrics(run.dynamics)
    assert list(m.index) == sorted(str(g) for g in guids)
    p = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)  # epoch × item × class
    p_gold = p[:, np.arange(3), gold]
    expected = pd.Series(p_gold.mean(axis=0), index=[str(g) for g in guids]).loc[m.index]
    np.testing.assert_allclose(m["confidence"], expected, atol=1e-12)
    assert run.env["imported"]["guid_types"] == ["int"]
    # Without entropy `contested analyze` stops with one line naming the run.
    code, out, err = run_cli(capsys, "analyze", run_dir, "--out", tmp_path / "analysis", "--n-boot", "0")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no annotation entropy" in err
    assert str(run_dir) in err and not (tmp_path / "analysis").exists()
    # The same files again: refused without --force, replaced with it.
    code, _, err = run_cli(capsys, "import", "cartography", tmp_path / "model", "--out", tmp_path / "runs")
    assert code == 2 and "--force" in err
    code, _, _ = run_cli(capsys, "import", "cartography", tmp_path / "model", "--out", tmp_path / "runs", "--force")
    assert code == 0


GOOD = [{"guid": "a", "logits": [0.1, 0.2, 0.3], "gold": 0}, {"guid": "b", "logits": [1.0, -1.0, 0.0], "gold": 2}]


def _lines(k: int, records=GOOD) -> str:
    return "".join(json.dumps({"guid": r["guid"], f"logits_epoch_{k}": r["logits"], "gold": r["gold"]}) + "\n"
                   for r in records)


def test_guids_may_hold_line_separators_that_json_allows_in_strings(tmp_path):
    """U+2028 (and U+0085, form feeds) inside a JSON string is no line end: line numbers stay right."""
    folder = tmp_path / "training_dynamics"
    folder.mkdir()
    records = [{**GOOD[0], "guid": "a\u2028x"}, GOOD[1]]
    for k in range(2):
        text = "".join(json.dumps({"guid": r["guid"], f"logits_epoch_{k}": r["logits"], "gold": r["gold"]},
                                  ensure_ascii=False) + "\n" for r in records)
        (folder / f"dynamics_epoch_{k}.jsonl").write_text(text, encoding="utf-8")
    assert list(read_cartography(tmp_path).guids) == ["a\u2028x", "b"]


def _drop(k: int, key: str) -> str:
    first, second = GOOD
    record = {"guid": second["guid"], f"logits_epoch_{k}": second["logits"], "gold": second["gold"]}
    del record[key if key != "logits" else f"logits_epoch_{k}"]
    return _lines(k, [first]) + json.dumps(record) + "\n"


def _with(k: int, **changes) -> str:
    return _lines(k, [GOOD[0], {**GOOD[1], **changes}])


# name → (files {name: text}, the file named, its line, the field named)
MALFORMED = {
    "missing guid": ({"dynamics_epoch_0.jsonl": _drop(0, "guid")}, "dynamics_epoch_0.jsonl", 2, "guid"),
    "missing logits": ({"dynamics_epoch_0.jsonl": _lines(0), "dynamics_epoch_1.jsonl": _drop(1, "logits")},
                       "dynamics_epoch_1.jsonl", 2, "logits_epoch_1"),
    "missing gold": ({"dynamics_epoch_0.jsonl": _drop(0, "gold")}, "dynamics_epoch_0.jsonl", 2, "gold"),
    "non-numeric logits": ({"dynamics_epoch_0.jsonl": _with(0, logits=[0.1, "x", 0.3])},
                           "dynamics_epoch_0.jsonl", 2, "logits_epoch_0"),
    "NaN logit": ({"dynamics_epoch_0.jsonl": _lines(0).replace("1.0, -1.0", "NaN, -1.0")},
                  "dynamics_epoch_0.jsonl", 2, "logits_epoch_0"),
    "lengths differ": ({"dynamics_epoch_0.jsonl": _with(0, logits=[0.1, 0.2])}, "dynamics_epoch_0.jsonl", 2,
                       "logits_epoch_0"),
    "lengths differ across epochs": ({"dynamics_epoch_0.jsonl": _lines(0),
                                      "dynamics_epoch_1.jsonl": _with(1, logits=[0.1, 0.2, 0.3, 0.4])},
                                     "dynamics_epoch_1.jsonl", 2, "logits_epoch_1"),
    "gold out of range": ({"dynamics_epoch_0.jsonl": _with(0, gold=3)}, "dynamics_epoch_0.jsonl", 2, "gold"),
    "gold not an integer": ({"dynamics_epoch_0.jsonl": _with(0, gold="2")}, "dynamics_epoch_0.jsonl", 2, "gold"),
    "gold changes": ({"dynamics_epoch_0.jsonl": _lines(0), "dynamics_epoch_1.jsonl": _with(1, gold=1)},
                     "dynamics_epoch_1.jsonl", 2, "gold"),
    "guid a float": ({"dynamics_epoch_0.jsonl": _with(0, guid=1.5)}, "dynamics_epoch_0.jsonl", 2, "guid"),
    "guid twice": ({"dynamics_epoch_0.jsonl": _with(0, guid="a")}, "dynamics_epoch_0.jsonl", 2, "guid"),
    "guid missing in an epoch": ({"dynamics_epoch_0.jsonl": _lines(0), "dynamics_epoch_1.jsonl": _lines(1, GOOD[:1])},
                                 "dynamics_epoch_1.jsonl", None, "guid"),
    "guid added in an epoch": ({"dynamics_epoch_0.jsonl": _lines(0, GOOD[:1]), "dynamics_epoch_1.jsonl": _lines(1)},
                               "dynamics_epoch_1.jsonl", 2, "guid"),
    "bad JSON line": ({"dynamics_epoch_0.jsonl": _lines(0) + '{"guid": "c", "logits_epoch_0": [1, 2\n'},
                      "dynamics_epoch_0.jsonl", 3, None),
    "not an object": ({"dynamics_epoch_0.jsonl": "[1, 2, 3]\n"}, "dynamics_epoch_0.jsonl", 1, None),
    "empty file": ({"dynamics_epoch_0.jsonl": "\n"}, "dynamics_epoch_0.jsonl", None, None),
    "gap in epochs": ({"dynamics_epoch_0.jsonl": _lines(0), "dynamics_epoch_2.jsonl": _lines(2)},
                      "dynamics_epoch_1.jsonl", None, None),
    "no epoch files": ({"notes.txt": "hello\n", "td_metrics.jsonl": "{}\n"}, "training_dynamics", None, None),
    "empty dir": ({}, "training_dynamics", None, None),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_input_is_one_line_naming_file_line_field(case, tmp_path, capsys):
    files, named, line, field = MALFORMED[case]
    folder = tmp_path / "model" / "training_dynamics"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    runs = tmp_path / "runs"
    code, out, err = run_cli(capsys, "import", "cartography", tmp_path / "model", "--out", runs)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    where = str(folder / named) if named != "training_dynamics" else str(folder)
    assert f"error: {where}" + (f":{line}:" if line else ":") in err, err
    if field:
        assert f"field '{field}'" in err, err
    assert not runs.exists()


def test_unknown_guids_for_the_dataset_write_nothing(tmp_path, capsys, data_dir):
    folder = tmp_path / "td"
    folder.mkdir()
    (folder / "dynamics_epoch_0.jsonl").write_text(_lines(0))
    code, _, err = run_cli(capsys, "import", "cartography", folder, "--out", tmp_path / "runs", "--dataset",
                        "chaosnli-snli", "--data-dir", data_dir)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "2 of 2 guids are not its item ids" in err and not (tmp_path / "runs").exists()


def test_an_export_needs_epoch_end_snapshots_or_all_snapshots(trained):
    dyn = load_run(trained).dynamics
    mid_epoch = dyn[dyn["epoch"] % 1 != 0]
    with pytest.raises(ContestedError, match="--all-snapshots"):
        epoch_checkpoints(mid_epoch)
    assert list(epoch_checkpoints(mid_epoch, all_snapshots=True)["epoch_index"]) == [0, 1, 2, 3]


def test_export_does_not_overwrite_a_folder(trained, tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("x")
    code, _, err = run_cli(capsys, "export", "cartography", trained, "--out", tmp_path / "mine")
    assert code == 2 and "other files" in err and sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["keep.txt"]
    code, out, _ = run_cli(capsys, "export", "cartography", trained, "--out", tmp_path / "v", "--split", "validation")
    assert code == 0 and "3 validation items" in out
    code, _, err = run_cli(capsys, "export", "cartography", trained, "--out", tmp_path / "v")
    assert code == 2 and "--force" in err
    assert (tmp_path / "v" / "training_dynamics" / "dynamics_epoch_0.jsonl").read_text().count("\n") == 3
    code, _, _ = run_cli(capsys, "export", "cartography", trained, "--out", tmp_path / "v", "--force")
    assert (tmp_path / "v" / "training_dynamics" / "dynamics_epoch_0.jsonl").read_text().count("\n") == 12
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_cleanlab_export(trained, tmp_path, capsys):
    code, out, err = run_cli(capsys, "export", "cleanlab", trained, "--out", tmp_path / "cl")
    assert code == 0 and err == "" and "per-annotator labels are not available" in out
    index = json.loads((tmp_path / "cl" / "contested_export.json").read_text())
    probs = np.load(tmp_path / "cl" / "pred_probs.npy")
    counts = np.load(tmp_path / "cl" / "label_counts.npy")
    labels = np.load(tmp_path / "cl" / "labels.npy")
    run = load_run(trained)
    final = run.dynamics[(run.dynamics["measurement"] == "snapshot") & (run.dynamics["step"] == 10)]
    assert index["item_ids"] == sorted(final["item_id"]) and len(index["item_ids"]) == 15
    assert probs.shape == (15, 3) and counts.shape == (15, 3) and labels.shape == (15,)
    assert index["files"]["pred_probs.npy"]["shape"] == [15, 3] and index["checkpoint"]["steps"] == [10]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    by_id = final.set_index("item_id")
    items = run.items.set_index("item_id")
    for row, item in enumerate(index["item_ids"]):  # rows in the index's order
        z = np.asarray(by_id.loc[item, "logits"], dtype=np.float64)
        np.testing.assert_allclose(probs[row], np.exp(z) / np.exp(z).sum(), atol=1e-12)
        assert list(counts[row]) == list(items.loc[item, "label_counts"])
        assert labels[row] == items.loc[item, "training_label"]
    assert index["per_annotator_labels"] is False and index["labels_multiannotator"] is None
    assert index["label_names"] == ["entailment", "neutral", "contradiction"] and index["trained_on"] is True
    code, _, _ = run_cli(capsys, "export", "cleanlab", trained, "--out", tmp_path / "val", "--split", "validation")
    assert json.loads((tmp_path / "val" / "contested_export.json").read_text())["trained_on"] is False


def test_cleanlab_accepts_the_files(trained, tmp_path, capsys):
    cleanlab_multiannotator = pytest.importorskip("cleanlab.multiannotator")
    from cleanlab.filter import find_label_issues

    run_cli(capsys, "export", "cleanlab", trained, "--out", tmp_path / "cl")
    probs = np.load(tmp_path / "cl" / "pred_probs.npy")
    labels = np.load(tmp_path / "cl" / "labels.npy")
    counts = np.load(tmp_path / "cl" / "label_counts.npy")
    assert len(find_label_issues(labels, probs)) == len(labels)
    # docs/exchange.md's recipe: anonymous vote slots as pseudo-annotators (their quality is meaningless).
    slots = np.full((len(counts), counts.sum(axis=1).max()), np.nan)
    for i, row in enumerate(counts):
        votes = np.repeat(np.arange(len(row)), row)
        slots[i, :len(votes)] = votes
    result = cleanlab_multiannotator.get_label_quality_multiannotator(slots, probs)
    assert len(result["label_quality"]) == len(counts)


def test_analyze_reads_an_imported_run(trained, tmp_path, capsys, data_dir):
    """`contested analyze` on an imported run (no LoRA rank, no validation items)."""
    run_cli(capsys, "export", "cartography", trained, "--out", tmp_path / "cart")
    run_cli(capsys, "import", "cartography", tmp_path / "cart", "--out", tmp_path / "runs", "--dataset",
         "chaosnli-snli", "--data-dir", data_dir)
    (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]
    from contested.report.analysis import analyze
    from contested.report.runs import load_runs, runs_table
    from contested.report.tables import rho_table
    from contested.stats import run_statistics

    runs = load_runs([run_dir])
    table = runs_table(runs)
    assert table["rank"].isna().all() and table["method"].tolist() == ["unknown"]
    metrics = item_metrics(runs[0].dynamics, runs[0].items).merge(table[["run_id", "model", "method", "rank",
                                                                         "dataset", "seed"]], on="run_id")
    stats = run_statistics(metrics, metric="aulc", n_boot=0, conditions=table)
    assert len(rho_table(stats, table, metric="aulc").data) == 1  # an all-missing rank merges (was a ValueError)
    analysis = analyze(runs, n_boot=0)  # an import has tracked items only: no validation fit table
    assert len(analysis.headline()) == 12
    assert not any(t.name == "table_annotator_fit" for t in analysis.tables)
