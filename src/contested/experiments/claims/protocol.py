"""Taking, keeping and releasing a run's claim: atomic create, takeover, heartbeat, release (no torch).

The protocol is :mod:`contested.experiments.claims`'s docstring; the record it writes and reads is
:mod:`contested.experiments.claims.record`'s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

from contested.experiments.claims.record import (
    DEFAULT_TIMEOUT,
    LOCK_TIMEOUT,
    Claim,
    is_stale,
    parse_claim,
)
from contested.rundir.layout import claim_file

_NO_LINK = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS}


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
    held = parse_claim(path, run_id)
    if held is None or held.token != token:
        return False
    aside = _companion(path, "aside")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False
    try:
        got = parse_claim(aside, run_id)
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
        other = parse_claim(lock, run_id)
        lock_timeout = min(timeout, LOCK_TIMEOUT)
        if other is not None and is_stale(other, timeout=lock_timeout):
            _remove_if(lock, run_id, other.token, timeout=lock_timeout)  # its holder died mid-takeover
        else:
            time.sleep(0.01)  # another process is taking the claim over: look again shortly
        return
    try:
        held = parse_claim(path, run_id)
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
        None when another live process holds the run (see :func:`~contested.experiments.claims.record.live_claim`).
    """
    path = claim_file(runs_dir, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    mine = Claim.new(run_id, token)
    for _ in range(300):  # each round settles, or waits ~10 ms for another process's takeover
        held = parse_claim(path, run_id)
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
    held = parse_claim(path, claim.run_id)
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


__all__ = ["Heartbeat", "heartbeat_interval", "holding", "refresh", "release", "try_claim"]
