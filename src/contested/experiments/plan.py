"""Status of a sweep's runs, read from their directories: done, pending or failed.

A run is **done** when ``runs_dir/<run_id>/DONE`` exists (written last by the training layer,
after every artefact, and installed by an atomic rename). It is **failed** when it has no
``DONE`` but an ``ERROR`` file (JSON: the error, its type, the traceback, host, pid and time),
written by the executor when the run raised. Anything else is **pending**, including a run whose
process was killed: the training layer only ever leaves a hidden ``.<run_id>.partial-<pid>``
build folder behind, which the next attempt removes. Retrying a failed run removes its
``ERROR`` (the training layer clears an unfinished ``<run_id>/`` before it builds).

No torch here: reports and dashboards can call it.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import socket
import traceback
from collections.abc import Iterable
from enum import Enum
from pathlib import Path
from typing import Any

from contested.io import write_json

DONE = "DONE"  # the training layer's marker (contested.train.rundir.DONE; docs/ARCHITECTURE.md)
ERROR = "ERROR"


class Status(str, Enum):
    """Where a run stands."""

    DONE = "done"
    PENDING = "pending"
    FAILED = "failed"


@dataclasses.dataclass(frozen=True)
class RunState:
    """One run's status.

    Attributes
    ----------
    run_id
        The run's id (its directory name).
    status
        done, pending or failed.
    error
        One-line error of a failed run (else None).
    """

    run_id: str
    status: Status
    error: str | None = None


def run_state(runs_dir: str | os.PathLike, run_id: str) -> RunState:
    """Status of ``runs_dir/<run_id>`` from its ``DONE`` and ``ERROR`` files."""
    run_dir = Path(runs_dir) / run_id
    if (run_dir / DONE).is_file():
        return RunState(run_id, Status.DONE)
    error = read_error(run_dir)
    if error is not None:
        return RunState(run_id, Status.FAILED, error.get("error") or "failed (no message)")
    return RunState(run_id, Status.PENDING)


def plan_states(run_ids: Iterable[str], *, runs_dir: str | os.PathLike) -> list[RunState]:
    """:func:`run_state` of every run id, in order."""
    return [run_state(runs_dir, run_id) for run_id in run_ids]


def count_states(states: Iterable[RunState]) -> dict[str, int]:
    """``{"done": n, "pending": n, "failed": n}``."""
    counts = {s.value: 0 for s in Status}
    for state in states:
        counts[state.status.value] += 1
    return counts


def read_error(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The ``ERROR`` record of a run directory, or None. An unreadable file still counts as failed."""
    path = Path(run_dir) / ERROR
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"error": f"unreadable {ERROR} file at {path}"}
    return record if isinstance(record, dict) else {"error": str(record)}


def write_error(runs_dir: str | os.PathLike, run_id: str, exc: BaseException, *,
                label: str = "", config: dict[str, Any] | None = None) -> Path | None:
    """Record a failed run in ``runs_dir/<run_id>/ERROR`` (atomically), without a ``DONE``.

    Parameters
    ----------
    runs_dir, run_id
        Where the run's directory is.
    exc
        The exception the run raised.
    label
        The run's label in its sweep.
    config
        The run's config as a dict (so the failure can be reproduced from the record alone).

    Returns
    -------
    Path or None
        The ``ERROR`` file; None when the run directory is finished (a forced rerun that failed
        leaves the earlier finished run untouched, as the training layer does).
    """
    if (Path(runs_dir) / run_id / DONE).is_file():
        return None
    message = " ".join(str(exc).split()) or type(exc).__name__
    record = {
        "run_id": run_id, "label": label, "error": f"{type(exc).__name__}: {message}",
        "type": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        "host": socket.gethostname(), "pid": os.getpid(),
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "config": config,
    }
    return write_json(Path(runs_dir) / run_id / ERROR, record)


__all__ = ["DONE", "ERROR", "RunState", "Status", "count_states", "plan_states", "read_error", "run_state",
           "write_error"]
