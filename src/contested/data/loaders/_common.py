"""Validation shared by every loader: each check raises a one-line, located ContestedError."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from contested.errors import ContestedError, located

NLI_LABELS: tuple[str, ...] = ("entailment", "neutral", "contradiction")
# Spellings seen in the NLI sources (ChaosNLI uses e/n/c keys, SNLI/MNLI full names).
NLI_CODES: dict[str, int] = {
    "entailment": 0, "e": 0, "neutral": 1, "n": 1, "contradiction": 2, "c": 2,
}
RAW_COLUMNS = ("item_id", "premise", "hypothesis", "label_counts", "old_label")
# UTF-8 with or without the byte-order mark that Excel ("CSV UTF-8"), Notepad and PowerShell write;
# decoding with plain "utf-8" would keep U+FEFF in the first header name or first JSON line.
TEXT_ENCODING = "utf-8-sig"


def check_file(path: str | Path) -> Path:
    """Return ``path`` if it is a readable, non-empty file; raise a located error otherwise."""
    path = Path(path)
    if not path.exists():
        raise ContestedError(
            f"{path}: no such file; check the path, --data-dir or $CONTESTED_DATA_DIR"
        )
    if path.is_dir():
        raise located(path, "is a folder, expected a data file")
    if path.stat().st_size == 0:
        raise located(path, "file is empty; expected at least one record")
    return path


def open_text(path: str | Path, *, errors: str = "strict") -> TextIO:
    """Open a user's text file: UTF-8 with or without a BOM, LF / CRLF / CR line ends all read as LF."""
    # newline=None (universal newlines): CRLF never leaves a stray "\r" in the last field or cell.
    try:
        return open(path, encoding=TEXT_ENCODING, errors=errors, newline=None)
    except PermissionError as exc:
        raise located(path, "permission denied; make the file readable (chmod u+r) or copy it") from exc
    except OSError as exc:
        raise located(path, f"cannot be opened ({exc.strerror or exc}); check the path and the disk") from exc


def read_text(path: Path) -> str:
    """The file's text (UTF-8, BOM dropped, line ends as LF); a non-UTF-8 or whitespace-only file is an error."""
    try:
        with open_text(path) as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        raise located(path, f"is not UTF-8 text (byte {exc.start}); re-save it as UTF-8") from exc
    if not text.strip():
        raise located(path, "file is empty; expected at least one record")
    return text


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line of a JSON Lines file."""
    text = read_text(check_file(path))
    # Split on LF only (line ends are normalised): str.splitlines would also break at U+2028, U+0085
    # or form feeds, which JSON allows inside strings, and shift every later line number.
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise located(path, f"not valid JSON ({exc.msg}, column {exc.colno}); fix or remove the line", line=lineno) from exc
        if not isinstance(obj, dict):
            raise located(path, "expected one JSON object per line", line=lineno)
        yield lineno, obj


def iter_csv(path: Path, *, delimiter: str = ",", header: bool = True,
             quoting: int = csv.QUOTE_MINIMAL) -> Iterator[tuple[int, dict[str, str] | list[str]]]:
    """Yield ``(line_number, row)`` for a CSV/TSV file; rows are dicts when ``header`` is true.

    A row whose field count differs from the header's (or from the first row's) is an
    unparsable line and raises with its line number.
    """
    text = read_text(check_file(path))
    # StringIO yields lines split on LF only (see iter_jsonl), so reader.line_num is the editor's line.
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, quoting=quoting, strict=True)
    names: list[str] | None = None
    width: int | None = None
    try:
        for row in reader:
            lineno = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if header and names is None:
                names = [c.strip() for c in row]
                width = len(names)
                continue
            if width is None:
                width = len(row)
            if len(row) != width:
                raise located(path, f"cannot parse the line: expected {width} fields, found {len(row)}", line=lineno)
            yield lineno, (dict(zip(names, row, strict=True)) if names is not None else row)
    except csv.Error as exc:
        raise located(path, f"cannot parse the line ({exc})", line=reader.line_num) from exc
    if header and names is None:
        raise located(path, "file is empty; expected a header line and records")


def field(obj: dict[str, Any], name: str | Sequence[str], path: Path, *, line: int | None = None,
          where: str | None = None) -> Any:
    """``obj[name]`` (first present of several spellings); a missing or null field is an error."""
    names = [name] if isinstance(name, str) else list(name)
    for n in names:
        if n in obj and obj[n] is not None and obj[n] != "":
            return obj[n]
    shown = " or ".join(f"'{n}'" for n in names)
    prefix = f"{where}: " if where else ""
    raise located(path, f"{prefix}missing field {shown}; every record needs it", line=line)


def check_counts(counts: Sequence[Any], path: Path, *, line: int | None = None, where: str | None = None,
                 stated: Any = None, num_classes: int | None = None) -> list[int]:
    """Validate one item's vote counts and return them as ints.

    Checks: integers, none negative, not all zero, length ``num_classes`` (when given) and,
    when the source states the annotator number, that the counts sum to it.
    """
    prefix = f"{where}: " if where else ""
    try:
        values = [int(c) for c in counts]
        if any(float(c) != int(c) for c in counts):
            raise ValueError
    except (TypeError, ValueError) as exc:
        raise located(path, f"{prefix}label counts must be whole numbers, got {list(counts)!r}", line=line) from exc
    if num_classes is not None and len(values) != num_classes:
        raise located(path, f"{prefix}expected {num_classes} label counts, got {len(values)}", line=line)
    if any(v < 0 for v in values):
        raise located(path, f"{prefix}negative label count in {values}; counts are numbers of annotators", line=line)
    if sum(values) == 0:
        raise located(path, f"{prefix}all label counts are zero; an item needs at least one annotation", line=line)
    if stated is not None:
        try:
            n = int(stated)
        except (TypeError, ValueError) as exc:
            raise located(path, f"{prefix}stated annotator number {stated!r} is not a whole number", line=line) from exc
        if n != sum(values):
            raise located(path, f"{prefix}label counts sum to {sum(values)} but the record states {n} annotators", line=line)
    return values


class UniqueIds:
    """Remembers where each item id was seen; a repeat is an error naming both places."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: dict[str, str] = {}

    def add(self, item_id: Any, *, line: int | None = None, where: str | None = None) -> str:
        """Record ``item_id`` (seen at ``line`` or ``where``); returns it as a string, raises on a repeat."""
        key = str(item_id)
        here = f"line {line}" if line is not None else (where or "?")
        if key in self.seen:
            raise located(self.path, f"duplicate item id '{key}' (first at {self.seen[key]}); ids must be unique", line=line)
        self.seen[key] = here
        return key


def raw_frame(records: list[dict[str, Any]], path: Path) -> pd.DataFrame:
    """Raw items (``item_id, premise, hypothesis, label_counts, old_label``) as a DataFrame."""
    if not records:
        raise located(path, "file holds no records; expected at least one item")
    return pd.DataFrame.from_records(records, columns=list(RAW_COLUMNS))
