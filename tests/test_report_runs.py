"""Run-directory discovery and loading: finished runs only, one-line errors for damaged ones."""

from __future__ import annotations

import pandas as pd
import pytest

import report_synth as rs
from contested.errors import ContestedError
from contested.report.runs import find_runs, load_run, load_runs, run_condition, runs_table


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    table = rs.items(60)
    rs.fake_run_dir(root / "sweep", table, method="lora", rank=4, seed=1)
    rs.fake_run_dir(root / "sweep" / "nested", table, method="full", seed=1)
    return root


def test_find_runs_recurses_and_skips_unfinished_and_hidden(runs_root, tmp_path):
    found = find_runs([runs_root])
    assert [p.name for p in found] == ["sim-model-full-s1-n0", "sim-model-lora4-s1-n0"]
    # a run dir given directly, twice, counts once
    assert find_runs([found[0], found[0]]) == [found[0]]
    partial = tmp_path / ".abc.partial-123"
    partial.mkdir()
    (partial / "DONE").write_text("")
    (tmp_path / "crashed").mkdir()
    (tmp_path / "crashed" / "config.json").write_text("{}")
    with pytest.raises(ContestedError, match=r"no finished runs .* 1 run dir\(s\) without DONE"):
        find_runs([tmp_path])


def test_find_runs_errors_name_the_path(tmp_path):
    with pytest.raises(ContestedError, match=r"^.*/missing: does not exist"):
        find_runs([tmp_path / "missing"])
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(ContestedError, match="is not a directory"):
        find_runs([tmp_path / "f.txt"])
    with pytest.raises(ContestedError, match="no paths given"):
        find_runs([])


def test_load_run_reads_every_file(runs_root):
    run = load_run(find_runs([runs_root])[1])
    assert run.run_id == "sim-model-lora4-s1-n0"
    assert run.config["method"]["rank"] == 4 and run.env["git_commit"] == "abc123"
    assert set(run.items["split"]) == {"tracked", "validation"}
    assert run.items.attrs["label_names"] == rs.LABELS
    assert {"loss", "logits", "step", "measurement"} <= set(run.dynamics.columns)
    assert run.condition == {"model": "sim-model", "method": "lora", "rank": 4, "dataset": "simulated-snli",
                             "seed": 1, "label_scheme": "majority", "soft_labels": False, "noise_kind": None,
                             "noise_rate": 0.0, "mitigation": "none", "lr": 1e-3, "bulk": 2000, "epochs": 3}


def test_load_run_can_skip_the_logits_column(runs_root):
    path = find_runs([runs_root])[1]
    full, lean = load_run(path), load_run(path, logits=False)
    assert "logits" not in lean.dynamics.columns
    pd.testing.assert_frame_equal(full.dynamics.drop(columns="logits"), lean.dynamics)
    assert all("logits" not in r.dynamics.columns for r in load_runs([runs_root], logits=False))


def test_load_run_damaged_files(tmp_path):
    path = rs.fake_run_dir(tmp_path, rs.items(30), seed=7)
    (path / "metrics.json").write_text('{"a": 1,\n  oops}')
    with pytest.raises(ContestedError, match=r"metrics.json:2: not valid JSON"):
        load_run(path)
    (path / "env.json").unlink()
    with pytest.raises(ContestedError, match=r"finished run lacks env.json; rerun it"):
        load_run(path)
    (path / "DONE").unlink()
    with pytest.raises(ContestedError, match="not a finished run"):
        load_run(path)


def test_load_runs_rejects_the_same_run_twice(tmp_path):
    table = rs.items(30)
    rs.fake_run_dir(tmp_path / "a", table, seed=3)
    rs.fake_run_dir(tmp_path / "b", table, seed=3)
    with pytest.raises(ContestedError, match="same run_id sim-model-lora4-s3-n0"):
        load_runs([tmp_path])


def test_runs_table_accuracy_and_majority_rate(runs_root):
    runs = load_runs([runs_root])
    table = runs_table(runs)
    assert list(table["method"]) == ["lora", "full"]  # LoRA before full FT
    assert pd.isna(table.loc[1, "rank"])
    run = runs[0] if runs[0].run_id == table.loc[0, "run_id"] else runs[1]
    val = run.items[run.items["split"] == "validation"]["training_label"]
    assert table.loc[0, "majority_rate"] == pytest.approx(val.value_counts(normalize=True).max())
    assert table.loc[0, "val_accuracy"] == pytest.approx(run.metrics["final"]["val_accuracy"])
    assert table.loc[0, "n_tracked"] + table.loc[0, "n_validation"] == 60


def test_run_condition_rank_only_for_lora():
    cfg = rs.run_config(model="x", method="full", rank=8, seed=2)
    assert run_condition(cfg)["rank"] is None
    assert run_condition({})["noise_rate"] == 0.0
    noisy = rs.run_config(model="x", method="lora", rank=4, seed=2, noise_rate=0.3)
    assert run_condition(noisy)["noise_rate"] == 0.3 and run_condition(noisy)["noise_kind"] == "symmetric"


def test_analyze_without_bootstrap_still_reports_every_condition(tmp_path):
    from contested.report.analysis import analyze

    rs.sweep(tmp_path / "runs", n=80, seeds=(1, 2), ranks=(4,), full=True)
    analysis = analyze(load_runs(find_runs([tmp_path / "runs"]), logits=False), n_boot=0)
    assert len(analysis.conditions) == 2 and analysis.conditions["rho_pooled"].notna().all()
    assert analysis.conditions["kendalls_w"].notna().all()  # seed stability needs no resampling
    assert analysis.paired.empty  # a bootstrap comparison, not asked for
