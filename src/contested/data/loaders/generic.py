"""A generic multi-annotator format, CSV/TSV or JSON Lines, for any dataset not in the registry.

Each record has an id (``id`` or ``item_id``), a text (``premise`` or ``text``), an optional
``hypothesis``, and its votes in ONE of these forms:

* ``label_counts``: a list of K vote counts (in CSV a JSON array cell, e.g. ``"[3, 1, 1]"``);
* ``count_<class>`` columns (CSV only): one count column per class, class names from the header;
* ``labels``: a list of per-annotator labels (strings or integers; in CSV a JSON array cell).

Optional: ``n_annotators`` (checked against the votes) and ``old_label`` (a class name or index).
Class order: the ``count_<class>`` column order; ``label_names`` when given; NLI order
(entailment, neutral, contradiction) when the labels are NLI names; otherwise sorted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from contested.data.loaders._common import (
    NLI_LABELS,
    UniqueIds,
    check_counts,
    field,
    iter_csv,
    iter_jsonl,
    raw_frame,
)
from contested.errors import ContestedError, located

SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": ",", ".tsv": "\t"}


def load_generic(path: str | Path, *, label_names: Sequence[str] | None = None) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Read a generic CSV/TSV/JSONL multi-annotator file into raw items.

    Parameters
    ----------
    path
        ``.csv``, ``.tsv`` or ``.jsonl`` file in the format described in this module.
    label_names
        Class names in order. With per-annotator ``labels`` any other label is an error; with
        ``label_counts`` lists they name the K positions (default ``"0" … "K-1"``).

    Returns
    -------
    (pandas.DataFrame, tuple of str)
        Raw items and the class names.
    """
    check_label_names(label_names)
    path = Path(path)
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise located(path, f"unknown file type '{path.suffix}'; the generic format is .csv, .tsv or .jsonl")
    rows = list(_jsonl_rows(path) if kind == "jsonl" else _csv_rows(path, kind))
    if not rows:
        raise located(path, "file holds no records; expected at least one item")
    forms = {r["form"] for r in rows}
    if len(forms) > 1:
        first = next(r for r in rows if r["form"] != rows[0]["form"])
        raise located(path, f"mixes '{rows[0]['form']}' and '{first['form']}' records; use one form per file",
                      line=first["line"])
    form = rows[0]["form"]
    names = _class_names(rows, form, label_names, path)
    index = {name: i for i, name in enumerate(names)}
    ids = UniqueIds(path)
    records = []
    for r in rows:
        line = r["line"]
        item_id = ids.add(r["id"], line=line)
        if form == "labels":
            counts = [0] * len(names)
            for lab in r["votes"]:
                key = _label_key(lab)
                if key not in index:
                    raise located(path, f"unknown label code '{lab}'; expected one of {', '.join(names)}", line=line)
                counts[index[key]] += 1
        else:
            counts = r["votes"]
        counts = check_counts(counts, path, line=line, stated=r["n"], num_classes=len(names))
        records.append({"item_id": item_id, "premise": r["premise"], "hypothesis": r["hypothesis"],
                        "label_counts": counts, "old_label": _old_label(r["old"], index, path, line)})
    return raw_frame(records, path), tuple(names)


def _jsonl_rows(path: Path):
    for line, obj in iter_jsonl(path):
        yield _row(obj, path, line, count_columns=None)


def _csv_rows(path: Path, delimiter: str):
    count_columns: list[str] | None = None
    for line, obj in iter_csv(path, delimiter=delimiter):
        if count_columns is None:
            count_columns = [c for c in obj if c.startswith("count_")]
        yield _row(obj, path, line, count_columns=count_columns, cells_are_text=True)


def _row(obj: dict[str, Any], path: Path, line: int, *, count_columns: list[str] | None,
         cells_are_text: bool = False) -> dict[str, Any]:
    row = {
        "line": line,
        "id": field(obj, ("id", "item_id"), path, line=line),
        "premise": str(field(obj, ("premise", "text"), path, line=line)),
        "hypothesis": _optional(obj.get("hypothesis")),
        "n": _optional(obj.get("n_annotators")),
        "old": _optional(obj.get("old_label")),
    }
    if row["hypothesis"] is not None:
        row["hypothesis"] = str(row["hypothesis"])
    present = [k for k in ("label_counts", "labels") if _optional(obj.get(k)) is not None]
    if count_columns:
        present.append("count_<class> columns")
    if not present:
        raise located(path, "missing field 'label_counts' or 'labels' (or count_<class> columns): "
                      "every record needs its annotators' votes", line=line)
    if len(present) > 1:
        raise located(path, f"gives its votes twice ({' and '.join(present)}); keep one", line=line)
    if count_columns:
        row["form"], row["votes"] = "count columns", [obj[c] for c in count_columns]
        row["names"] = [c[len("count_"):] for c in count_columns]
        return row
    key = present[0]
    value = obj[key]
    if cells_are_text:
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise located(path, f"field '{key}' must be a JSON array such as [3, 1, 0], got {value!r}",
                          line=line) from exc
    if not isinstance(value, list):
        raise located(path, f"field '{key}' must be a list, got {value!r}", line=line)
    row["form"], row["votes"] = key, value
    return row


def _class_names(rows: list[dict[str, Any]], form: str, label_names: Sequence[str] | None, path: Path) -> list[str]:
    if form == "count columns":
        return rows[0]["names"]
    if label_names is not None:
        return [str(n) for n in label_names]
    if form == "label_counts":
        k = len(rows[0]["votes"])
        return [str(i) for i in range(k)]
    seen = {_label_key(lab) for r in rows for lab in r["votes"]}
    if not seen:
        raise located(path, "no labels found; every record's 'labels' list is empty")
    if seen <= set(NLI_LABELS):
        return list(NLI_LABELS)
    if all(s.lstrip("-").isdigit() for s in seen):
        return sorted(seen, key=int)
    return sorted(seen)


def _label_key(label: Any) -> str:
    if isinstance(label, float) and label.is_integer():
        label = int(label)
    return str(label).strip()


def _old_label(value: Any, index: dict[str, int], path: Path, line: int) -> int | None:
    if value is None:
        return None
    key = _label_key(value)
    if key in index:
        return index[key]
    if key.isdigit() and int(key) < len(index):
        return int(key)
    raise located(path, f"unknown label code '{value}' in 'old_label'; expected one of {', '.join(index)}", line=line)


def _optional(value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float) and pd.isna(value):
        return None
    return value


def check_label_names(label_names: Sequence[str] | None) -> None:
    """Reject duplicate class names early (they would silently merge classes)."""
    if label_names is not None and len(set(label_names)) != len(label_names):
        raise ContestedError(f"label_names has duplicates: {list(label_names)}")
