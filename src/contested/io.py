"""Atomic file writes: a killed process never leaves a half-written file that looks complete.

Every artefact is written to a temporary sibling and moved into place with :func:`os.replace`,
which is atomic on POSIX file systems; a folder is built in a hidden sibling and renamed onto its
name when complete (:func:`building_dir`, :func:`replace_dir`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from contested.errors import ContestedError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; artefacts get the permissions a plain open() would give them.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def replace_dir(staged: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Move the complete folder ``staged`` onto ``target`` in one rename (same file system).

    An existing ``target`` is first set aside as the hidden sibling ``.<name>.old-<pid>`` and
    removed once the new folder is in place; should the rename fail, it is put back.

    Returns
    -------
    Path
        ``target``.
    """
    staged, target = Path(staged), Path(target)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    try:
        os.replace(staged, target)
    except OSError:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


@contextlib.contextmanager
def building_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty hidden build folder beside ``target``; when the block succeeds it replaces ``target``.

    The build folder is ``.<name>.partial-<pid>`` (a leftover of this process is removed first);
    on success it is renamed onto ``target`` (:func:`replace_dir`), on an exception it is removed
    and ``target`` is left as it was.

    Yields
    ------
    Path
        The build folder.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented, key-sorted JSON, atomically."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a table atomically; the format follows the suffix (``.parquet``, ``.csv``, ``.jsonl``).

    CSV and JSONL cells holding lists (e.g. ``label_counts``) are written as JSON arrays.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in {".parquet", ".csv", ".jsonl"}:
        raise ContestedError(f"{path}: unknown output format '{suffix}'; use .parquet, .csv or .jsonl")
    with atomic_path(path) as tmp:
        if suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        elif suffix == ".csv":
            _jsonify_lists(df).to_csv(tmp, index=False)
        else:
            df.to_json(tmp, orient="records", lines=True, force_ascii=False)
    return path


def _jsonify_lists(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object and out[col].map(lambda v: hasattr(v, "__len__") and not isinstance(v, str)).any():
            out[col] = out[col].map(lambda v: json.dumps(list(v)) if v is not None and not isinstance(v, str) else v)
    return out


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
