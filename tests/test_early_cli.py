"""Early warning in the user's hands: the training callback, `diagnose`, `flag`, `early fit|evaluate`.

One tiny diagnosis (a random 2-layer BERT, 48 items of a 3-class CSV made here, 2 epochs) is
trained once per module and reused: a second `diagnose` on the same folder reuses its runs.
"""

from __future__ import annotations

import csv
import json
import random

import numpy as np
import pandas as pd
import pytest

from cli_helpers import run_cli
from contested.dynamics import item_metrics
from contested.dynamics.early import RunData
from contested.dynamics.early_model import (
    default_predictor,
    fit_predictor,
    load_predictor,
    save_predictor,
)
from contested.dynamics.early_sim import simulate_planted
from contested.models import build_tiny_model_dir
from contested.rundir.layout import EARLY_WARNING
from contested.train.config import RunConfig
from contested.train.early_config import EarlyWarningConfig
from train_helpers import one_thread  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")

NAMES = ("positive", "negative", "neutral")
WORDS = "the cat dog runs sleeps big red man plays guitar outside happy sad".split()


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    root = tmp_path_factory.mktemp("early")
    build_tiny_model_dir("bert", root / "bert")
    # A short, relative model name: the report's forest figure squeezes its axes to nothing beside a
    # long /tmp/pytest-… path label (a matplotlib warning, an error under this suite's filters).
    patch = pytest.MonkeyPatch()
    patch.chdir(root)
    rng = random.Random(0)
    votes = root / "votes.csv"
    with votes.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text", *(f"count_{n}" for n in NAMES)])
        for i in range(48):
            a = rng.randint(0, 5)
            b = rng.randint(0, 5 - a)
            w.writerow([f"t{i}", " ".join(rng.choices(WORDS, k=rng.randint(3, 9))), a, b, 5 - a - b])
    yield {"root": root, "bert": "bert", "votes": votes}
    patch.undo()


def _diagnose_args(fx, out):
    return ["diagnose", fx["votes"], "--model", fx["bert"], "--epochs", "2", "--batch-size", "8", "--snapshots", "4",
            "--n-boot", "50", "--device", "cpu", "--out", out, "--quiet", "--top", "3"]


@pytest.fixture(scope="module")
def diagnosed(fixtures):
    from contested.experiments.diagnose import DiagnoseConfig, run_diagnose

    out = fixtures["root"] / "diag"
    config = DiagnoseConfig(model=str(fixtures["bert"]), epochs=2, batch_size=8, snapshots=4, n_boot=50,
                            device="cpu", out=str(out), top=3)
    return run_diagnose(str(fixtures["votes"]), config, progress=False)


def test_diagnose_end_to_end_writes_report_flags_and_early_warning(fixtures, diagnosed, capsys):
    out = diagnosed.out
    code, stdout, err = run_cli(capsys, *_diagnose_args(fixtures, out))  # reuses the finished runs
    assert code == 0, err
    assert "classes: positive, negative, neutral" in stdout and "report: " in stdout
    assert (out / "report" / "report.html").is_file() and (out / "analysis").is_dir()
    summary = pd.read_csv(out / "summary.csv")
    assert summary["method"].tolist() == ["lora", "full"] and (summary["n_tracked"] == 38).all()
    for method, run_dir in zip(("lora", "full"), diagnosed.run_dirs, strict=True):
        flagged = pd.read_csv(out / f"flagged-{method}.csv")
        assert set(flagged["label"]) <= set(NAMES) and flagged["votes"].str.contains("positive|negative|neutral").all()
        early = pd.read_parquet(run_dir / EARLY_WARNING)
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert metrics["label_names"] == list(NAMES)
        assert len(early) == 48 and early["risk"].between(0, 1).all()
        # Refreshed at every snapshot after the window: the last one is the final snapshot, and
        # delta_now there is the run's observed Δℓ.
        assert (early["step"] == metrics["snapshot_steps"][-1]).all()
        dyn = pd.read_parquet(run_dir / "dynamics.parquet")
        observed = item_metrics(dyn).set_index("item_id")["delta_loss"]
        np.testing.assert_allclose(early.set_index("item_id")["delta_now"], observed.loc[early["item_id"]], atol=1e-6)
        assert not list(run_dir.parent.glob(".*partial*"))  # built in a hidden folder, installed whole


@pytest.mark.parametrize(("name", "content", "message"), [
    ("empty.csv", "", "file is empty"),
    ("votes.txt", "id,text,label_counts\n", "unknown file type"),
    ("bad.jsonl", '{"id": "a", "text": "x", "label_counts": [1, 2]}\n{not json\n', "bad.jsonl:2"),
    ("one_class.csv", "id,text,count_yes,count_no\n" + "".join(f"i{i},t {i},3,0\n" for i in range(20)), "class"),
    ("missing.csv", None, "no such file"),
])
def test_diagnose_bad_files_are_one_line_errors_and_write_nothing(fixtures, tmp_path, capsys, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "diagnose", path, "--model", fixtures["bert"], "--out", out, "--quiet")
    assert code == 2 and stdout == "" and len(err.strip().splitlines()) == 1 and message in err, err
    assert not out.exists()


def test_flag_lists_risky_and_unlearnt_items_with_label_names(diagnosed, tmp_path, capsys):
    run_dir = diagnosed.run_dirs[0]
    out = tmp_path / "flagged.csv"
    code, stdout, err = run_cli(capsys, "flag", run_dir, "--top", "3", "--out", out)
    assert code == 0, err
    table = pd.read_csv(out)
    assert {"item_id", "premise", "label", "votes", "entropy", "risk", "delta_loss", "status"} <= set(table.columns)
    assert (table["status"].notna()).all() and table["risk"].is_monotonic_decreasing
    assert "un-learnt" in stdout and "early_warning.parquet" in err
    # A user predictor (fitted elsewhere) replaces the recorded risks.
    pred = fit_predictor(simulate_planted(300, n_runs=2, seed=1), window=0.2, description="planted test predictor")
    save_predictor(tmp_path / "p.json", pred)
    code, _, err = run_cli(capsys, "flag", run_dir, "--predictor", tmp_path / "p.json", "--all", "--threshold", "0.5")
    assert code == 0 and "planted test predictor" in err


def test_early_fit_and_evaluate_on_the_users_runs(diagnosed, tmp_path, capsys):
    runs_dir = diagnosed.run_dirs[0].parent
    code, _, err = run_cli(capsys, "early", "fit", runs_dir, "--window", "0.2,0.4", "--out", tmp_path / "p.json")
    assert code == 0, err
    pred = load_predictor(tmp_path / "p.json", window=0.4)
    assert set(pred.training_runs) == {p.name for p in diagnosed.run_dirs}
    code, _, err = run_cli(capsys, "early", "evaluate", runs_dir, "--window", "0.2", "--out", tmp_path / "ev")
    assert code == 0, err
    loro = pd.read_csv(tmp_path / "ev" / "early_loro.csv")
    assert set(loro["model"]) == {"predictor", "entropy", "loss0", "slope"} and (loro["held_out"] != loro["trained_on"]).all()
    assert (tmp_path / "ev" / "early_loro_auroc.png").is_file()
    assert "| 20 | early-warning predictor |" in (tmp_path / "ev" / "early_loro_summary.md").read_text()
    # Transfer: fitted on the LoRA run, scored on the full-FT run, at the default windows.
    lora, full = diagnosed.run_dirs
    code, _, err = run_cli(capsys, "early", "evaluate", lora, "--test", full, "--out", tmp_path / "tr")
    assert code == 0, err
    transfer = pd.read_csv(tmp_path / "tr" / "early_transfer.csv", dtype=str)
    assert set(transfer["held_out"]) == {full.name} and set(transfer["trained_on"]) == {lora.name}
    assert sorted(set(transfer["window"].astype(float))) == [0.05, 0.1, 0.2, 0.4]
    roles = pd.read_csv(tmp_path / "tr" / "early_runs.csv", dtype=str).set_index("run_id")["role"]
    assert roles.to_dict() == {lora.name: "train", full.name: "test"}
    assert (tmp_path / "tr" / "early_transfer_auroc.png").is_file()
    code, _, err = run_cli(capsys, "early", "fit", runs_dir, "--window", "1.5", "--out", tmp_path / "q.json")
    assert code == 2 and "window" in err and not (tmp_path / "q.json").exists()


def test_callback_waits_for_the_window_then_refreshes_at_each_snapshot(tmp_path):
    from contested.train.early_warning import COLUMNS, EarlyWarningCallback
    from contested.train.recorder import DynamicsRecorder

    run = simulate_planted(40, n_runs=1, total_steps=100, snapshot_every=10, inflight=False)[0]
    rec = DynamicsRecorder(run_id="cb")
    cb = EarlyWarningCallback(rec, EarlyWarningConfig(warning=True, window=0.2), out_dir=tmp_path)
    dyn = run.dynamics
    for step in sorted(dyn["step"].unique()):
        rows = dyn[dyn["step"] == step]
        rec.update(rows["item_id"], np.stack([np.asarray(v) for v in rows["logits"]]), rows["label_used"], step=step,
                   epoch=step / 20, progress=step / 100, measurement="snapshot", split="tracked")
        cb.refresh(100)
        assert (tmp_path / EARLY_WARNING).is_file() == (step >= 20)
    table = pd.read_parquet(tmp_path / EARLY_WARNING)
    assert list(table.columns) == list(COLUMNS) and (table["step"] == 100).all()
    assert cb.steps_ == list(range(20, 101, 10))
    ref = default_predictor(0.2)
    early = RunData("cb", dyn[dyn["progress"] <= 0.2])
    from contested.dynamics.early_model import predict_risk

    expected = predict_risk(early, ref).set_index("item_id")["risk"]
    np.testing.assert_allclose(table.set_index("item_id")["risk"], expected.loc[table["item_id"]], rtol=1e-5)


@pytest.mark.skipif("early_warning" not in RunConfig.__dataclass_fields__,
                    reason="RunConfig.early_warning not declared yet (train/config.py)")
def test_train_flag_early_warning(fixtures, tmp_path, capsys):
    from test_train_cli import SMALL

    runs = tmp_path / "runs"
    code, _, err = run_cli(capsys, "train", "--model", fixtures["bert"], *SMALL, "--runs-dir", runs, "--early-window", "0.3",
                        "--early-warning")
    assert code == 2 and "early_warning.window (--early-window)" in err and not runs.exists()
    code, out, err = run_cli(capsys, "train", "--model", fixtures["bert"], *SMALL, "--runs-dir", runs, "--early-warning")
    assert code == 0, err
    run_dir = runs / out.strip().rsplit("/", 1)[-1]
    assert (run_dir / EARLY_WARNING).is_file() and "at risk" in err
    assert "early_warning" not in RunConfig()._digest_dict()  # off: run ids of older runs are unchanged
