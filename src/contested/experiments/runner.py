"""Run a sweep: plan it from the run directories, run what is missing, report what failed.

Resume is by construction: the plan is re-read from disk on every invocation, a run counts as
done only once its ``DONE`` marker exists (installed atomically with the whole directory), and a
run's directory name is its config's digest — so a sweep killed at any moment and started again
runs exactly the runs without ``DONE``, each once, into the same directories. Several
invocations on one runs directory (terminals, cluster jobs, Ray drivers) share the work through
run claims (:mod:`contested.experiments.claims`): each run is trained by one of them.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from contested.experiments.attempt import OnWait, RunOutcome
from contested.experiments.claims.record import DEFAULT_TIMEOUT
from contested.experiments.executors import Executor, OnFinish, OnStart, make_executor
from contested.experiments.manifest import write_manifest
from contested.experiments.sweep import PlannedRun, Sweep
from contested.rundir.state import RunState, Status, plan_states


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """What one invocation of a sweep did.

    Attributes
    ----------
    runs_dir
        Where the run directories are.
    before
        Every run's state before this invocation ran anything.
    outcomes
        One outcome per run attempted, in completion order; ``outcome.by`` is set for runs that
        another process settled meanwhile (see :mod:`contested.experiments.claims`).
    """

    runs_dir: Path
    before: tuple[RunState, ...]
    outcomes: tuple[RunOutcome, ...]

    @property
    def failed(self) -> list[RunOutcome]:
        """Runs that failed in this invocation (here or, meanwhile, in another process)."""
        return [o for o in self.outcomes if o.status == Status.FAILED.value]

    @property
    def elsewhere(self) -> list[RunOutcome]:
        """Runs another process trained (or failed) while this invocation ran."""
        return [o for o in self.outcomes if not o.here]

    @property
    def ok(self) -> bool:
        """True when no attempted run failed."""
        return not self.failed


def plan_sweep(sweep: Sweep, *, runs_dir: str | os.PathLike | None = None) -> list[RunState]:
    """Every run's state (done / pending / failed), in the sweep's order."""
    return plan_states((r.run_id for r in sweep.runs), runs_dir=runs_dir or sweep.runs_dir)


def runs_to_do(sweep: Sweep, states: list[RunState], *, force: bool = False) -> list[PlannedRun]:
    """The runs an invocation attempts: pending and failed ones (every run with ``force``)."""
    return [run for run, state in zip(sweep.runs, states, strict=True)
            if force or state.status is not Status.DONE]


def run_sweep(sweep: Sweep, *, executor: str | Executor = "local", runs_dir: str | os.PathLike | None = None,
              force: bool = False, on_start: OnStart | None = None, on_finish: OnFinish | None = None,
              on_wait: OnWait | None = None, claim_timeout: float = DEFAULT_TIMEOUT,
              **executor_options: Any) -> SweepResult:
    """Run every run of ``sweep`` that is not done; failures are recorded and do not stop the rest.

    Parameters
    ----------
    sweep
        From :func:`contested.experiments.load_sweep`.
    executor
        A registered executor name (``local``, ``ray``) or an :class:`Executor` instance.
    runs_dir
        Overrides ``sweep.runs_dir``.
    force
        Rerun finished runs too (a finished directory is replaced only by a complete new one).
    on_start, on_finish, on_wait
        Progress callbacks (see :class:`Executor`); ``on_wait(run, claim)`` when another live
        process holds a run (this invocation waits for it after its other runs).
    claim_timeout
        Seconds without a heartbeat after which another host's claim on a run is stale and taken
        over (a claim of a dead process on this host is taken over at once).
    **executor_options
        Passed to the executor's constructor when ``executor`` is a name (e.g. ``address``).

    Returns
    -------
    SweepResult
        The states before and the outcome of every attempted run. It returns once every run is
        settled, including runs other processes held (it waits for them).
    """
    runs_dir = Path(runs_dir or sweep.runs_dir)
    before = plan_sweep(sweep, runs_dir=runs_dir)
    todo = runs_to_do(sweep, before, force=force)
    runs_dir.mkdir(parents=True, exist_ok=True)
    write_manifest(sweep, runs_dir=runs_dir)
    if isinstance(executor, str):
        executor = make_executor(executor, **executor_options)
    outcomes = executor.execute(todo, runs_dir=runs_dir, force=force, on_start=on_start, on_finish=on_finish,
                                on_wait=on_wait, claim_timeout=claim_timeout) if todo else []
    return SweepResult(runs_dir=runs_dir, before=tuple(before), outcomes=tuple(outcomes))


__all__ = ["SweepResult", "plan_sweep", "run_sweep", "runs_to_do"]
