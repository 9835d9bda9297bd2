"""Executors run a sweep's pending runs: ``local`` (sequential, in this process) or ``ray``.

Every executor attempts each run through the same
:func:`~contested.experiments.attempt.execute_run` (claim, train, record a failure as ``ERROR``,
release). Only interrupts (Ctrl-C, ``SystemExit``) stop a sweep; a killed sweep leaves no
finished-looking directory, so running it again picks up exactly the runs without ``DONE``.

Several sweep processes may share one runs directory: a run claimed by another live process is
skipped and taken up again after the others
(:class:`~contested.experiments.attempt.WaitingRuns`). The executor returns only once every run it
was given is settled, so ``contested sweep`` ends when the whole sweep is done.

Executors are registered by name (:func:`register_executor`), like the models layer's methods;
``--executor NAME`` picks one.
"""

from __future__ import annotations

import abc
import dataclasses
import gc
import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from contested.errors import ContestedError
from contested.experiments.attempt import CLAIMED, OnWait, RunOutcome, WaitingRuns, execute_run
from contested.experiments.claims.protocol import release
from contested.experiments.claims.record import DEFAULT_TIMEOUT, POLL_SECONDS
from contested.experiments.sweep import PlannedRun
from contested.rundir.state import Marks, outcome_marks, write_error

OnStart = Callable[[PlannedRun], None]
OnFinish = Callable[["RunOutcome"], None]
EXECUTORS: dict[str, type[Executor]] = {}
# Environment a remote Ray worker needs to find the same data, model cache and offline mode.
_FORWARD_PREFIXES = ("CONTESTED_", "HF_")
_FORWARD_NAMES = ("TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM")


class Executor(abc.ABC):
    """Runs a list of planned runs; results land in ``runs_dir/<run_id>/``."""

    name: ClassVar[str] = ""

    @abc.abstractmethod
    def execute(self, runs: Sequence[PlannedRun], *, runs_dir: Path, force: bool = False,
                on_start: OnStart | None = None, on_finish: OnFinish | None = None,
                on_wait: OnWait | None = None, claim_timeout: float = DEFAULT_TIMEOUT) -> list[RunOutcome]:
        """Run ``runs`` (each once) and return their outcomes in completion order.

        ``on_start`` is called when a run starts (where the executor knows it), ``on_finish``
        with each outcome as soon as it is known, ``on_wait`` with a run and its holder when
        another live process holds the run (the executor comes back to it after the others and
        waits for it to be settled). Every run gets exactly one outcome, trained here or by
        another process (``RunOutcome.by``). ``claim_timeout`` is the heartbeat age after which
        another host's claim is stale (:mod:`contested.experiments.claims`).
        """


def register_executor(name: str) -> Callable[[type[Executor]], type[Executor]]:
    """Class decorator: make an :class:`Executor` available as ``--executor name``."""

    def deco(cls: type[Executor]) -> type[Executor]:
        cls.name = name
        EXECUTORS[name] = cls
        return cls

    return deco


def make_executor(name: str, **options: Any) -> Executor:
    """Instantiate the executor registered as ``name`` with its options."""
    cls = EXECUTORS.get(name)
    if cls is None:
        raise ContestedError(f"--executor: unknown executor '{name}'; choose one of {', '.join(EXECUTORS)}")
    return cls(**options)


@register_executor("local")
class LocalExecutor(Executor):
    """One run after another in this process (the default).

    Parameters
    ----------
    callbacks
        Extra HF ``TrainerCallback``s for every run (e.g. logging to your tracker).
    """

    def __init__(self, *, callbacks: Sequence[Any] = ()) -> None:
        self.callbacks = tuple(callbacks)

    def execute(self, runs: Sequence[PlannedRun], *, runs_dir: Path, force: bool = False,
                on_start: OnStart | None = None, on_finish: OnFinish | None = None,
                on_wait: OnWait | None = None, claim_timeout: float = DEFAULT_TIMEOUT) -> list[RunOutcome]:
        runs_dir = Path(runs_dir)
        seen = {run.run_id: outcome_marks(runs_dir, run.run_id) for run in runs}
        waiting = WaitingRuns(runs_dir, timeout=claim_timeout, on_wait=on_wait)
        outcomes: list[RunOutcome] = []

        def attempt(run: PlannedRun) -> None:
            if on_start is not None:
                on_start(run)
            outcome = execute_run(run, runs_dir=runs_dir, force=force, callbacks=self.callbacks,
                                  claim_timeout=claim_timeout, seen=seen[run.run_id])
            if outcome.here:
                _release_memory()
            if outcome.status == CLAIMED:
                waiting.add(run, outcome)
                return
            outcome = waiting.settle(outcome)
            outcomes.append(outcome)
            if on_finish is not None:
                on_finish(outcome)

        for run in runs:
            attempt(run)
        while waiting:  # the runs other processes hold: wait until each is settled
            for run in waiting.ready():
                attempt(run)
            if waiting:
                time.sleep(POLL_SECONDS)
        return outcomes


def _release_memory() -> None:
    """Free the finished run's model before the next one (one process runs them all)."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _ray_run(config: dict[str, Any], run_id: str, label: str, axes: dict[str, str], runs_dir: str,
             force: bool, claim_timeout: float = DEFAULT_TIMEOUT, token: str | None = None,
             seen: tuple[str | None, str | None] | None = None) -> dict[str, Any]:
    """Body of a Ray task: rebuild the config on the worker and train it."""
    from contested.experiments.sweep import Resources
    from contested.train.config import RunConfig

    run = PlannedRun(run_id=run_id, label=label, config=RunConfig.from_dict(config), axes=axes,
                     resources=Resources())
    if run.config.digest() != run_id:
        raise RuntimeError(f"run {run_id}: the worker resolves this config to {run.config.digest()}; "
                           "driver and workers must run the same contested version")
    return dataclasses.asdict(execute_run(run, runs_dir=runs_dir, force=force, claim_timeout=claim_timeout,
                                          token=token, seen=Marks(*seen) if seen is not None else None))


@register_executor("ray")
class RayExecutor(Executor):
    """Each run is a Ray task with the sweep's ``resources`` (``num_cpus``, ``num_gpus``).

    On a multi-GPU machine a local Ray instance runs one task per GPU at a time
    (``num_gpus: 1``); with ``address`` the sweep joins an existing cluster, whose nodes must see
    ``runs_dir`` (shared storage), the data and the model cache at the same paths.

    Parameters
    ----------
    address
        Ray cluster address (``ray://host:10001`` or ``host:6379``); None: reuse an already
        initialised Ray in this process, else start a local instance for the sweep's duration.
    init_kwargs
        Extra keyword arguments of ``ray.init`` for a local instance (e.g. ``num_cpus``).
    max_retries
        Ray retries of a task whose worker died (0: it becomes a failed run; rerun the sweep).
    """

    def __init__(self, *, address: str | None = None, init_kwargs: dict[str, Any] | None = None,
                 max_retries: int = 0) -> None:
        self.address = address
        self.init_kwargs = dict(init_kwargs or {})
        self.max_retries = max_retries

    def execute(self, runs: Sequence[PlannedRun], *, runs_dir: Path, force: bool = False,
                on_start: OnStart | None = None, on_finish: OnFinish | None = None,
                on_wait: OnWait | None = None, claim_timeout: float = DEFAULT_TIMEOUT) -> list[RunOutcome]:
        try:
            import ray
        except ImportError:
            raise ContestedError("--executor ray needs Ray: pip install 'ray>=2.9'") from None
        started_here = self._connect(ray)
        try:
            if started_here:
                _check_capacity(ray, runs)
            waiting = WaitingRuns(Path(runs_dir).resolve(), timeout=claim_timeout, on_wait=on_wait)
            return self._submit_and_wait(ray, runs, Path(runs_dir).resolve(), force, on_finish, waiting)
        finally:
            if started_here:
                ray.shutdown()

    def _connect(self, ray: Any) -> bool:
        """Join or start Ray; True when this call started a local instance (shut it down after)."""
        if self.address is None and ray.is_initialized():
            return False
        if self.address is not None:
            env = {k: v for k, v in os.environ.items()
                   if k.startswith(_FORWARD_PREFIXES) or k in _FORWARD_NAMES}
            try:
                ray.init(address=self.address, runtime_env={"env_vars": env}, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ContestedError(f"--ray-address {self.address}: cannot join the Ray cluster ({exc}); "
                                     "check the address (`ray status` on the head node)") from None
            return False
        # Worker logs (model-loading reports, warnings) stay in Ray's log folder: the sweep's own
        # progress bar is the driver's output, and failures are recorded in ERROR files.
        ray.init(**{"include_dashboard": False, "log_to_driver": False, **self.init_kwargs})
        return True

    def _submit_and_wait(self, ray: Any, runs: Sequence[PlannedRun], runs_dir: Path, force: bool,
                         on_finish: OnFinish | None, waiting: WaitingRuns) -> list[RunOutcome]:
        # max_calls=1: a fresh worker per run, so GPU memory and global state never leak between runs.
        task = ray.remote(max_calls=1)(_ray_run)
        seen = {run.run_id: outcome_marks(runs_dir, run.run_id) for run in runs}
        pending: dict[Any, tuple[PlannedRun, str]] = {}

        def submit(run: PlannedRun) -> None:
            # The driver names each attempt's claim, so it can release the claim of a worker that died.
            token = uuid.uuid4().hex
            ref = task.options(num_cpus=run.resources.num_cpus, num_gpus=run.resources.num_gpus,
                               max_retries=self.max_retries, name=f"contested:{run.label}"[:120]).remote(
                run.config.to_dict(), run.run_id, run.label, dict(run.axes), str(runs_dir), force,
                waiting.timeout, token, tuple(seen[run.run_id]))
            pending[ref] = (run, token)

        for run in runs:
            submit(run)
        outcomes: list[RunOutcome] = []
        try:
            while pending or waiting:
                if pending:
                    # While runs held elsewhere wait, look at their claims every POLL_SECONDS.
                    ready, _ = ray.wait(list(pending), num_returns=1,
                                        timeout=POLL_SECONDS if waiting else None)
                else:
                    ready = []
                    time.sleep(POLL_SECONDS)
                for ref in ready:
                    run, token = pending.pop(ref)
                    outcome = self._collect(ray, ref, run, runs_dir, token)
                    if outcome.status == CLAIMED:
                        waiting.add(run, outcome)
                        continue
                    outcome = waiting.settle(outcome)
                    outcomes.append(outcome)
                    if on_finish is not None:
                        on_finish(outcome)
                for run in waiting.ready():  # released or stale: a new task (behind the queued ones)
                    submit(run)
        except KeyboardInterrupt:
            for ref, (run, token) in pending.items():
                ray.cancel(ref, force=True)
                release(runs_dir, run.run_id, token)
            raise
        return outcomes

    @staticmethod
    def _collect(ray: Any, ref: Any, run: PlannedRun, runs_dir: Path, token: str) -> RunOutcome:
        try:
            return RunOutcome(**ray.get(ref))
        except Exception as exc:  # the worker died or the task could not run: record it like a failure
            write_error(runs_dir, run.run_id, exc, label=run.label, config=run.config.to_dict())
            release(runs_dir, run.run_id, token)  # the dead worker's claim, if it took one
            message = " ".join(str(exc).split())[:500]
            return RunOutcome(run.run_id, run.label, "failed", f"{type(exc).__name__}: {message}")


def _check_capacity(ray: Any, runs: Sequence[PlannedRun]) -> None:
    """A run asking for more than the local instance has would wait forever: say so instead."""
    total = ray.cluster_resources()
    for key, attr in (("GPU", "num_gpus"), ("CPU", "num_cpus")):
        need = max((getattr(r.resources, attr) for r in runs), default=0.0)
        have = float(total.get(key, 0.0))
        if need > have:
            raise ContestedError(
                f"resources.{attr}: a run asks for {need:g} {key}(s) but this machine's Ray instance has "
                f"{have:g}; lower resources.{attr} in the sweep file or join a cluster with --ray-address"
            )


__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "RayExecutor", "make_executor", "register_executor"]
