"""Executors run a sweep's pending runs: ``local`` (sequential, in this process) or ``ray``.

Every executor calls the same :func:`execute_run`, which claims the run
(:mod:`contested.experiments.claims`), trains it into ``runs_dir/<run_id>/`` through
:func:`contested.train.run` (``DONE`` written last, atomic rename), turns an exception into an
``ERROR`` record instead of stopping the sweep, and releases the claim. Only interrupts (Ctrl-C,
``SystemExit``) stop a sweep; a killed sweep leaves no finished-looking directory, so running it
again picks up exactly the runs without ``DONE``.

Several sweep processes may share one runs directory: a run claimed by another live process is
skipped and taken up again after the others (:class:`_Waiting`): when its claim is released or
goes stale, it is attempted again, which finds it done (or failed) by its owner, or takes the
stale claim over and trains it. The executor returns only once every run it was given is
settled, so ``contested sweep`` ends when the whole sweep is done.

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
from contested.experiments import claims
from contested.experiments.claims import DEFAULT_TIMEOUT, Claim, Marks
from contested.experiments.sweep import PlannedRun
from contested.rundir import read_error, write_error

OnStart = Callable[[PlannedRun], None]
OnFinish = Callable[["RunOutcome"], None]
#: Called with a run and its claim when the run is found held by another live process.
OnWait = Callable[[PlannedRun, Claim], None]
#: ``RunOutcome.status`` of a run that another live process holds (never passed to ``on_finish``).
CLAIMED = "claimed"
EXECUTORS: dict[str, type[Executor]] = {}
# Environment a remote Ray worker needs to find the same data, model cache and offline mode.
_FORWARD_PREFIXES = ("CONTESTED_", "HF_")
_FORWARD_NAMES = ("TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM")


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
        :func:`claims.outcome_marks` of the run when the sweep planned it. Once the run is
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
    with claims.holding(runs_dir, run.run_id, timeout=claim_timeout, token=token) as claim:
        if claim is None:
            holder = claims.live_claim(runs_dir, run.run_id, timeout=claim_timeout)
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
    now = claims.outcome_marks(runs_dir, run.run_id)
    if now.done is not None and (not force or (seen is not None and now.done != seen.done)):
        return RunOutcome(run.run_id, run.label, "done", None, 0.0, "another process")
    if now.done is None and seen is not None and now.error is not None and now.error != seen.error:
        record = read_error(Path(runs_dir) / run.run_id) or {}
        by = f"{record['host']}, pid {record['pid']}" if {"host", "pid"} <= set(record) else "another process"
        return RunOutcome(run.run_id, run.label, "failed", record.get("error") or "failed (no message)", 0.0, by)
    return None


class _Waiting:
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
        self._announce(run, claims.live_claim(self.runs_dir, run.run_id, timeout=self.timeout))

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
            holder = claims.live_claim(self.runs_dir, run_id, timeout=self.timeout)
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
        seen = {run.run_id: claims.outcome_marks(runs_dir, run.run_id) for run in runs}
        waiting = _Waiting(runs_dir, timeout=claim_timeout, on_wait=on_wait)
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
                time.sleep(claims.POLL_SECONDS)
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
            waiting = _Waiting(Path(runs_dir).resolve(), timeout=claim_timeout, on_wait=on_wait)
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
                         on_finish: OnFinish | None, waiting: _Waiting) -> list[RunOutcome]:
        # max_calls=1: a fresh worker per run, so GPU memory and global state never leak between runs.
        task = ray.remote(max_calls=1)(_ray_run)
        seen = {run.run_id: claims.outcome_marks(runs_dir, run.run_id) for run in runs}
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
                                        timeout=claims.POLL_SECONDS if waiting else None)
                else:
                    ready = []
                    time.sleep(claims.POLL_SECONDS)
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
                claims.release(runs_dir, run.run_id, token)
            raise
        return outcomes

    @staticmethod
    def _collect(ray: Any, ref: Any, run: PlannedRun, runs_dir: Path, token: str) -> RunOutcome:
        try:
            return RunOutcome(**ray.get(ref))
        except Exception as exc:  # the worker died or the task could not run: record it like a failure
            write_error(runs_dir, run.run_id, exc, label=run.label, config=run.config.to_dict())
            claims.release(runs_dir, run.run_id, token)  # the dead worker's claim, if it took one
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


__all__ = ["CLAIMED", "EXECUTORS", "Executor", "LocalExecutor", "OnWait", "RayExecutor", "RunOutcome",
           "execute_run", "make_executor", "register_executor"]
