"""Run directories that are either finished (``DONE`` present) or absent.

A run is built in a hidden sibling ``runs/.<digest>.partial-<pid>/`` and renamed onto
``runs/<digest>/`` only after ``DONE`` has been written inside it, so a killed process never
leaves a directory that looks finished. Leftovers (partials of dead processes, a ``<digest>/``
without ``DONE`` from an older layout or a crash mid-install) are removed on the next attempt.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from contested.io import write_text

DONE = "DONE"


def is_finished(run_dir: str | os.PathLike) -> bool:
    """Whether ``run_dir`` holds a finished run (its ``DONE`` marker exists)."""
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
