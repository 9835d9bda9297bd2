"""Executors run a sweep's pending runs: ``local`` (sequential, in this process) or ``ray``.

Every executor calls the same :func:`execute_run`, which trains one run into
``runs_dir/<run_id>/`` through :func:`contested.train.run` (``DONE`` written last, atomic
rename) and turns an exception into an ``ERROR`` record instead of stopping the sweep. Only
interrupts (Ctrl-C, ``SystemExit``) stop a sweep; a killed sweep leaves no finished-looking
directory, so running it again picks up exactly the runs without ``DONE``.

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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from contested.errors import ContestedError
from contested.experiments.sweep import PlannedRun
from contested.rundir import write_error

OnStart = Callable[[PlannedRun], None]
OnFinish = Callable[["RunOutcome"], None]
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
        ``done`` or ``failed``.
    error
        ``Type: message`` of a failed run (also in its ``ERROR`` file), else None.
    seconds
        Wall time of the attempt, in seconds.
    """

    run_id: str
    label: str
    status: str
    error: str | None = None
    seconds: float = 0.0


def execute_run(run: PlannedRun, *, runs_dir: str | os.PathLike, force: bool = False,
                callbacks: Sequence[Any] = ()) -> RunOutcome:
    """Train one run; record an exception as its ``ERROR`` instead of raising it.

    Parameters
    ----------
    run
        The planned run (its config's digest is the directory name).
    runs_dir
        Parent folder of the run directories.
    force
        Redo a finished run.
    callbacks
        Extra HF ``TrainerCallback``s passed to the training layer.

    Returns
    -------
    RunOutcome
        ``done`` or ``failed`` with the error. ``KeyboardInterrupt`` and ``SystemExit`` propagate.
    """
    from contested.train.pipeline import run as train_run

    started = time.perf_counter()
    try:
        train_run(run.config, runs_dir=runs_dir, force=force, progress=False, callbacks=callbacks)
    except Exception as exc:  # any failure of one run is recorded; the sweep carries on
        write_error(runs_dir, run.run_id, exc, label=run.label, config=run.config.to_dict())
        message = " ".join(str(exc).split()) or type(exc).__name__
        return RunOutcome(run.run_id, run.label, "failed", f"{type(exc).__name__}: {message}",
                          time.perf_counter() - started)
    return RunOutcome(run.run_id, run.label, "done", None, time.perf_counter() - started)


class Executor(abc.ABC):
    """Runs a list of planned runs; results land in ``runs_dir/<run_id>/``."""

    name: ClassVar[str] = ""

    @abc.abstractmethod
    def execute(self, runs: Sequence[PlannedRun], *, runs_dir: Path, force: bool = False,
                on_start: OnStart | None = None, on_finish: OnFinish | None = None) -> list[RunOutcome]:
        """Run ``runs`` (each once) and return their outcomes in completion order.

        ``on_start`` is called when a run starts (where the executor knows it), ``on_finish``
        with each outcome as soon as it is known.
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
                on_start: OnStart | None = None, on_finish: OnFinish | None = None) -> list[RunOutcome]:
        outcomes = []
        for run in runs:
            if on_start is not None:
                on_start(run)
            outcome = execute_run(run, runs_dir=runs_dir, force=force, callbacks=self.callbacks)
            _release_memory()
            outcomes.append(outcome)
            if on_finish is not None:
                on_finish(outcome)
        return outcomes


def _release_memory() -> None:
    """Free the finished run's model before the next one (one process runs them all)."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _ray_run(config: dict[str, Any], run_id: str, label: str, axes: dict[str, str], runs_dir: str,
             force: bool) -> dict[str, Any]:
    """Body of a Ray task: rebuild the config on the worker and train it."""
    from contested.experiments.sweep import Resources
    from contested.train.config import RunConfig

    run = PlannedRun(run_id=run_id, label=label, config=RunConfig.from_dict(config), axes=axes,
                     resources=Resources())
    if run.config.digest() != run_id:
        raise RuntimeError(f"run {run_id}: the worker resolves this config to {run.config.digest()}; "
                           "driver and workers must run the same contested version")
    return dataclasses.asdict(execute_run(run, runs_dir=runs_dir, force=force))


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
                on_start: OnStart | None = None, on_finish: OnFinish | None = None) -> list[RunOutcome]:
        try:
            import ray
        except ImportError:
            raise ContestedError("--executor ray needs Ray: pip install 'ray>=2.9'") from None
        started_here = self._connect(ray)
        try:
            if started_here:
                _check_capacity(ray, runs)
            return self._submit_and_wait(ray, runs, Path(runs_dir).resolve(), force, on_finish)
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
                         on_finish: OnFinish | None) -> list[RunOutcome]:
        # max_calls=1: a fresh worker per run, so GPU memory and global state never leak between runs.
        task = ray.remote(max_calls=1)(_ray_run)
        pending: dict[Any, PlannedRun] = {}
        for run in runs:
            ref = task.options(num_cpus=run.resources.num_cpus, num_gpus=run.resources.num_gpus,
                               max_retries=self.max_retries, name=f"contested:{run.label}"[:120]).remote(
                run.config.to_dict(), run.run_id, run.label, dict(run.axes), str(runs_dir), force)
            pending[ref] = run
        outcomes: list[RunOutcome] = []
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    run = pending.pop(ref)
                    outcome = self._collect(ray, ref, run, runs_dir)
                    outcomes.append(outcome)
                    if on_finish is not None:
                        on_finish(outcome)
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        return outcomes

    @staticmethod
    def _collect(ray: Any, ref: Any, run: PlannedRun, runs_dir: Path) -> RunOutcome:
        try:
            return RunOutcome(**ray.get(ref))
        except Exception as exc:  # the worker died or the task could not run: record it like a failure
            write_error(runs_dir, run.run_id, exc, label=run.label, config=run.config.to_dict())
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


__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "RayExecutor", "RunOutcome", "execute_run",
           "make_executor", "register_executor"]
