"""Where a run stands: done, pending or failed, from its ``DONE`` and ``ERROR`` files (no torch).

A run is **done** when ``DONE`` exists. It is **failed** when it has no ``DONE`` but an ``ERROR``
file (JSON: the error, its type, the traceback, host, pid and time), written by the executor when
the run raised. Anything else is **pending**, including a run whose process was killed.
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
from typing import Any, NamedTuple

from contested.io import write_json
from contested.rundir.layout import DONE, ERROR


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
    """Status of ``runs_dir/<run_id>`` from its ``DONE`` and ``ERROR`` files.

    Returns
    -------
    RunState
        Done when ``DONE`` exists; failed (with the record's one-line error) when ``ERROR`` exists
        without ``DONE``; pending otherwise (no directory, a crashed or killed one).
    """
    run_dir = Path(runs_dir) / run_id
    if (run_dir / DONE).is_file():
        return RunState(run_id, Status.DONE)
    error = read_error(run_dir)
    if error is not None:
        return RunState(run_id, Status.FAILED, error.get("error") or "failed (no message)")
    return RunState(run_id, Status.PENDING)


def plan_states(run_ids: Iterable[str], *, runs_dir: str | os.PathLike) -> list[RunState]:
    """:func:`run_state` of every run id.

    Returns
    -------
    list of RunState
        One per run id, in order.
    """
    return [run_state(runs_dir, run_id) for run_id in run_ids]


def count_states(states: Iterable[RunState]) -> dict[str, int]:
    """Count runs by status.

    Returns
    -------
    dict
        ``{"done": n, "pending": n, "failed": n}`` (every status present, zeros included).
    """
    counts = {s.value: 0 for s in Status}
    for state in states:
        counts[state.status.value] += 1
    return counts


def read_error(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The ``ERROR`` record of a run directory.

    Returns
    -------
    dict or None
        The record; None without an ``ERROR`` file. An unreadable file still counts as failed:
        ``{"error": "unreadable ERROR file at <path>"}``; a JSON value that is not an object
        becomes ``{"error": str(value)}``.
    """
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
        leaves the earlier finished run untouched, as :func:`~contested.rundir.layout.building` does).
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


class Marks(NamedTuple):
    """Identity of a run directory's ``DONE`` and ``ERROR`` files (None: absent).

    Taken when a sweep plans its runs and again once a run is claimed, they tell whether another
    process finished (or failed) the run in between: a finished run directory is installed by a
    rename, so a rerun's ``DONE`` is a different file even with the same contents.
    """

    done: str | None
    error: str | None


def outcome_marks(runs_dir: str | os.PathLike, run_id: str) -> Marks:
    """:class:`Marks` of ``runs_dir/<run_id>`` now.

    Returns
    -------
    Marks
        ``"<inode>:<mtime ns>"`` of each of ``DONE`` and ``ERROR``, or None where absent.
    """
    run_dir = Path(runs_dir) / run_id
    return Marks(_identity(run_dir / DONE), _identity(run_dir / ERROR))


def _identity(path: Path) -> str | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return f"{st.st_ino}:{st.st_mtime_ns}"


__all__ = ["Marks", "RunState", "Status", "count_states", "outcome_marks", "plan_states", "read_error",
           "run_state", "write_error"]
