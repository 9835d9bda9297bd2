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
dashboards read through them. This module sits beside :mod:`contested.io` at the bottom of the
package: it imports no torch and no other layer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import os
import shutil
import socket
import traceback
from collections.abc import Iterable, Iterator
from enum import Enum
from pathlib import Path
from typing import Any

from contested.errors import located
from contested.io import write_json, write_text

CONFIG = "config.json"
ENV = "env.json"
ITEMS = "items.parquet"
DYNAMICS = "dynamics.parquet"
NOISE = "noise.parquet"
METRICS = "metrics.json"
DONE = "DONE"
ERROR = "ERROR"
#: Files every finished run has (``noise.parquet`` is not required: older runs lack it).
RUN_FILES: tuple[str, ...] = (CONFIG, ENV, ITEMS, DYNAMICS, METRICS)
#: Folder of sweep manifests inside a runs directory (never a run itself).
MANIFEST_DIR = "sweeps"
#: Suffix of a run's claim file ``<runs_dir>/.<run_id>.claim`` (hidden, so never a run).
CLAIM = ".claim"


def claim_file(runs_dir: str | os.PathLike, run_id: str) -> Path:
    """Where the claim of run ``run_id`` lives: ``runs_dir/.<run_id>.claim``.

    A sibling of the run directory, not inside it: the run directory is replaced by one rename
    when the run finishes, and the claim must outlive that. Its temporary and set-aside
    companions are ``.<run_id>.claim.<suffix>`` (see :mod:`contested.experiments.claims`).

    Returns
    -------
    Path
        The claim file's path (it need not exist).
    """
    return Path(runs_dir) / f".{run_id}{CLAIM}"


# --------------------------------------------------------------------------- building a run


def is_finished(run_dir: str | os.PathLike) -> bool:
    """Whether ``run_dir`` holds a finished run.

    Returns
    -------
    bool
        True when its ``DONE`` marker exists.
    """
    return (Path(run_dir) / DONE).is_file()


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own leftovers: this process is not building it any more
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clear_unfinished(runs_dir: Path, digest: str) -> list[Path]:
    """Remove ``runs_dir/<digest>`` if it lacks ``DONE`` and partials of dead processes.

    Returns
    -------
    list of Path
        What was removed.
    """
    removed = []
    final = runs_dir / digest
    if final.exists() and not is_finished(final):
        shutil.rmtree(final)
        removed.append(final)
    for partial in runs_dir.glob(f".{digest}.partial-*"):
        try:
            pid = int(partial.name.rsplit("-", 1)[1])
        except ValueError:
            continue
        if not _pid_alive(pid):
            shutil.rmtree(partial, ignore_errors=True)
            removed.append(partial)
    return removed


@contextlib.contextmanager
def building(runs_dir: str | os.PathLike, digest: str) -> Iterator[Path]:
    """Yield an empty build directory; on success install it as ``runs_dir/<digest>``.

    The body writes every artefact into the yielded directory; ``DONE`` is written here, last,
    and the directory is renamed into place (replacing an older finished run when forced).
    Any exception removes the build directory and leaves ``runs_dir/<digest>`` untouched.

    Yields
    ------
    Path
        The hidden build directory ``runs_dir/.<digest>.partial-<pid>``.
    """
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    clear_unfinished(runs_dir, digest)
    tmp = runs_dir / f".{digest}.partial-{os.getpid()}"
    tmp.mkdir()
    try:
        yield tmp
        write_text(tmp / DONE, "")
        final = runs_dir / digest
        old = runs_dir / f".{digest}.old-{os.getpid()}"
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def find_finished(root: str | os.PathLike) -> list[Path]:
    """Finished run directories at or under ``root``, at any depth.

    Hidden folders (``.<digest>.partial-<pid>/`` builds, ``.<digest>.old-<pid>/`` replaced runs)
    are never runs, nor is anything inside them.

    Returns
    -------
    list of Path
        Every directory holding a ``DONE`` file, sorted, as found under ``root`` (not resolved).
    """
    root = Path(root)
    return sorted(p.parent for p in root.rglob(DONE)
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts[:-1]))


# --------------------------------------------------------------------------- run state


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
        leaves the earlier finished run untouched, as :func:`building` does).
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


# --------------------------------------------------------------------------- reading a run


def read_json(run_dir: str | os.PathLike, name: str) -> dict[str, Any]:
    """Read one JSON file of a run directory (``config.json``, ``env.json``, ``metrics.json``).

    Returns
    -------
    dict
        The parsed JSON object.

    Raises
    ------
    ContestedError
        The file is missing, is not valid JSON (with its line), or holds no JSON object.
    """
    path = Path(run_dir) / name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise located(path, "missing; the run is damaged, rerun it") from None
    except json.JSONDecodeError as exc:
        raise located(path, f"not valid JSON ({exc.msg}); the run is damaged, rerun it", line=exc.lineno) from None
    if not isinstance(data, dict):
        raise located(path, "expected a JSON object; the run is damaged, rerun it")
    return data


def read_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    """A run's ``config.json``.

    Returns
    -------
    dict
        ``RunConfig.to_dict()`` of the run (plain JSON; build a ``RunConfig`` with
        ``RunConfig.from_dict`` where torch is at hand).

    Raises
    ------
    ContestedError
        Missing, not valid JSON, or not an object (see :func:`read_json`).
    """
    return read_json(run_dir, CONFIG)


def recorded_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The config a run directory records, finished or failed, without raising.

    Returns
    -------
    dict
        Its ``config.json`` when readable and non-empty, else the ``config`` of its ``ERROR``
        record, else ``{}``.
    """
    try:
        config = json.loads((Path(run_dir) / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = None
    return config or (read_error(run_dir) or {}).get("config") or {}


def conditions(config: dict[str, Any]) -> dict[str, Any]:
    """Condition columns of a run from its ``config.json`` dict.

    ``rank`` is the LoRA rank for ``lora`` runs and None otherwise (full fine-tuning and IA³ have
    no rank); ``noise_rate`` is 0.0 for runs without noise (or from before noise existed).

    Returns
    -------
    dict
        ``model, method, rank, dataset, seed, training_label, soft_labels, noise_kind,
        noise_rate, mitigation`` (:func:`mitigation`; ``none`` for runs from before mitigations
        existed) ``, lr, bulk, epochs`` (None where the config lacks the field).
    """
    method = config.get("method") or {}
    data = config.get("data") or {}
    train = config.get("train") or {}
    noise = data.get("noise") or {}
    return {
        "model": config.get("model"), "method": method.get("method"),
        "rank": method.get("rank") if method.get("method") == "lora" else None,
        "dataset": data.get("dataset"), "seed": train.get("seed"),
        "training_label": data.get("training_label"), "soft_labels": train.get("soft_labels"),
        "noise_kind": noise.get("kind") if noise.get("rate") else None,
        "noise_rate": float(noise.get("rate") or 0.0), "mitigation": mitigation(config), "lr": train.get("lr"),
        "bulk": data.get("bulk"), "epochs": train.get("epochs"),
    }


def mitigation(config: dict[str, Any]) -> str:
    """``none`` or the run's training-loss mitigations, e.g. ``soft[contested]`` or ``entropy-weighted+ls0.1``.

    Soft targets (``data.training_label: soft``, optionally only for ``data.soft_bins``), item
    weighting (``train.item_weighting``: entropy or per-bin weights) and label smoothing
    (``train.label_smoothing``); docs/training.md, "Mitigations".
    """
    data, train = config.get("data") or {}, config.get("train") or {}
    parts = []
    if data.get("training_label") == "soft":
        bins = data.get("soft_bins")
        parts.append(f"soft[{','.join(bins)}]" if bins else "soft")
    weighting = train.get("item_weighting") or "none"
    if weighting == "entropy":
        parts.append("entropy-weighted")
    elif weighting == "bins":
        parts.append("bin-weighted[" + ",".join(f"{float(w):g}" for w in train.get("bin_weights") or ()) + "]")
    if train.get("label_smoothing"):
        parts.append(f"ls{float(train['label_smoothing']):g}")
    return "+".join(parts) or "none"


__all__ = [
    "CLAIM", "CONFIG", "DONE", "DYNAMICS", "ENV", "ERROR", "ITEMS", "MANIFEST_DIR", "METRICS", "NOISE", "RUN_FILES",
    "RunState", "Status", "building", "claim_file", "clear_unfinished", "conditions", "count_states", "find_finished",
    "is_finished", "mitigation", "plan_states", "read_config", "read_error", "read_json", "recorded_config", "run_state",
    "write_error",
]
