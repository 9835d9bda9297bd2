"""Whether the process that owns a build folder or a run's claim is still alive (no torch).

A build folder ``.<run_id>.partial-<pid>`` names its process; a claim
(:mod:`contested.experiments.claims`) records its owner's host, boot, pid namespace, pid and the
process's start time. These functions tell, on this host, whether such a process still runs: a pid
that is no process, or a zombie (killed, not yet reaped), is gone; the start time tells a later
process that reuses the pid from the owner. Linux's ``/proc`` gives boot id, pid namespace, state
and start time; elsewhere they are None and only ``kill(pid, 0)`` is asked.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path


@functools.cache
def boot_id() -> str | None:
    """This host's Linux boot id (a new one at every boot); None where there is none."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


@functools.cache
def pid_namespace() -> str | None:
    """This process's Linux pid namespace (e.g. ``pid:[4026531836]``); None where there is none."""
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


def process_start(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (Linux); None when unknown or no such process."""
    fields = _proc_stat(pid)
    try:
        return int(fields[19]) if fields else None  # field 22: starttime
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host may still be running.

    Returns
    -------
    bool
        False when there is no such process or it is a zombie; True when it runs, belongs to
        another user, or cannot be asked about (assume alive: a claim's heartbeat decides then).
    """
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


__all__ = ["boot_id", "pid_alive", "pid_namespace", "process_start"]
