"""One attempt at one run: claim it, train it, record a failure; and the runs other processes hold.

Every executor (:mod:`contested.experiments.executors`) calls the same :func:`execute_run`, which
claims the run (:mod:`contested.experiments.claims`), trains it into ``runs_dir/<run_id>/`` through
:func:`contested.train.run` (``DONE`` written last, atomic rename), turns an exception into an
``ERROR`` record instead of stopping the sweep, and releases the claim. A run claimed by another
live process comes back :data:`CLAIMED`; the executor sets it aside in :class:`WaitingRuns` and
attempts it again once its claim is released or stale: the attempt then finds it done (or failed)
by its owner, or takes the stale claim over and trains it.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from contested.experiments.claims.protocol import holding
from contested.experiments.claims.record import DEFAULT_TIMEOUT, Claim, live_claim
from contested.experiments.sweep import PlannedRun
from contested.rundir.state import Marks, outcome_marks, read_error, write_error

#: Called with a run and its claim when the run is found held by another live process.
OnWait = Callable[[PlannedRun, Claim], None]
#: ``RunOutcome.status`` of a run that another live process holds (never passed to ``on_finish``).
CLAIMED = "claimed"


@dataclasses.dataclass(frozen=True)
class RunOutcome:
    """What happened to one run.

    Attributes
    ----------
    run_id, label
        The run.
    status
        ``done`` or ``failed`` (:data:`CLAIMED` only between an executor and :func:`execute_run`).
    error
        ``Type: message`` of a failed run (also in its ``ERROR`` file), else None.
    seconds
        Wall time of the attempt, in seconds (0 when another process did the run).
    by
        None when this process trained the run; else who did (or, for :data:`CLAIMED`, holds it):
        ``host, pid N, since …`` where known, else ``another process``.
    """

    run_id: str
    label: str
    status: str
    error: str | None = None
    seconds: float = 0.0
    by: str | None = None

    @property
    def here(self) -> bool:
        """True when this process trained (or tried to train) the run."""
        return self.by is None


def execute_run(run: PlannedRun, *, runs_dir: str | os.PathLike, force: bool = False,
                callbacks: Sequence[Any] = (), claim_timeout: float = DEFAULT_TIMEOUT,
                token: str | None = None, seen: Marks | None = None) -> RunOutcome:
    """Claim one run, train it, record an exception as its ``ERROR`` instead of raising it.

    Parameters
    ----------
    run
        The planned run (its config's digest is the directory name).
    runs_dir
        Parent folder of the run directories.
    force
        Redo a finished run (unless another process finished it after ``seen``).
    callbacks
        Extra HF ``TrainerCallback``s passed to the training layer.
    claim_timeout
        Seconds without a heartbeat after which another host's claim is stale.
    token
        Id of this attempt's claim (default: a new one); the Ray driver passes it so that it can
        release the claim of a worker that died.
    seen
        :func:`~contested.rundir.state.outcome_marks` of the run when the sweep planned it. Once the run is
        claimed, a ``DONE`` (without ``force``: any ``DONE``; with it: a ``DONE`` other than the
        planned one) or an ``ERROR`` that appeared since means another process settled the run:
        it is reported with ``by`` set and not trained again. None: only an existing ``DONE``
        (without ``force``) counts.

    Returns
    -------
    RunOutcome
        ``done`` or ``failed`` with the error; :data:`CLAIMED` (with ``by``) when another live
        process holds the run. ``KeyboardInterrupt`` and ``SystemExit`` propagate (the claim is
        released).
    """
    started = time.perf_counter()
    with holding(runs_dir, run.run_id, timeout=claim_timeout, token=token) as claim:
        if claim is None:
            holder = live_claim(runs_dir, run.run_id, timeout=claim_timeout)
            return RunOutcome(run.run_id, run.label, CLAIMED, None, 0.0,
                              holder.describe() if holder else "another process")
        settled = _settled_elsewhere(run, runs_dir, force=force, seen=seen)
        if settled is not None:
            return settled
        from contested.train.pipeline import run as train_run

        try:
            train_run(run.config, runs_dir=runs_dir, force=force, progress=False, callbacks=callbacks)
        except Exception as exc:  # any failure of one run is recorded; the sweep carries on
            write_error(runs_dir, run.run_id, exc, label=run.label, config=run.config.to_dict())
            message = " ".join(str(exc).split()) or type(exc).__name__
            return RunOutcome(run.run_id, run.label, "failed", f"{type(exc).__name__}: {message}",
                              time.perf_counter() - started)
    return RunOutcome(run.run_id, run.label, "done", None, time.perf_counter() - started)


def _settled_elsewhere(run: PlannedRun, runs_dir: str | os.PathLike, *, force: bool,
                       seen: Marks | None) -> RunOutcome | None:
    """The outcome another process left for ``run`` since it was planned (None: train it here)."""
    now = outcome_marks(runs_dir, run.run_id)
    if now.done is not None and (not force or (seen is not None and now.done != seen.done)):
        return RunOutcome(run.run_id, run.label, "done", None, 0.0, "another process")
    if now.done is None and seen is not None and now.error is not None and now.error != seen.error:
        record = read_error(Path(runs_dir) / run.run_id) or {}
        by = f"{record['host']}, pid {record['pid']}" if {"host", "pid"} <= set(record) else "another process"
        return RunOutcome(run.run_id, run.label, "failed", record.get("error") or "failed (no message)", 0.0, by)
    return None


class WaitingRuns:
    """Runs held by other live processes, and when to attempt them again.

    A run is ready to be attempted again when its claim is released or stale (or it is done and
    not forced): the attempt then finds it settled by its owner, or takes the claim over.
    """

    def __init__(self, runs_dir: Path, *, timeout: float, on_wait: OnWait | None) -> None:
        self.runs_dir, self.timeout, self.on_wait = runs_dir, timeout, on_wait
        self.runs: dict[str, PlannedRun] = {}
        self.holders: dict[str, str] = {}  # run id -> the last holder seen (token)
        self.by: dict[str, str] = {}  # run id -> the last holder seen (for people)

    def __bool__(self) -> bool:
        return bool(self.runs)

    def add(self, run: PlannedRun, outcome: RunOutcome) -> None:
        """Set aside ``run``, whose attempt found it :data:`CLAIMED`."""
        self.runs[run.run_id] = run
        self.by[run.run_id] = outcome.by or "another process"
        self._announce(run, live_claim(self.runs_dir, run.run_id, timeout=self.timeout))

    def _announce(self, run: PlannedRun, holder: Claim | None) -> None:
        if holder is None or self.holders.get(run.run_id) == holder.token:
            return
        self.holders[run.run_id] = holder.token
        self.by[run.run_id] = holder.describe()
        if self.on_wait is not None:
            self.on_wait(run, holder)

    def ready(self) -> list[PlannedRun]:
        """Remove and return the runs whose claim is no longer held by a live process."""
        out = []
        for run_id, run in list(self.runs.items()):
            holder = live_claim(self.runs_dir, run_id, timeout=self.timeout)
            if holder is None:
                out.append(self.runs.pop(run_id))
            else:
                self._announce(run, holder)
        return out

    def settle(self, outcome: RunOutcome) -> RunOutcome:
        """``outcome`` with ``by`` naming the holder this executor saw, where it says only "another"."""
        if outcome.by == "another process" and outcome.run_id in self.by:
            return dataclasses.replace(outcome, by=self.by[outcome.run_id])
        return outcome


__all__ = ["CLAIMED", "OnWait", "RunOutcome", "WaitingRuns", "execute_run"]
