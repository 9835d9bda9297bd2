"""Run claims: several ``contested sweep`` processes on one runs directory train each run once.

Unit tests of the claim primitives (atomic create among threads and processes, release, stale
detection by dead pid and by heartbeat age, racing takeovers, the heartbeat thread), of the
executor's decisions (held, settled elsewhere, waiting at the end) and the ``--dry-run`` table.
The end-to-end tests with real tiny runs are in ``test_sweep_processes.py``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contested.cli import app
from contested.experiments import LocalExecutor, load_sweep, run_sweep
from contested.experiments import claims as cl
from contested.experiments.attempt import CLAIMED, execute_run
from contested.rundir.layout import DONE, ERROR, claim_file
from contested.rundir.state import outcome_marks


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _fake_claim(runs_dir: Path, run_id: str, **changes) -> cl.Claim:
    """Write a claim by hand (another owner: a new token; ``changes`` set host, pid, heartbeat…)."""
    claim = dataclasses.replace(cl.Claim.new(run_id), **changes)
    runs_dir.mkdir(parents=True, exist_ok=True)
    claim_file(runs_dir, run_id).write_text(claim.to_json(), encoding="utf-8")
    return claim


def _leftovers(runs_dir: Path) -> list[str]:
    return sorted(p.name for p in runs_dir.glob(".*claim*"))


def _race_to_claim(runs_dir: Path, run_id: str, *, threads: int, timeout: float) -> list[cl.Claim]:
    """``threads`` threads call ``try_claim`` at the same moment; the claims they won."""
    barrier = threading.Barrier(threads)
    won: list[cl.Claim] = []

    def contend():
        barrier.wait()
        claim = cl.try_claim(runs_dir, run_id, timeout=timeout)
        if claim is not None:
            won.append(claim)

    started = [threading.Thread(target=contend) for _ in range(threads)]
    for t in started:
        t.start()
    for t in started:
        t.join()
    return won


# --------------------------------------------------------------------------- primitives


def test_claim_file_is_a_hidden_sibling_of_the_run_directory(tmp_path):
    assert claim_file(tmp_path, "abc123") == tmp_path / ".abc123.claim"


def test_exactly_one_of_many_threads_claims_a_run(tmp_path):
    for round_ in range(5):
        won = _race_to_claim(tmp_path, f"run{round_}", threads=16, timeout=60)
        assert len(won) == 1
        assert cl.read_claim(tmp_path, f"run{round_}") == won[0]
    assert _leftovers(tmp_path) == [f".run{i}.claim" for i in range(5)]  # no temporary files left


@pytest.mark.parametrize("before", ["free", "stale"])
def test_exactly_one_of_many_processes_claims_a_run(tmp_path, before):
    if before == "stale":  # the claim of a host that stopped sending heartbeats: all race to take it over
        _fake_claim(tmp_path, "run", host="node-elsewhere.example", pid=1, heartbeat=time.time() - 100)
    start = time.time() + 3.0  # every process is up and waiting by then
    code = textwrap.dedent(f"""\
        import time
        from contested.experiments.claims import try_claim
        time.sleep(max(0.0, {start} - time.time()))
        print("won" if try_claim({str(tmp_path)!r}, "run", timeout=60) else "lost", flush=True)
        time.sleep(1.0)  # hold on: a process that exits is a dead owner, whose claim may be taken over
        """)
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(6)]
    results = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert sorted(results) == ["lost"] * 5 + ["won"]
    winner = procs[results.index("won")].pid
    assert cl.read_claim(tmp_path, "run").pid == winner
    assert _leftovers(tmp_path) == [".run.claim"]


def test_release_removes_only_this_processs_claim(tmp_path):
    mine = cl.try_claim(tmp_path, "run", timeout=60)
    assert mine is not None and mine.host == socket.gethostname() and mine.pid == os.getpid()
    assert cl.try_claim(tmp_path, "run", timeout=60) is None  # held (by this very process, another claim)
    assert cl.try_claim(tmp_path, "run", timeout=60, token=mine.token) == mine  # the same claim again
    assert not cl.release(tmp_path, "run", "some-other-token")
    assert cl.read_claim(tmp_path, "run") == mine
    assert cl.release(tmp_path, "run", mine.token)
    assert cl.read_claim(tmp_path, "run") is None and _leftovers(tmp_path) == []
    assert not cl.release(tmp_path, "run", mine.token)  # nothing left to release
    assert cl.try_claim(tmp_path, "run", timeout=60) is not None  # free again


def test_claim_of_a_dead_process_on_this_host_is_stale_at_once(tmp_path):
    dead = _fake_claim(tmp_path, "run", pid=_dead_pid())
    assert cl.owner_gone(dead) and cl.is_stale(dead, timeout=1e9)
    assert cl.live_claim(tmp_path, "run", timeout=1e9) is None
    mine = cl.try_claim(tmp_path, "run", timeout=1e9)
    assert mine is not None and cl.read_claim(tmp_path, "run") == mine
    assert _leftovers(tmp_path) == [".run.claim"]


def test_pid_reused_by_a_newer_process_is_not_the_owner(tmp_path):
    if cl.Claim.new("x").proc_start is None:
        pytest.skip("no /proc: process start times unknown")
    me = cl.Claim.new("run")
    assert not cl.owner_gone(me)
    assert cl.owner_gone(dataclasses.replace(me, proc_start=me.proc_start - 1))


def test_another_hosts_claim_goes_stale_only_by_its_heartbeat(tmp_path):
    far = dict(host="node-elsewhere.example", pid=1, boot_id="another-boot")
    fresh = _fake_claim(tmp_path, "run", **far)
    assert not cl.owner_gone(fresh)  # another host's pid cannot be checked
    assert cl.try_claim(tmp_path, "run", timeout=5) is None
    assert cl.live_claim(tmp_path, "run", timeout=5) == fresh
    old = _fake_claim(tmp_path, "run", heartbeat=time.time() - 10, **far)
    assert cl.is_stale(old, timeout=5) and not cl.is_stale(old, timeout=60)
    assert cl.try_claim(tmp_path, "run", timeout=60) is None
    mine = cl.try_claim(tmp_path, "run", timeout=5)
    assert mine is not None and mine.pid == os.getpid()
    # The same host name with another boot id is another machine (or an earlier boot), and with
    # another pid namespace another container: their pids say nothing here, only heartbeats count.
    here = cl.Claim.new("x")
    for field in ("boot_id", "pid_ns"):
        elsewhere = _fake_claim(tmp_path, "other", pid=_dead_pid(), **{field: "another"})
        assert cl.owner_gone(elsewhere) is (getattr(here, field) is None)


def test_exactly_one_of_many_threads_takes_a_stale_claim_over(tmp_path):
    for round_ in range(5):
        stale = _fake_claim(tmp_path, "run", host="node-elsewhere.example", pid=1, heartbeat=time.time() - 100)
        won = _race_to_claim(tmp_path, "run", threads=12, timeout=10)
        assert len(won) == 1, round_
        assert cl.read_claim(tmp_path, "run") == won[0] != stale
        assert _leftovers(tmp_path) == [".run.claim"]
        assert cl.release(tmp_path, "run", won[0].token)


def test_unreadable_claim_is_held_until_its_file_is_older_than_the_timeout(tmp_path):
    path = claim_file(tmp_path, "run")
    path.write_text("", encoding="utf-8")  # an exclusive create caught before its write
    assert cl.try_claim(tmp_path, "run", timeout=60) is None
    assert cl.read_claim(tmp_path, "run").token == ""
    os.utime(path, (time.time() - 120, time.time() - 120))
    assert cl.try_claim(tmp_path, "run", timeout=60) is not None


def test_heartbeat_keeps_a_claim_fresh_and_release_removes_it(tmp_path):
    timeout = 0.4  # heartbeat every 0.04 s
    with cl.holding(tmp_path, "run", timeout=timeout) as claim:
        assert claim is not None
        time.sleep(3 * timeout)
        held = cl.read_claim(tmp_path, "run")
        assert held.token == claim.token and held.heartbeat > claim.heartbeat
        assert time.time() - held.heartbeat < timeout  # refreshed: no one may take it over
        assert cl.try_claim(tmp_path, "run", timeout=timeout) is None
    assert cl.read_claim(tmp_path, "run") is None and _leftovers(tmp_path) == []


def test_a_hung_owner_is_taken_over_after_the_timeout_and_its_heartbeat_notices(tmp_path):
    timeout = 0.3
    first = cl.try_claim(tmp_path, "run", timeout=timeout)
    # No heartbeat: the owner hangs (the same host and a live pid: only the heartbeat can tell).
    assert cl.try_claim(tmp_path, "run", timeout=timeout) is None
    time.sleep(timeout + 0.1)
    second = cl.try_claim(tmp_path, "run", timeout=timeout)
    assert second is not None and second.token != first.token
    # The hung owner wakes up: its heartbeat finds the claim taken and stops; it never removes it.
    beat = cl.Heartbeat(tmp_path, first, interval=0.02)
    with pytest.warns(RuntimeWarning, match="taken over"):
        beat.start()
        deadline = time.monotonic() + 5
        while not beat.lost and time.monotonic() < deadline:
            time.sleep(0.01)
        beat.stop()
    assert beat.lost
    assert not cl.release(tmp_path, "run", first.token)
    assert cl.read_claim(tmp_path, "run") == second


# --------------------------------------------------------------------------- executor decisions


def _fake_sweep(tmp_path: Path, n: int = 2):
    """A sweep whose runs are never trained here (the model does not exist)."""
    file = tmp_path / "fake.yaml"
    file.write_text(textwrap.dedent(f"""\
        name: fake
        base: {{model: '{tmp_path / "no-such-model"}', method: {{method: lora, rank: 2}},
               data: {{bulk: 16, heldout: 0, max_tracked: 6}}}}
        grid: {{seed: {list(range(1, n + 1))}}}
        """), encoding="utf-8")
    return file, load_sweep(file, runs_dir=tmp_path / "runs")


def _finish_by_hand(runs_dir: Path, run_id: str) -> None:
    (runs_dir / run_id).mkdir(parents=True, exist_ok=True)
    (runs_dir / run_id / DONE).write_text("")


def test_execute_run_skips_a_held_run_and_one_settled_elsewhere(tmp_path):
    _, sweep = _fake_sweep(tmp_path)
    runs_dir = sweep.runs_dir
    a, b = sweep.runs
    holder = _fake_claim(runs_dir, a.run_id)  # this process's pid, another claim: alive
    outcome = execute_run(a, runs_dir=runs_dir)
    assert outcome.status == CLAIMED and outcome.by == holder.describe()
    assert cl.read_claim(runs_dir, a.run_id) == holder

    seen = outcome_marks(runs_dir, b.run_id)
    _finish_by_hand(runs_dir, b.run_id)  # another process finished it after this sweep planned it
    outcome = execute_run(b, runs_dir=runs_dir, seen=seen)
    assert (outcome.status, outcome.by) == ("done", "another process") and not outcome.here
    outcome = execute_run(b, runs_dir=runs_dir, seen=seen, force=True)  # forced: still not twice
    assert (outcome.status, outcome.by) == ("done", "another process")
    assert cl.read_claim(runs_dir, b.run_id) is None


def test_execute_run_does_not_retry_a_run_that_failed_elsewhere_meanwhile(tmp_path):
    _, sweep = _fake_sweep(tmp_path, n=1)
    (run,) = sweep.runs
    seen = outcome_marks(sweep.runs_dir, run.run_id)
    (sweep.runs_dir / run.run_id).mkdir(parents=True)
    record = {"error": "ValueError: boom", "host": "node7", "pid": 42}
    (sweep.runs_dir / run.run_id / ERROR).write_text(json.dumps(record))
    outcome = execute_run(run, runs_dir=sweep.runs_dir, seen=seen)
    assert (outcome.status, outcome.error, outcome.by) == ("failed", "ValueError: boom", "node7, pid 42")


def test_local_executor_waits_for_a_run_held_elsewhere_then_reports_its_owner(tmp_path, monkeypatch):
    monkeypatch.setattr(cl, "POLL_SECONDS", 0.05)
    _, sweep = _fake_sweep(tmp_path, n=1)
    (run,) = sweep.runs
    runs_dir = sweep.runs_dir
    owner = cl.try_claim(runs_dir, run.run_id, timeout=60)  # "another process" (another claim)

    def other_process_finishes():
        time.sleep(0.5)
        _finish_by_hand(runs_dir, run.run_id)
        cl.release(runs_dir, run.run_id, owner.token)

    waits, finished = [], []
    helper = threading.Thread(target=other_process_finishes)
    helper.start()
    outcomes = LocalExecutor().execute(sweep.runs, runs_dir=runs_dir, on_finish=finished.append,
                                       on_wait=lambda r, c: waits.append((r.run_id, c.token)))
    helper.join()
    assert waits == [(run.run_id, owner.token)]
    assert outcomes == finished and len(outcomes) == 1
    assert (outcomes[0].status, outcomes[0].by) == ("done", owner.describe())
    assert _leftovers(runs_dir) == []


def test_ray_executor_waits_for_a_held_run_and_takes_over_a_dead_ones(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    monkeypatch.setattr(cl, "POLL_SECONDS", 0.1)
    _, sweep = _fake_sweep(tmp_path)
    runs_dir = sweep.runs_dir
    held, orphaned = sweep.runs
    owner = cl.try_claim(runs_dir, held.run_id, timeout=60)  # a live process (this one) holds it
    _fake_claim(runs_dir, orphaned.run_id, pid=_dead_pid())  # a dead process on this host held this one
    waits = []

    def owner_finishes():
        while not waits:  # until the driver saw the run held
            time.sleep(0.05)
        _finish_by_hand(runs_dir, held.run_id)
        cl.release(runs_dir, held.run_id, owner.token)

    helper = threading.Thread(target=owner_finishes, daemon=True)
    helper.start()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        result = run_sweep(sweep, executor="ray", on_wait=lambda r, c: waits.append(r.run_id))
    finally:
        ray.shutdown()
    helper.join(timeout=5)
    assert waits == [held.run_id]
    got = {o.run_id: o for o in result.outcomes}
    assert (got[held.run_id].status, got[held.run_id].by) == ("done", owner.describe())
    # The worker took the dead process's claim over and tried the run (its model does not exist).
    assert got[orphaned.run_id].status == "failed" and got[orphaned.run_id].here
    assert "no-such-model" in got[orphaned.run_id].error
    assert _leftovers(runs_dir) == []


def test_dry_run_shows_runs_held_by_other_processes(tmp_path):
    file, sweep = _fake_sweep(tmp_path)
    held = _fake_claim(sweep.runs_dir, sweep.runs[0].run_id, host="node-elsewhere.example", pid=4242)
    _fake_claim(sweep.runs_dir, sweep.runs[1].run_id, host="node-elsewhere.example", pid=4243,
                heartbeat=time.time() - 3600)  # stale: shown as pending
    result = CliRunner().invoke(app, ["sweep", str(file), "--runs-dir", str(sweep.runs_dir), "--dry-run"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert f"running (node-elsewhere.example, pid 4242, since {held.since})" in out
    assert "pid 4243" not in out
    assert "0 done, 2 pending, 0 failed, 1 of them running in other processes; would run 2" in out
    bad = CliRunner().invoke(app, ["sweep", str(file), "--claim-timeout", "0", "--dry-run"])
    assert "sweep.claim_timeout (--claim-timeout): must be > 0" in str(bad.exception)
