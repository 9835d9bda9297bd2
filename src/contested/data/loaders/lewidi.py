"""LeWiDi 2023 (SemEval-2023 Task 11) JSON: HS-Brexit, MD-Agreement, ConvAbuse, ArMIS.

One JSON object per file, ``{"<item id>": {...}}``. Fields used: ``text``, ``annotations``
(comma-separated per-annotator codes), ``number of annotations`` (checked against the codes),
``hard_label`` (the organisers' majority, ties broken at random: kept as ``old_label``).

All four tasks are binary. ConvAbuse annotators give a severity in -3..1; following its
SOURCE.md, -3..-1 count as abusive (class 1) and 0..1 as not abusive (class 0). ConvAbuse's
``text`` is a JSON string of the conversation; the item's text is the annotated ``user`` turn.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from contested.data.loaders._common import check_counts, check_file, raw_frame, read_text
from contested.data.loaders._common import field as get_field
from contested.errors import ContestedError, located


@dataclass(frozen=True)
class LewidiTask:
    """How one LeWiDi task's annotation codes map to classes."""

    label_names: tuple[str, ...]
    codes: dict[str, int]
    text_key: str | None = None  # key inside a JSON-encoded ``text`` (ConvAbuse), else None


BINARY = {"0": 0, "1": 1}
TASKS: dict[str, LewidiTask] = {
    "hs-brexit": LewidiTask(("not_hate", "hate"), BINARY),
    "md-agreement": LewidiTask(("not_offensive", "offensive"), BINARY),
    "armis": LewidiTask(("not_misogynous", "misogynous"), BINARY),
    "convabuse": LewidiTask(("not_abusive", "abusive"),
                            {"-3": 1, "-2": 1, "-1": 1, "0": 0, "1": 0}, text_key="user"),
}


def load_lewidi(path: str | Path, *, task: str, id_prefix: str = "") -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Read one LeWiDi 2023 split file into raw items.

    Parameters
    ----------
    path
        e.g. ``ArMIS_dev.json``.
    task
        ``hs-brexit``, ``md-agreement``, ``armis`` or ``convabuse`` (selects the code → class map).
    id_prefix
        Prepended to each item key (the registry uses ``"<split>-"`` so ids stay unique when
        splits are combined).

    Returns
    -------
    (pandas.DataFrame, tuple of str)
        Raw items (``hypothesis`` is None: single-text tasks) and the two class names.
    """
    if task not in TASKS:
        raise ContestedError(f"unknown LeWiDi task '{task}'; known: {', '.join(TASKS)}")
    spec = TASKS[task]
    path = check_file(Path(path))
    text = read_text(path)
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys(path))
    except json.JSONDecodeError as exc:
        raise located(path, f"not valid JSON ({exc.msg}, column {exc.colno})", line=exc.lineno) from exc
    if not isinstance(data, dict):
        raise located(path, 'expected one JSON object {"<item id>": {...}, ...} (LeWiDi 2023 format)')
    records: list[dict[str, Any]] = []
    for key, item in data.items():
        where = f"item '{key}'"
        if not isinstance(item, dict):
            raise located(path, f"{where}: expected an object with 'text' and 'annotations'")
        raw_codes = get_field(item, "annotations", path, where=where)
        if not isinstance(raw_codes, str):
            raise located(path, f"{where}: 'annotations' must be a comma-separated string such as \"0,1,0\"")
        counts = [0] * len(spec.label_names)
        codes = [c.strip() for c in raw_codes.split(",")]
        for code in codes:
            idx = spec.codes.get(code)
            if idx is None:
                raise located(path, f"{where}: unknown label code '{code}' in 'annotations'; expected one of "
                              f"{', '.join(spec.codes)}")
            counts[idx] += 1
        stated = get_field(item, "number of annotations", path, where=where)
        check_counts(counts, path, where=where, stated=stated)
        records.append({
            "item_id": f"{id_prefix}{key}",
            "premise": _text(get_field(item, "text", path, where=where), spec, path, where),
            "hypothesis": None,
            "label_counts": counts,
            "old_label": _hard_label(item.get("hard_label"), path, where),
        })
    return raw_frame(records, path), spec.label_names


def _text(value: Any, spec: LewidiTask, path: Path, where: str) -> str:
    if spec.text_key is None:
        return str(value)
    try:
        turns = json.loads(value)
        return str(turns[spec.text_key])
    except (json.JSONDecodeError, TypeError, KeyError) as exc:
        raise located(path, f"{where}: 'text' must be a JSON string with a '{spec.text_key}' turn") from exc


def _hard_label(value: Any, path: Path, where: str) -> int | None:
    if value is None or value == "":
        return None
    if str(value) not in ("0", "1"):
        raise located(path, f"{where}: unknown label code '{value}' in 'hard_label'; expected 0 or 1")
    return int(value)


def _no_duplicate_keys(path: Path):
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise located(path, f"duplicate item id '{key}' (a key appears twice); ids must be unique")
            out[key] = value
        return out
    return hook
