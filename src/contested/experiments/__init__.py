"""Experiments as declarative sweeps: YAML files → run configs → executors (local, Ray).

``load_sweep(path)`` expands a sweep file (``docs/experiments.md``) into runs;
``run_sweep(sweep, executor="local"|"ray")`` runs the ones without ``DONE``; ``plan_sweep`` and
``sweep_runs`` read where a sweep stands from its run directories. A run's state (``run_state``,
``read_error``, ``write_error``, ``Status``) and conditions are :mod:`contested.rundir`'s.

Names are imported lazily (PEP 562): :mod:`contested.experiments.manifest` needs no torch, so
dashboards can read a sweep without it.
"""

from __future__ import annotations

from contested._lazy import lazy_exports

_EXPORTS = {
    "ALIASES": "spec", "SweepOptions": "options",
    "PlannedRun": "sweep", "Resources": "sweep", "Sweep": "sweep", "expand": "sweep", "load_sweep": "sweep",
    "EXECUTORS": "executors", "Executor": "executors", "LocalExecutor": "executors",
    "RayExecutor": "executors", "make_executor": "executors", "register_executor": "executors",
    "RunOutcome": "attempt", "execute_run": "attempt",
    "SweepResult": "runner", "plan_sweep": "runner", "run_sweep": "runner", "runs_to_do": "runner",
    "RUN_COLUMNS": "manifest", "manifest_path": "manifest",
    "sweep_runs": "manifest", "write_manifest": "manifest",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
