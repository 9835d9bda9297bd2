"""Run claims: several sweep processes on one runs directory train each run once (no torch).

Before a run is trained, the process that trains it takes the run's **claim**, the hidden file
``runs_dir/.<run_id>.claim`` (:func:`contested.rundir.claim_file`), holding JSON::

    {"run_id": ..., "token": "<uuid4 hex>", "host": ..., "pid": ..., "boot_id": ..., "pid_ns": ...,
     "proc_start": ..., "started": <epoch s>, "heartbeat": <epoch s>}

Protocol (only ``link``, ``rename`` and ``unlink``, which are atomic on local disks and on NFS;
no ``flock``/``fcntl`` locks, which NFS serves only with a lock daemon):

* **create** (:func:`try_claim`): the record is written to a unique temporary file and
  hard-linked to the claim's name; ``link`` fails when the name exists, so of any number of
  processes exactly one creates the claim, and nobody ever sees a half-written one. (Where the
  filesystem has no hard links, ``open(O_CREAT | O_EXCL)`` is used instead.)
* **heartbeat** (:class:`Heartbeat`): while the run trains, a daemon thread rewrites the record
  with a new ``heartbeat`` time every :func:`heartbeat_interval` seconds (temporary file +
  ``rename``), after checking that the claim is still its own.
* **stale** (:func:`is_stale`): a claim whose owner is gone may be taken over. The owner is gone
  when the claim names this host (host name, boot id and pid namespace) and its pid is no
  process (or a zombie, or a newer process that reuses the pid); on any host, when its heartbeat
  is older than the timeout (``contested sweep --claim-timeout``, default
  :data:`DEFAULT_TIMEOUT` s).
* **takeover**: one process at a time (the holder of the run's takeover lock,
  ``.<run_id>.claim.takeover``, created the same exclusive way) re-reads the claim, renames it to
  a unique name, checks that it is the very claim judged stale (same token, still stale; if not,
  it is put back), removes it, and then claims the run afresh by the create above. Of processes
  racing to take over a claim exactly one wins: the others find the lock taken, then the new
  claim live. (A lock whose holder died is stale like a claim, after at most
  :data:`LOCK_TIMEOUT` s.)
* **release** (:func:`release`): after the run's ``DONE`` or ``ERROR`` is written, the owner
  removes its claim the same way (set aside, check the token, unlink), so it never removes a claim
  that another process took over meanwhile.

Heartbeat times are wall-clock times of the writing host: hosts sharing a runs directory need
clocks that agree to well within the timeout (NTP does).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import json
import os
import socket
import threading
import time
import uuid
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from contested.rundir import DONE, ERROR, claim_file

#: Seconds without a heartbeat after which any process may take a claim over.
DEFAULT_TIMEOUT = 600.0
#: Seconds between two looks at runs held by other processes while a sweep waits for them.
POLL_SECONDS = 2.0
#: Seconds after which another host's takeover lock is stale (a takeover takes milliseconds).
LOCK_TIMEOUT = 30.0
_NO_LINK = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS}


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
        return cls(run_id, token or uuid.uuid4().hex, socket.gethostname(), pid, _boot_id(), _pid_ns(),
                   _process_start(pid), now, now)

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


# --------------------------------------------------------------------------- who is alive


@functools.cache
def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


@functools.cache
def _pid_ns() -> str | None:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name (field 3 first), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[-1].split()


def _process_start(pid: int) -> int | None:
    fields = _proc_stat(pid)
    try:
        return int(fields[19]) if fields else None  # field 22: starttime
    except (IndexError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return True  # cannot tell: assume alive (the heartbeat decides)
    fields = _proc_stat(pid)
    return not (fields and fields[0] in ("Z", "X"))  # a killed, not yet reaped process is gone


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
               for theirs, mine in ((claim.boot_id, _boot_id()), (claim.pid_ns, _pid_ns())))


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
    if not _pid_alive(claim.pid):
        return True
    return claim.proc_start is not None and _process_start(claim.pid) not in (None, claim.proc_start)


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


def _parse(path: Path, run_id: str) -> Claim | None:
    """The claim in ``path``; None when there is no such file.

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
    return _parse(claim_file(runs_dir, run_id), run_id)


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


# --------------------------------------------------------------------------- atomic file steps


def _companion(path: Path, kind: str) -> Path:
    """A unique sibling ``.<run_id>.claim.<uuid>.<kind>`` of the claim file."""
    return path.with_name(f"{path.name}.{uuid.uuid4().hex}.{kind}")


def _create(path: Path, text: str) -> bool:
    """Create ``path`` holding ``text`` if it does not exist, atomically; False when it exists."""
    tmp = _companion(path, "tmp")
    tmp.write_text(text, encoding="utf-8")
    try:
        try:
            os.link(tmp, path)
            return True
        except OSError as exc:
            # NFS: the reply to a link that succeeded can be lost (and the retry see EEXIST); the
            # temporary file's link count tells.
            with contextlib.suppress(OSError):
                if tmp.stat().st_nlink == 2:
                    return True
            if isinstance(exc, FileExistsError):
                return False
            if exc.errno not in _NO_LINK:
                raise
        try:  # no hard links on this filesystem: exclusive create (readers tolerate a partial file)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        return True
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _remove_if(path: Path, run_id: str, token: str, *, timeout: float | None = None) -> bool:
    """Remove the claim at ``path`` if it is the one with ``token`` (and stale, given ``timeout``).

    The claim is first renamed to a unique name (of several processes exactly one rename
    succeeds), then checked; a claim that is not the expected one is put back.

    Returns
    -------
    bool
        True when this call removed the expected claim.
    """
    held = _parse(path, run_id)
    if held is None or held.token != token:
        return False
    aside = _companion(path, "aside")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False
    try:
        got = _parse(aside, run_id)
        if got is not None and got.token == token and (timeout is None or is_stale(got, timeout=timeout)):
            return True
        # Not the claim we meant (refreshed, or already replaced): put it back unless a new one exists.
        with contextlib.suppress(FileNotFoundError):
            _create(path, aside.read_text(encoding="utf-8"))
        return False
    finally:
        with contextlib.suppress(OSError):
            aside.unlink()


def _take_over(path: Path, run_id: str, stale: Claim, timeout: float) -> None:
    """Remove the stale claim ``stale`` at ``path``, one process at a time (the takeover lock's holder).

    Without the lock, a slow taker could set aside the claim that a faster one had just created
    after its own takeover. Whoever removes the stale claim, the caller next tries to create its
    own claim (exclusively), so exactly one process ends up holding the run.
    """
    lock = path.with_name(f"{path.name}.takeover")
    me = Claim.new(run_id)
    if not _create(lock, me.to_json()):
        other = _parse(lock, run_id)
        lock_timeout = min(timeout, LOCK_TIMEOUT)
        if other is not None and is_stale(other, timeout=lock_timeout):
            _remove_if(lock, run_id, other.token, timeout=lock_timeout)  # its holder died mid-takeover
        else:
            time.sleep(0.01)  # another process is taking the claim over: look again shortly
        return
    try:
        held = _parse(path, run_id)
        if held is not None and held.token == stale.token and is_stale(held, timeout=timeout):
            _remove_if(path, run_id, stale.token, timeout=timeout)
    finally:
        _remove_if(lock, run_id, me.token)


def _sweep_leftovers(path: Path, timeout: float) -> None:
    """Remove temporary/set-aside companions of ``path`` that a killed process left behind."""
    cutoff = time.time() - max(timeout, 60.0)
    for leftover in path.parent.glob(f"{path.name}.*"):
        with contextlib.suppress(OSError):
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()


# --------------------------------------------------------------------------- taking, keeping, releasing


def try_claim(runs_dir: str | os.PathLike, run_id: str, *, timeout: float = DEFAULT_TIMEOUT,
              token: str | None = None) -> Claim | None:
    """Claim ``run_id`` for this process unless a live owner holds it; take over a stale claim.

    Parameters
    ----------
    runs_dir
        The runs directory (created if missing).
    run_id
        The run to claim.
    timeout
        Heartbeat age after which another host's claim is stale (seconds).
    token
        This claim's id (default: a new uuid4); a claim already holding ``token`` is returned as is.

    Returns
    -------
    Claim or None
        The new claim (refresh it with a :class:`Heartbeat`, remove it with :func:`release`), or
        None when another live process holds the run (see :func:`live_claim`).
    """
    path = claim_file(runs_dir, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    mine = Claim.new(run_id, token)
    for _ in range(300):  # each round settles, or waits ~10 ms for another process's takeover
        held = _parse(path, run_id)
        if held is None:
            if _create(path, mine.to_json()):
                _sweep_leftovers(path, timeout)
                return mine
            continue
        if held.token == mine.token:
            return held
        if not is_stale(held, timeout=timeout):
            return None
        _take_over(path, run_id, held, timeout)  # whoever removes it, try to create next
    return None  # a takeover elsewhere is still under way: treat the run as held


def refresh(runs_dir: str | os.PathLike, claim: Claim) -> Claim | None:
    """Rewrite ``claim`` with the current time as its heartbeat, if it is still this claim.

    Returns
    -------
    Claim or None
        The refreshed claim; None when the claim file is gone or holds another claim (it was
        taken over: this process was thought dead).
    """
    path = claim_file(runs_dir, claim.run_id)
    held = _parse(path, claim.run_id)
    if held is None or held.token != claim.token:
        return None
    fresh = dataclasses.replace(claim, heartbeat=time.time())
    tmp = _companion(path, "tmp")
    tmp.write_text(fresh.to_json(), encoding="utf-8")
    os.replace(tmp, path)
    return fresh


def release(runs_dir: str | os.PathLike, run_id: str, token: str) -> bool:
    """Remove this process's claim on ``run_id`` (the claim with ``token``); leave any other.

    Returns
    -------
    bool
        True when the claim was removed; False when the run held no claim with ``token``.
    """
    return _remove_if(claim_file(runs_dir, run_id), run_id, token)


def heartbeat_interval(timeout: float) -> float:
    """Seconds between heartbeats for a claim timeout: a tenth of it, within [0.01, 60].

    Returns
    -------
    float
        Ten heartbeats fit in one timeout (60 s for the default 600 s timeout).
    """
    return min(60.0, max(0.01, timeout / 10.0))


class Heartbeat:
    """A daemon thread that refreshes a claim every ``interval`` seconds until :meth:`stop`.

    Parameters
    ----------
    runs_dir
        Where the claim is.
    claim
        The claim to keep fresh (from :func:`try_claim`).
    interval
        Seconds between refreshes (see :func:`heartbeat_interval`).

    Attributes
    ----------
    lost : bool
        True once the claim was found taken over; the thread then stops (the run still finishes:
        its result is installed atomically and equals the other process's).
    """

    def __init__(self, runs_dir: str | os.PathLike, claim: Claim, *, interval: float) -> None:
        self.runs_dir, self.claim, self.interval = runs_dir, claim, interval
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"claim-heartbeat-{claim.run_id}", daemon=True)

    def start(self) -> Heartbeat:
        """Start refreshing; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop refreshing (waits for the thread)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                fresh = refresh(self.runs_dir, self.claim)
            except OSError:  # a storage hiccup: try again at the next beat
                continue
            if fresh is None:
                self.lost = True
                warnings.warn(f"run {self.claim.run_id}: this process's claim was taken over by another "
                              "process (no heartbeat for longer than the claim timeout)", RuntimeWarning,
                              stacklevel=1)
                return
            self.claim = fresh


@contextlib.contextmanager
def holding(runs_dir: str | os.PathLike, run_id: str, *, timeout: float = DEFAULT_TIMEOUT,
            token: str | None = None) -> Iterator[Claim | None]:
    """Claim ``run_id`` for the body, keep the claim fresh, and release it afterwards.

    Parameters
    ----------
    runs_dir, run_id, timeout, token
        As :func:`try_claim`.

    Yields
    ------
    Claim or None
        This process's claim while the body runs (a :class:`Heartbeat` refreshes it; it is
        released when the body ends, however it ends), or None when a live process holds the run
        (then nothing is claimed or released).
    """
    claim = try_claim(runs_dir, run_id, timeout=timeout, token=token)
    if claim is None:
        yield None
        return
    beat = Heartbeat(runs_dir, claim, interval=heartbeat_interval(timeout)).start()
    try:
        yield claim
    finally:
        beat.stop()
        release(runs_dir, run_id, claim.token)


__all__ = ["DEFAULT_TIMEOUT", "LOCK_TIMEOUT", "POLL_SECONDS", "Claim", "Heartbeat", "Marks", "heartbeat_interval", "holding",
           "is_stale", "live_claim", "live_claims", "outcome_marks", "owner_gone", "read_claim", "refresh",
           "release", "same_host", "try_claim"]
