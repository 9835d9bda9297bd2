"""The run-directory contract: file names, atomic install, run state, a run's config (no torch).

One run is one directory ``<runs_dir>/<run_id>/`` (the run id is its config's digest) holding

================  ====================================================================
:data:`CONFIG`    ``config.json``: the resolved ``RunConfig`` (``RunConfig.to_dict()``)
:data:`ENV`       ``env.json``: provenance and seeds
:data:`ITEMS`     ``items.parquet``: tracked and validation item tables
:data:`DYNAMICS`  ``dynamics.parquet``: the long-form dynamics table
:data:`NOISE`     ``noise.parquet``: the flipped training labels (absent in older runs)
:data:`METRICS`   ``metrics.json``: per-epoch metrics, step counts, wall time
:data:`DONE`      empty marker, written last: the run is finished
:data:`ERROR`     JSON record of a failed attempt (never next to ``DONE``)
================  ====================================================================

and a sweep's manifests live beside the runs in ``<runs_dir>/sweeps/`` (:data:`MANIFEST_DIR`).
While a process trains a run it holds the run's claim, a hidden sibling file
``<runs_dir>/.<run_id>.claim`` (:func:`claim_file`; JSON: host, pid, start and heartbeat times),
so that several sweep processes sharing one runs directory train each run once; the protocol
(atomic create, heartbeat, takeover, release) is :mod:`contested.experiments.claims`'s.

A run is built in a hidden sibling ``runs/.<digest>.partial-<pid>/`` and renamed onto
``runs/<digest>/`` only after ``DONE`` has been written inside it, so a killed process never
leaves a directory that looks finished. Leftovers (partials of dead processes, a ``<digest>/``
without ``DONE`` from an older layout or a crash mid-install) are removed on the next attempt.

A run is **done** when ``DONE`` exists. It is **failed** when it has no ``DONE`` but an
``ERROR`` file (JSON: the error, its type, the traceback, host, pid and time), written by the
executor when the run raised. Anything else is **pending**, including a run whose process was
killed. Retrying a failed run removes its ``ERROR`` (:func:`building` clears an unfinished
``<run_id>/`` before it builds).

The training layer writes through :func:`building` and these names; sweeps, reports and
dashboards read through them. This package sits beside :mod:`contested.io` at the bottom of the
package: it imports no torch and no other layer.

Modules: :mod:`~contested.rundir.layout` (the file names, the atomic install, finding finished
runs), :mod:`~contested.rundir.owners` (whether the process that owns a build folder or a claim is
alive), :mod:`~contested.rundir.state` (done / pending / failed, the ``ERROR`` record) and
:mod:`~contested.rundir.reading` (a run's config and its condition columns). Every name is also
importable from ``contested.rundir`` itself (lazily).
"""

from __future__ import annotations

from contested._lazy import lazy_exports

_EXPORTS = {
    "CLAIM": "layout", "CONFIG": "layout", "DONE": "layout", "DYNAMICS": "layout", "EARLY_WARNING": "layout", "ENV": "layout", "ERROR": "layout", "ITEMS": "layout", "MANIFEST_DIR": "layout", "METRICS": "layout", "NOISE": "layout", "RUN_FILES": "layout", "building": "layout", "claim_file": "layout", "clear_unfinished": "layout", "find_finished": "layout", "is_finished": "layout",
    "Marks": "state", "RunState": "state", "Status": "state", "count_states": "state", "outcome_marks": "state", "plan_states": "state", "read_error": "state", "run_state": "state", "write_error": "state",
    "conditions": "reading", "mitigation": "reading", "read_config": "reading", "read_json": "reading", "recorded_config": "reading",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
