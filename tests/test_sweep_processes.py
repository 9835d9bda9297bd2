"""Several real ``contested sweep`` processes on one runs directory (the claims of ``test_sweep_claims.py``).

Tiny runs (``train_helpers.write_tiny_sweep``): three concurrent sweep processes over six runs
train each run exactly once, and a sweep SIGKILLed while it holds a claim leaves a run that
another sweep takes over and finishes; the dynamics equal those of one sequential sweep.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from contested.cli import app
from contested.experiments import claims as cl
from contested.experiments import load_sweep, plan_sweep, run_sweep
from contested.rundir.layout import claim_file
from train_helpers import sigkill_when, single_thread, start_sweep, write_tiny_sweep

SEEDS = (1, 2, 3, 4, 5, 6)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run much faster on one thread, and identically to the one-thread subprocesses."""
    with single_thread():
        yield


def _sweep_file(path: Path, model: Path, data_dir: Path, seeds=SEEDS) -> Path:
    """Tiny LoRA runs, one per seed (3 optimiser steps, a snapshot after each)."""
    return write_tiny_sweep(path, model, data_dir, f"  seed: {list(seeds)}\n")


@pytest.fixture(scope="module")
def sequential(tmp_path_factory, tiny_bert_dir, data_dir) -> Path:
    """The six runs trained by one sweep process, one after another (the reference)."""
    root = tmp_path_factory.mktemp("sequential")
    file = _sweep_file(root / "tiny.yaml", tiny_bert_dir, data_dir)
    result = CliRunner().invoke(app, ["sweep", str(file), "--runs-dir", str(root / "runs")])
    assert result.exit_code == 0, result.output
    return root / "runs"


def _same_dynamics(runs_dir: Path, reference: Path, run_ids: list[str]) -> None:
    assert sorted(p.name for p in runs_dir.iterdir()) == sorted([*run_ids, "sweeps"])  # no claims left
    for run_id in run_ids:
        pd.testing.assert_frame_equal(pd.read_parquet(runs_dir / run_id / "dynamics.parquet"),
                                      pd.read_parquet(reference / run_id / "dynamics.parquet"), check_exact=True)


def test_three_concurrent_sweeps_train_every_run_exactly_once(sequential, tiny_bert_dir, data_dir, tmp_path):
    file = _sweep_file(tmp_path / "tiny.yaml", tiny_bert_dir, data_dir)
    runs_dir = tmp_path / "runs"
    sweep = load_sweep(file, runs_dir=runs_dir)
    logs = [tmp_path / f"sweep{i}.log" for i in range(3)]
    procs = [start_sweep(file, runs_dir, log=log) for log in logs]
    try:
        codes = [p.wait(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    outputs = [log.read_text() for log in logs]
    assert codes == [0, 0, 0], outputs
    # Every run was trained by exactly one process ("✓ label"); the others report it done by its owner.
    trained = [m for out in outputs for m in re.findall(r"✓ (seed=\d+) ", out)]
    assert sorted(trained) == [f"seed={s}" for s in SEEDS], outputs
    for out in outputs:
        assert re.search(r"6/6 done, \d finished now(, \d by other processes)?, 0 failed", out), out
    assert [s.status.value for s in plan_sweep(sweep)] == ["done"] * 6
    _same_dynamics(runs_dir, sequential, [r.run_id for r in sweep.runs])


def test_claim_of_a_sigkilled_sweep_is_taken_over_and_its_run_finished(sequential, tiny_bert_dir, data_dir, tmp_path):
    file = _sweep_file(tmp_path / "tiny.yaml", tiny_bert_dir, data_dir, seeds=SEEDS[:2])
    runs_dir = tmp_path / "runs"
    sweep = load_sweep(file, runs_dir=runs_dir)
    first = sweep.runs[0]
    log = tmp_path / "killed.log"
    proc = start_sweep(file, runs_dir, log=log)
    # Kill it mid-run: it holds the first run's claim and is building the run.
    sigkill_when(proc, lambda: claim_file(runs_dir, first.run_id).exists()
                 and bool(list(runs_dir.glob(f".{first.run_id}.partial-*"))), log=log)
    orphan = cl.read_claim(runs_dir, first.run_id)
    assert orphan.pid == proc.pid and cl.owner_gone(orphan)
    assert [s.status.value for s in plan_sweep(sweep)] == ["pending", "pending"]
    # Another sweep (this process) takes the dead process's claim over and finishes both runs.
    result = run_sweep(sweep)
    assert [(o.run_id, o.status, o.by) for o in result.outcomes] == [(r.run_id, "done", None) for r in sweep.runs]
    _same_dynamics(runs_dir, sequential, [r.run_id for r in sweep.runs])
