"""Loaders: one per source format, each returning raw items ``(frame, label_names)``.

A raw frame has ``item_id, premise, hypothesis, label_counts, old_label``;
:func:`contested.data.entropy.build_item_table` turns it into the item table.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from contested.data.loaders._common import check_file, iter_jsonl, open_text
from contested.data.loaders.chaosnli import load_chaosnli
from contested.data.loaders.generic import load_generic
from contested.data.loaders.lewidi import TASKS as LEWIDI_TASKS
from contested.data.loaders.lewidi import load_lewidi
from contested.data.loaders.snli_jsonl import load_snli_jsonl
from contested.errors import ContestedError

FORMATS: tuple[str, ...] = ("chaosnli", "snli-jsonl", "generic", *(f"lewidi-{t}" for t in LEWIDI_TASKS))

__all__ = ["FORMATS", "detect_format", "iter_jsonl", "load_chaosnli", "load_file", "load_generic", "load_lewidi",
           "load_snli_jsonl"]


def detect_format(path: str | Path) -> str:
    """Guess a file's format from its suffix and first record.

    ``.json`` → LeWiDi (the task is guessed from the file name, e.g. ``ArMIS_dev.json``);
    ``.jsonl`` with ``label_counter`` (or ``uid`` + ``example``) → ChaosNLI, with ``annotator_labels`` → SNLI jsonl;
    anything else (``.csv``, ``.tsv``, other ``.jsonl``) → generic.
    """
    path = check_file(Path(path))
    suffix = path.suffix.lower()
    if suffix == ".json":
        name = path.name.lower().replace("_", "-")
        for task in LEWIDI_TASKS:
            if name.startswith(task):
                return f"lewidi-{task}"
        raise ContestedError(
            f"{path}: cannot tell which LeWiDi task this .json file holds; name it like "
            f"'ArMIS_dev.json' or prefix the path with one of {', '.join(FORMATS)} and ':'"
        )
    if suffix in (".jsonl", ".ndjson"):
        first = _first_record(path)
        if first is not None and ("label_counter" in first or {"uid", "example"} <= set(first)):
            return "chaosnli"
        if first is not None and "annotator_labels" in first:
            return "snli-jsonl"
    return "generic"


def load_file(path: str | Path, *, fmt: str | None = None) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Load raw items from ``path`` in format ``fmt`` (detected when None)."""
    fmt = fmt or detect_format(path)
    if fmt == "chaosnli":
        return load_chaosnli(path)
    if fmt == "snli-jsonl":
        return load_snli_jsonl(path)
    if fmt == "generic":
        return load_generic(path)
    if fmt.startswith("lewidi-") and fmt[len("lewidi-"):] in LEWIDI_TASKS:
        return load_lewidi(path, task=fmt[len("lewidi-"):])
    raise ContestedError(f"unknown file format '{fmt}'; use one of: {', '.join(FORMATS)}")


def _first_record(path: Path) -> dict | None:
    # Only a peek: a bad first line is reported (with its line number) by the real loader.
    with open_text(path, errors="replace") as fh:
        for line in fh:
            if line.strip():
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    return None
                return obj if isinstance(obj, dict) else None
    return None
