"""Experiments as declarative sweeps: YAML files → run configs → executors (local, Ray).

``load_sweep(path)`` expands a sweep file (``docs/experiments.md``) into runs;
``run_sweep(sweep, executor="local"|"ray")`` runs the ones without ``DONE``; ``plan_sweep`` and
``sweep_runs`` read where a sweep stands from its run directories.

Names are imported lazily (PEP 562): :mod:`contested.experiments.plan` and
:mod:`contested.experiments.manifest` need no torch, so reports can read a sweep without it.
"""

from __future__ import annotations

from contested._lazy import lazy_exports

_EXPORTS = {
    "ALIASES": "spec", "load_yaml": "spec",
    "PlannedRun": "sweep", "Resources": "sweep", "Sweep": "sweep", "expand": "sweep", "load_sweep": "sweep",
    "DONE": "plan", "ERROR": "plan", "RunState": "plan", "Status": "plan", "count_states": "plan",
    "plan_states": "plan", "read_error": "plan", "run_state": "plan", "write_error": "plan",
    "EXECUTORS": "executors", "Executor": "executors", "LocalExecutor": "executors",
    "RayExecutor": "executors", "RunOutcome": "executors", "execute_run": "executors",
    "make_executor": "executors", "register_executor": "executors",
    "SweepResult": "runner", "plan_sweep": "runner", "run_sweep": "runner", "runs_to_do": "runner",
    "RUN_COLUMNS": "manifest", "conditions": "manifest", "manifest_path": "manifest",
    "sweep_runs": "manifest", "write_manifest": "manifest",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
