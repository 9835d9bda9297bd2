"""A run's claim record and what it says: who holds the run, and whether that owner is gone (no torch).

The record is the JSON in ``runs_dir/.<run_id>.claim`` (:class:`Claim`); a claim is **stale**
(:func:`is_stale`) when its owner is known to have exited (:func:`owner_gone`) or its heartbeat is
older than the timeout. How claims are taken, kept and released: :mod:`contested.experiments.claims`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from contested.rundir.layout import claim_file
from contested.rundir.owners import boot_id, pid_alive, pid_namespace, process_start

#: Seconds without a heartbeat after which any process may take a claim over.
DEFAULT_TIMEOUT = 600.0
#: Seconds between two looks at runs held by other processes while a sweep waits for them.
POLL_SECONDS = 2.0
#: Seconds after which another host's takeover lock is stale (a takeover takes milliseconds).
LOCK_TIMEOUT = 30.0


@dataclasses.dataclass(frozen=True)
class Claim:
    """One process's claim on one run.

    Attributes
    ----------
    run_id
        The claimed run.
    token
        Unique id of this claim (uuid4 hex); an unreadable claim file has ``""``.
    host
        ``socket.gethostname()`` of the owner.
    pid
        The owner's process id (0 when unknown).
    boot_id
        The owner host's Linux boot id (None elsewhere): with the host name it tells this host
        from another of the same name, and this boot from an earlier one.
    pid_ns
        The owner's Linux pid namespace (None elsewhere): containers that share a host name and
        a kernel but not their pids are different hosts as far as pids go.
    proc_start
        The owner process's start time in clock ticks since boot (Linux; None elsewhere), so a
        later process that reuses the pid is not mistaken for the owner.
    started, heartbeat
        When the claim was taken and last refreshed (seconds since the epoch, the owner's clock).
    """

    run_id: str
    token: str
    host: str
    pid: int
    boot_id: str | None
    pid_ns: str | None
    proc_start: int | None
    started: float
    heartbeat: float

    @classmethod
    def new(cls, run_id: str, token: str | None = None) -> Claim:
        """A claim of ``run_id`` by this process, started and refreshed now."""
        now = time.time()
        pid = os.getpid()
        return cls(run_id, token or uuid.uuid4().hex, socket.gethostname(), pid, boot_id(), pid_namespace(),
                   process_start(pid), now, now)

    def to_json(self) -> str:
        """The record as one line of JSON."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @property
    def since(self) -> str:
        """Local time the claim was taken, ``YYYY-MM-DD HH:MM:SS``."""
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))

    def describe(self) -> str:
        """``host, pid N, since YYYY-MM-DD HH:MM:SS``: who holds the run (for people)."""
        return f"{self.host}, pid {self.pid}, since {self.since}"


# --------------------------------------------------------------------------- who holds it


def same_host(claim: Claim) -> bool:
    """Whether ``claim`` was taken on this machine, in this boot, where this process sees its pid.

    Returns
    -------
    bool
        The host names match, and so do the boot ids and the pid namespaces where both are known.
    """
    if claim.host != socket.gethostname():
        return False
    return all(theirs is None or mine is None or theirs == mine
               for theirs, mine in ((claim.boot_id, boot_id()), (claim.pid_ns, pid_namespace())))


def owner_gone(claim: Claim) -> bool:
    """Whether the process that holds ``claim`` is known to have exited.

    Only a claim of this host can be checked: its pid is no process, a zombie, or a process
    started after the owner (pid reuse). Another host's owner is never known to be gone.

    Returns
    -------
    bool
        True when the owner has certainly exited.
    """
    if claim.pid <= 0 or not same_host(claim):
        return False
    if not pid_alive(claim.pid):
        return True
    return claim.proc_start is not None and process_start(claim.pid) not in (None, claim.proc_start)


def is_stale(claim: Claim, *, timeout: float = DEFAULT_TIMEOUT, now: float | None = None) -> bool:
    """Whether ``claim`` may be taken over.

    Parameters
    ----------
    claim
        A claim read from disk.
    timeout
        Seconds without a heartbeat after which a claim is stale whatever its host.
    now
        The current time (default :func:`time.time`).

    Returns
    -------
    bool
        True when its owner is gone (:func:`owner_gone`) or its heartbeat is older than
        ``timeout`` seconds.
    """
    now = time.time() if now is None else now
    return owner_gone(claim) or now - claim.heartbeat > timeout


# --------------------------------------------------------------------------- reading


def parse_claim(path: Path, run_id: str) -> Claim | None:
    """The claim in the file ``path`` (a claim file or a takeover lock); None when there is no such file.

    A file that cannot be read as a claim (being written without hard links, damaged) is a claim
    of an unknown owner whose heartbeat is the file's modification time: it goes stale after the
    timeout.
    """
    try:
        text = path.read_text(encoding="utf-8")
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    except OSError:
        text, mtime = "", time.time()
    try:
        record: Any = json.loads(text)
        fields = [f.name for f in dataclasses.fields(Claim)]
        if not isinstance(record, dict) or not set(fields) <= set(record):
            raise ValueError
        values = {name: record[name] for name in fields}  # later versions may add keys
        return Claim(**{**values, "pid": int(values["pid"]), "started": float(values["started"]),
                        "heartbeat": float(values["heartbeat"])})
    except (TypeError, ValueError):
        return Claim(run_id, "", "unknown host", 0, None, None, None, mtime, mtime)


def read_claim(runs_dir: str | os.PathLike, run_id: str) -> Claim | None:
    """The claim on ``run_id`` in ``runs_dir``, live or stale.

    Returns
    -------
    Claim or None
        None when the run is not claimed.
    """
    return parse_claim(claim_file(runs_dir, run_id), run_id)


def live_claim(runs_dir: str | os.PathLike, run_id: str, *, timeout: float = DEFAULT_TIMEOUT) -> Claim | None:
    """The claim on ``run_id`` if it is held by a live owner.

    Returns
    -------
    Claim or None
        None when the run is unclaimed or its claim is stale (:func:`is_stale`).
    """
    claim = read_claim(runs_dir, run_id)
    return None if claim is None or is_stale(claim, timeout=timeout) else claim


def live_claims(runs_dir: str | os.PathLike, run_ids: Iterable[str], *,
                timeout: float = DEFAULT_TIMEOUT) -> dict[str, Claim]:
    """:func:`live_claim` of several runs.

    Returns
    -------
    dict
        ``{run_id: claim}`` of the runs held by live owners.
    """
    found = {run_id: live_claim(runs_dir, run_id, timeout=timeout) for run_id in run_ids}
    return {run_id: claim for run_id, claim in found.items() if claim is not None}


__all__ = ["DEFAULT_TIMEOUT", "LOCK_TIMEOUT", "POLL_SECONDS", "Claim", "is_stale", "live_claim",
           "live_claims", "owner_gone", "parse_claim", "read_claim", "same_host"]
