"""Running sweeps of tiny real models: failures recorded, DONE skipped, kill + resume, Ray.

Every run trains a 2-layer BERT (``build_tiny_model_dir``) on 6 tracked ChaosNLI-SNLI items and
16 bulk SNLI items for 3 optimiser steps, with a snapshot after every step (~2-3 s on one thread).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from transformers import TrainerCallback
from typer.testing import CliRunner

from contested.cli import app
from contested.experiments import LocalExecutor, load_sweep, plan_sweep, run_sweep
from contested.rundir.state import read_error
from train_helpers import sigkill_when, single_thread, start_sweep, write_tiny_sweep


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run much faster on one thread than on two contended ones, and identically."""
    with single_thread():
        yield


def _sweep_file(path: Path, model: Path, data_dir: Path, *, broken: Path | None = None) -> Path:
    """Two seeds of a tiny LoRA run; with ``broken``, a run on a missing model goes first."""
    bad = f"    - {{label: broken, model: '{broken}', seed: 1}}\n" if broken else ""
    return write_tiny_sweep(path, model, data_dir, "  run:\n" + bad + "    - {label: s1, seed: 1}\n    - {label: s2, seed: 2}\n")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_bert_dir, data_dir):
    """The uninterrupted sweep, through the CLI: a broken run first, then two good ones."""
    root = tmp_path_factory.mktemp("reference")
    file = _sweep_file(root / "tiny.yaml", tiny_bert_dir, data_dir, broken=root / "no-such-model")
    result = CliRunner().invoke(app, ["sweep", str(file), "--runs-dir", str(root / "runs")])
    return file, root / "runs", result


def _dynamics(run_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(run_dir / "dynamics.parquet")


def test_failed_run_is_recorded_and_the_others_run(reference):
    file, runs_dir, result = reference
    assert result.exit_code == 1, result.output
    sweep = load_sweep(file, runs_dir=runs_dir)
    broken, s1, s2 = sweep.runs
    states = plan_sweep(sweep)
    assert [s.status.value for s in states] == ["failed", "done", "done"]
    error = read_error(runs_dir / broken.run_id)
    assert "unknown model" in error["error"] and error["label"] == "run=broken"
    assert error["config"]["model"].endswith("no-such-model") and "Traceback" in error["traceback"]
    assert not (runs_dir / broken.run_id / "DONE").exists()
    for run in (s1, s2):
        dyn = _dynamics(runs_dir / run.run_id)
        assert set(dyn["run_id"]) == {run.run_id}
        assert set(dyn["split"]) == {"tracked", "validation"} and dyn["step"].max() == 3
    assert "failed run=broken" in result.output.replace("\n", " ")


def test_rerun_skips_done_runs_and_retries_the_failed_one(reference):
    file, runs_dir, _ = reference
    sweep = load_sweep(file, runs_dir=runs_dir)
    stamps = {r.run_id: (runs_dir / r.run_id / "DONE").stat().st_mtime_ns for r in sweep.runs[1:]}
    seen = []
    result = run_sweep(sweep, on_start=lambda run: seen.append(run.label))
    assert seen == ["run=broken"] and [o.status for o in result.outcomes] == ["failed"]
    assert {r: (runs_dir / r / "DONE").stat().st_mtime_ns for r in stamps} == stamps
    dry = CliRunner().invoke(app, ["sweep", str(file), "--runs-dir", str(runs_dir), "--dry-run"])
    assert dry.exit_code == 0 and "2 done, 0 pending, 1 failed; would run 1" in dry.output
    assert "unknown model" in dry.output


class _InterruptAt(TrainerCallback):
    """Ctrl-C in the middle of the ``run``-th training of this process (after ``step`` steps)."""

    def __init__(self, *, run: int, step: int) -> None:
        self.run, self.step, self.started = run, step, 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.started += 1

    def on_step_end(self, args, state, control, **kwargs):
        if self.started == self.run and state.global_step == self.step:
            raise KeyboardInterrupt


def _assert_same_as_reference(runs_dir: Path, reference_dir: Path, run_ids: list[str]) -> None:
    """Exactly the expected finished run dirs, no leftovers, and dynamics equal to the reference."""
    assert sorted(p.name for p in runs_dir.iterdir()) == sorted([*run_ids, "sweeps"])
    for run_id in run_ids:
        dyn = _dynamics(runs_dir / run_id)
        assert not dyn.duplicated(["item_id", "split", "step", "measurement"]).any()
        pd.testing.assert_frame_equal(dyn, _dynamics(reference_dir / run_id), check_exact=True)


def test_interrupted_then_resumed_sweep_equals_the_uninterrupted_one(reference, tiny_bert_dir, data_dir, tmp_path):
    _, reference_runs, _ = reference
    sweep = load_sweep(_sweep_file(tmp_path / "tiny.yaml", tiny_bert_dir, data_dir), runs_dir=tmp_path / "runs")
    first, second = sweep.runs
    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep, executor=LocalExecutor(callbacks=[_InterruptAt(run=2, step=2)]))
    assert [s.status.value for s in plan_sweep(sweep)] == ["done", "pending"]
    # What a kill -9 leaves: the dead process's build folder, and (older layouts) a <run_id>/ without DONE.
    (tmp_path / "runs" / f".{second.run_id}.partial-999999").mkdir()
    (tmp_path / "runs" / second.run_id).mkdir()
    (tmp_path / "runs" / second.run_id / "dynamics.parquet").write_text("half-written")
    done_at = (tmp_path / "runs" / first.run_id / "DONE").stat().st_mtime_ns
    result = run_sweep(sweep)
    assert [(o.run_id, o.status) for o in result.outcomes] == [(second.run_id, "done")]
    assert (tmp_path / "runs" / first.run_id / "DONE").stat().st_mtime_ns == done_at
    _assert_same_as_reference(tmp_path / "runs", reference_runs, [first.run_id, second.run_id])


@pytest.mark.slow
def test_sweep_killed_with_sigkill_then_rerun_equals_the_uninterrupted_one(reference, tiny_bert_dir, data_dir,
                                                                          tmp_path):
    _, reference_runs, _ = reference
    file = _sweep_file(tmp_path / "tiny.yaml", tiny_bert_dir, data_dir)
    runs_dir = tmp_path / "runs"
    sweep = load_sweep(file, runs_dir=runs_dir)
    first, second = sweep.runs
    proc = start_sweep(file, runs_dir)  # one torch thread: the same arithmetic as this process's
    # Kill as soon as the second run's build folder exists (the first is then DONE).
    sigkill_when(proc, lambda: bool(list(runs_dir.glob(f".{second.run_id}.partial-*"))))
    assert [s.status.value for s in plan_sweep(sweep)] == ["done", "pending"]
    assert list(runs_dir.glob(f".{second.run_id}.partial-*"))  # the killed attempt's leftovers
    result = CliRunner().invoke(app, ["sweep", str(file), "--runs-dir", str(runs_dir)])
    assert result.exit_code == 0, result.output
    _assert_same_as_reference(runs_dir, reference_runs, [first.run_id, second.run_id])


def test_ray_executor_runs_two_tiny_runs_on_a_local_instance(reference, tiny_bert_dir, data_dir, tmp_path):
    ray = pytest.importorskip("ray")
    _, reference_runs, _ = reference
    sweep = load_sweep(_sweep_file(tmp_path / "tiny.yaml", tiny_bert_dir, data_dir), runs_dir=tmp_path / "runs")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        finished = []
        result = run_sweep(sweep, executor="ray", on_finish=finished.append)
    finally:
        ray.shutdown()
    assert result.ok and sorted(o.run_id for o in finished) == sorted(r.run_id for r in sweep.runs)
    # Each run was a Ray task with num_cpus=1, so one torch thread: the same numbers as in-process.
    _assert_same_as_reference(tmp_path / "runs", reference_runs, [r.run_id for r in sweep.runs])
