"""The run-directory contract (contested.rundir): names, atomic install, run state, reading a run.

Real files in tmp_path, no training: the writer side is :func:`building` plus the constants, the
reader side is ``contested.report.runs.load_run`` and the run state functions.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from contested import rundir
from contested.errors import ContestedError
from contested.io import write_json, write_table
from contested.report.runs import find_runs, load_run
from contested.rundir.layout import (
    DONE,
    ERROR,
    building,
    clear_unfinished,
    find_finished,
    is_finished,
)
from contested.rundir.reading import read_config, read_json, recorded_config
from contested.rundir.state import (
    RunState,
    Status,
    count_states,
    plan_states,
    read_error,
    run_state,
    write_error,
)

SRC = Path(__file__).resolve().parents[1] / "src" / "contested"


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write_tiny_run(d: Path, run_id: str = "abc123") -> None:
    """Every file a finished run has, written by hand through the module's names."""
    items = pd.DataFrame({"item_id": ["a", "b", "c"], "split": ["tracked", "tracked", "validation"],
                          "training_label": [0, 1, 1]})
    dyn = pd.DataFrame({"run_id": [run_id] * 3, "item_id": ["a", "b", "c"], "step": [0, 0, 0],
                        "loss": np.array([0.1, 0.2, 0.3], dtype="float32"),
                        "logits": [[0.1, 0.9], [0.3, 0.7], [0.5, 0.5]]})
    write_table(items, d / rundir.ITEMS)
    write_table(dyn, d / rundir.DYNAMICS)
    write_table(pd.DataFrame({"item_id": pd.Series(dtype=str)}), d / rundir.NOISE)
    write_json(d / rundir.CONFIG, {"model": "m", "method": {"method": "lora", "rank": 4},
                                   "data": {"dataset": "d", "training_label": "majority"}, "train": {"seed": 3}})
    write_json(d / rundir.ENV, {"run_id": run_id})
    write_json(d / rundir.METRICS, {"run_id": run_id, "label_names": ["no", "yes"], "final": None})


def test_file_names_are_the_on_disk_contract():
    assert (rundir.CONFIG, rundir.ENV, rundir.ITEMS, rundir.DYNAMICS, rundir.NOISE, rundir.METRICS) == (
        "config.json", "env.json", "items.parquet", "dynamics.parquet", "noise.parquet", "metrics.json")
    assert (DONE, ERROR, rundir.MANIFEST_DIR) == ("DONE", "ERROR", "sweeps")
    assert rundir.RUN_FILES == ("config.json", "env.json", "items.parquet", "dynamics.parquet", "metrics.json")


def test_building_installs_the_whole_directory_at_once(tmp_path):
    runs = tmp_path / "runs"
    with building(runs, "abc") as tmp:
        assert tmp == runs / f".abc.partial-{os.getpid()}" and tmp.is_dir()
        (tmp / "x.txt").write_text("x")
        # nothing visible under the final name, and the build folder is not a finished run
        assert not (runs / "abc").exists() and not is_finished(tmp)
        assert find_finished(runs) == []
    assert sorted(p.name for p in (runs / "abc").iterdir()) == ["DONE", "x.txt"]
    assert (runs / "abc" / DONE).read_text() == "" and is_finished(runs / "abc")
    assert [p.name for p in runs.iterdir()] == ["abc"]  # no partial or old folder left


def test_building_replaces_a_finished_run_only_when_the_new_one_completes(tmp_path):
    with building(tmp_path, "abc") as tmp:
        (tmp / "v").write_text("1")
    with pytest.raises(RuntimeError, match="boom"), building(tmp_path, "abc") as tmp:
        (tmp / "v").write_text("2")
        raise RuntimeError("boom")
    assert (tmp_path / "abc" / "v").read_text() == "1" and is_finished(tmp_path / "abc")
    with building(tmp_path, "abc") as tmp:
        (tmp / "v").write_text("3")
    assert (tmp_path / "abc" / "v").read_text() == "3"
    assert [p.name for p in tmp_path.iterdir()] == ["abc"]


def test_a_raised_exception_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt), building(tmp_path, "abc") as tmp:
        (tmp / "half.parquet").write_text("half")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    assert run_state(tmp_path, "abc") == RunState("abc", Status.PENDING)


def test_clear_unfinished_removes_dead_leftovers_only(tmp_path):
    (tmp_path / "abc").mkdir()
    (tmp_path / "abc" / rundir.DYNAMICS).write_text("half")  # an old-layout dir without DONE
    dead = tmp_path / f".abc.partial-{_dead_pid()}"
    alive = tmp_path / ".abc.partial-1"  # pid 1 always exists
    odd = tmp_path / ".abc.partial-notapid"
    for d in (dead, alive, odd):
        d.mkdir()
    assert sorted(clear_unfinished(tmp_path, "abc")) == sorted([tmp_path / "abc", dead])
    assert alive.is_dir() and odd.is_dir() and not (tmp_path / "abc").exists()
    (tmp_path / "abc").mkdir()
    (tmp_path / "abc" / DONE).write_text("")
    assert clear_unfinished(tmp_path, "abc") == [] and is_finished(tmp_path / "abc")


def test_run_state_done_failed_pending(tmp_path):
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / DONE).write_text("")
    err = write_error(tmp_path, "failed", ValueError("bad\n  thing"), label="L", config={"model": "m"})
    assert err == tmp_path / "failed" / ERROR and not is_finished(tmp_path / "failed")
    record = read_error(tmp_path / "failed")
    assert record["error"] == "ValueError: bad thing" and record["label"] == "L"
    assert record["type"] == "builtins.ValueError" and "ValueError: bad" in record["traceback"]
    (tmp_path / "garbled").mkdir()
    (tmp_path / "garbled" / ERROR).write_text("{not json")
    (tmp_path / "listy").mkdir()
    (tmp_path / "listy" / ERROR).write_text('["x"]')
    (tmp_path / "crashed").mkdir()
    (tmp_path / "crashed" / rundir.CONFIG).write_text("{}")
    states = plan_states(["done", "failed", "garbled", "listy", "crashed", "never"], runs_dir=tmp_path)
    assert states[0] == RunState("done", Status.DONE)
    assert states[1] == RunState("failed", Status.FAILED, "ValueError: bad thing")
    assert states[2].status is Status.FAILED and states[2].error.startswith("unreadable ERROR file at ")
    assert states[3] == RunState("listy", Status.FAILED, "['x']")
    assert [s.status for s in states[4:]] == [Status.PENDING, Status.PENDING]
    assert count_states(states) == {"done": 1, "pending": 2, "failed": 3}
    assert count_states([]) == {"done": 0, "pending": 0, "failed": 0}
    # a failed forced rerun never marks a finished run as failed
    assert write_error(tmp_path, "done", RuntimeError("x")) is None
    assert not (tmp_path / "done" / ERROR).exists()


def test_find_finished_skips_hidden_folders(tmp_path):
    for d in ("a", "deep/b", ".a.partial-1", ".hidden/c", "unfinished"):
        (tmp_path / d).mkdir(parents=True)
    for d in ("a", "deep/b", ".a.partial-1", ".hidden/c"):
        (tmp_path / d / DONE).write_text("")
    (tmp_path / "d_is_a_dir" / DONE).mkdir(parents=True)
    assert find_finished(tmp_path) == [tmp_path / "a", tmp_path / "deep" / "b"]
    assert find_finished(tmp_path / "a") == [tmp_path / "a"]


def test_read_json_and_config(tmp_path):
    with pytest.raises(ContestedError, match=r"config.json: missing"):
        read_config(tmp_path)
    (tmp_path / rundir.CONFIG).write_text('{"a": 1,\n oops}')
    with pytest.raises(ContestedError, match=r"config.json:2: not valid JSON"):
        read_config(tmp_path)
    (tmp_path / rundir.ENV).write_text("[1]")
    with pytest.raises(ContestedError, match=r"env.json: expected a JSON object"):
        read_json(tmp_path, rundir.ENV)
    # recorded_config never raises: config.json, else the ERROR record's config, else {}
    assert recorded_config(tmp_path) == {}
    write_error(tmp_path.parent, tmp_path.name, RuntimeError("x"), config={"model": "from-error"})
    assert recorded_config(tmp_path) == {"model": "from-error"}
    (tmp_path / rundir.CONFIG).write_text('{"model": "m"}')
    assert recorded_config(tmp_path) == {"model": "m"} == read_config(tmp_path)


def test_a_run_built_through_the_contract_is_what_report_reads(tmp_path):
    with building(tmp_path / "runs", "abc123") as tmp:
        _write_tiny_run(tmp)
    (tmp_path / "runs" / ".zzz.partial-1").mkdir()  # another run still building
    [path] = find_runs([tmp_path / "runs"])
    run = load_run(path)
    assert run.run_id == "abc123" and run.env == {"run_id": "abc123"}
    assert run.items.attrs["label_names"] == ["no", "yes"] and len(run.dynamics) == 3
    assert run.condition["rank"] == 4 and run.condition["label_scheme"] == "majority"
    assert run_state(tmp_path / "runs", "abc123").status is Status.DONE
    (path / rundir.ENV).unlink()
    with pytest.raises(ContestedError, match=r"finished run lacks env.json"):
        load_run(path)


def _string_literals(path: Path) -> set[str]:
    return {n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)}


@pytest.mark.parametrize("module", ["train/pipeline.py", "report/runs.py", "experiments/manifest.py",
                                    "experiments/runner.py", "experiments/executors.py", "experiments/attempt.py"])
def test_writer_and_readers_spell_no_run_file_name_themselves(module):
    names = {*rundir.RUN_FILES, rundir.NOISE, DONE, ERROR, rundir.MANIFEST_DIR}
    assert not names & _string_literals(SRC / module)


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_rundir_and_report_import_no_layer_above_them():
    for path in sorted((SRC / "rundir").glob("*.py")):
        imported = {m for m in _imported_modules(path) if m.startswith("contested")}
        assert {m for m in imported if not m.startswith("contested.rundir.")} <= {
            "contested.errors", "contested.io", "contested._lazy"}, path.name
    for path in sorted((SRC / "report").glob("*.py")):
        upward = {m for m in _imported_modules(path)
                  if m.startswith(("contested.experiments", "contested.train", "contested.commands"))}
        assert not upward, f"{path.name} imports {upward}"


def test_the_contract_names_import_from_the_package():
    """``from contested.rundir import X`` (docs/ARCHITECTURE.md) works for every name of its modules."""
    assert {"DONE", "building", "run_state", "conditions", "outcome_marks"} <= set(rundir.__all__)
    for name in rundir.__all__:
        assert getattr(rundir, name) is not None


def test_reading_runs_needs_no_torch(tmp_path):
    code = ("import sys, contested.rundir, contested.report.runs; "
            "bad = [m for m in sys.modules if m == 'torch' or m.startswith(('contested.train', "
            "'contested.experiments'))]; print(json.dumps(bad))")
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout) == []


def test_mitigation_condition_names_each_training_loss_change():
    from contested.rundir.reading import conditions, mitigation

    assert mitigation({}) == "none" and conditions({})["mitigation"] == "none"  # runs from before mitigations
    assert mitigation({"data": {"training_label": "soft"}}) == "soft"
    assert mitigation({"data": {"training_label": "soft", "soft_bins": ["contested"]}}) == "soft[contested]"
    assert mitigation({"train": {"item_weighting": "entropy"}}) == "entropy-weighted"
    assert mitigation({"train": {"item_weighting": "bins", "bin_weights": [1, 1, 0.5],
                                 "label_smoothing": 0.1}}) == "bin-weighted[1,1,0.5]+ls0.1"
