"""The run directory's layout: file names, the atomic install of a run, finding finished runs (no torch).

One run is one directory ``<runs_dir>/<run_id>/`` (the run id is its config's digest); the names
below are its files (the table is :mod:`contested.rundir`'s docstring). A run is built in a hidden
sibling ``runs/.<digest>.partial-<pid>/`` and renamed onto ``runs/<digest>/`` only after ``DONE``
has been written inside it (:func:`building`), so a killed process never leaves a directory that
looks finished; leftovers are removed on the next attempt (:func:`clear_unfinished`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from contested.io import building_dir, write_text
from contested.rundir.owners import pid_alive

CONFIG = "config.json"
ENV = "env.json"
ITEMS = "items.parquet"
DYNAMICS = "dynamics.parquet"
NOISE = "noise.parquet"
METRICS = "metrics.json"
DONE = "DONE"
ERROR = "ERROR"
#: The early warning written while training (optional: only runs with ``--early-warning`` have it).
EARLY_WARNING = "early_warning.parquet"
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


def is_finished(run_dir: str | os.PathLike) -> bool:
    """Whether ``run_dir`` holds a finished run.

    Returns
    -------
    bool
        True when its ``DONE`` marker exists.
    """
    return (Path(run_dir) / DONE).is_file()


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
        if pid == os.getpid() or not pid_alive(pid):  # our own leftovers: no longer being built
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
    with building_dir(runs_dir / digest) as tmp:
        yield tmp
        write_text(tmp / DONE, "")


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


__all__ = ["CLAIM", "CONFIG", "DONE", "DYNAMICS", "EARLY_WARNING", "ENV", "ERROR", "ITEMS", "MANIFEST_DIR",
           "METRICS", "NOISE", "RUN_FILES", "building", "claim_file", "clear_unfinished", "find_finished",
           "is_finished"]
