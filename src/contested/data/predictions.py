"""Readers of model prediction files, for scoring against a multi-annotator dataset (no torch).

Formats (``docs/scoring.md``):

* ``chaosnli``: ChaosNLI's prediction file, ``{model: {uid: {"predicted_probabilities": [...],
  "predicted_label": ...}}}`` (or ``"logits"`` instead of probabilities, softmaxed as ChaosNLI's
  evaluation does); several models per file. ``json``: the same without the model level,
  ``{uid: {...}}``, or ``{uid: [p_1, ..., p_K]}``, or a LeWiDi-style ``{id: {"soft_label": {"0": p0,
  "1": p1}, "hard_label": 0}}``.
* ``lewidi-tsv``: LeWiDi 2023's submission file (``<Dataset>_results.tsv``): no header, no ids, one
  line per dataset item in the dataset's file order: ``hard_label<TAB>p_0<TAB>p_1``.
* ``csv`` / ``tsv`` / ``jsonl``: one record per item with an id (``uid``, ``item_id`` or ``id``) and
  either one probability column per class (named by the dataset's label names or codes) or a
  ``probabilities`` (or ``logits``) list; optional ``predicted_label``.

Labels are spelled as the dataset's class names or as the source spells them: ChaosNLI's ``e``/``n``/``c``
(``entailment``…) for NLI, ``1``/``2`` for αNLI, LeWiDi's ``0``/``1``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from contested.data.loaders._common import (
    NLI_CODES,
    NLI_LABELS,
    check_file,
    iter_csv,
    iter_jsonl,
    read_text,
)
from contested.data.loaders.chaosnli import ALPHANLI_CODES, ALPHANLI_LABELS
from contested.data.loaders.lewidi import BINARY, TASKS
from contested.errors import located

#: Largest allowed |Σ p − 1| of a probability row.
SUM_TOLERANCE = 1e-6
PREDICTION_FORMATS = ("chaosnli", "json", "lewidi-tsv", "csv", "tsv", "jsonl")
_ID_KEYS = ("uid", "item_id", "id")
_PROB_KEYS = ("predicted_probabilities", "probabilities", "soft_label")
_LABEL_KEYS = ("predicted_label", "hard_label", "label")


@dataclass(frozen=True)
class ModelPredictions:
    """One model's predictions, validated against the dataset's classes.

    Attributes
    ----------
    name
        Model name (ChaosNLI's top-level key, else the file's stem).
    item_ids
        n ids as written in the file.
    values
        Shape ``(n, K)``, float64: probabilities (rows sum to 1 within :data:`SUM_TOLERANCE`), or
        the file's logits in the rows flagged by ``from_logits``.
    from_logits
        Shape ``(n,)``, bool: the row holds logits (the scorer softmaxes them, as ChaosNLI does).
    predicted
        Shape ``(n,)``, int64: the file's predicted class id, −1 where it gives none.
    where
        n locations (``"line 3"``, ``"model 'm', item 'x'"``) for error messages.
    """

    name: str
    item_ids: list[str]
    values: np.ndarray
    from_logits: np.ndarray
    predicted: np.ndarray
    where: list[str]


@dataclass(frozen=True)
class PredictionFile:
    """A prediction file: its path, detected format and one :class:`ModelPredictions` per model."""

    path: Path
    fmt: str
    models: dict[str, ModelPredictions]


def label_codes(label_names: Sequence[str]) -> dict[str, int]:
    """Every accepted spelling of a predicted label → class id.

    The class names themselves; for NLI (entailment, neutral, contradiction) also ChaosNLI's
    ``e``/``n``/``c``; for αNLI (hyp1, hyp2) ChaosNLI's ``1``/``2``; for LeWiDi's binary tasks ``0``/``1``.
    """
    names = [str(n) for n in label_names]
    codes = {n: i for i, n in enumerate(names)}
    if tuple(names) == NLI_LABELS:
        codes |= NLI_CODES
    elif tuple(names) == ALPHANLI_LABELS:
        codes |= ALPHANLI_CODES
    elif any(tuple(names) == task.label_names for task in TASKS.values()):
        codes |= BINARY
    return codes


def chaosnli_label(index: int, label_names: Sequence[str]) -> str | int:
    """Class ``index`` spelled as ChaosNLI's prediction files do.

    NLI: the full name (``"entailment"``, as in ChaosNLI's ``model_predictions`` and sample files;
    its evaluation maps it to ``e``); αNLI: the integer 1 or 2; any other dataset: the class name.
    """
    names = tuple(str(n) for n in label_names)
    if names == ALPHANLI_LABELS:
        return int(index) + 1
    return names[int(index)]


def read_predictions(path: str | Path, *, label_names: Sequence[str],
                     item_order: Sequence[str] | None = None) -> PredictionFile:
    """Read and validate a prediction file (format detected from its suffix and content).

    Parameters
    ----------
    path
        ``.json`` (ChaosNLI or flat JSON), ``.tsv`` (LeWiDi results or a table with a header),
        ``.csv`` or ``.jsonl``.
    label_names
        The dataset's K class names (item table ``attrs["label_names"]``).
    item_order
        The dataset's item ids in file order: a LeWiDi results TSV (no ids) is matched to them line by line.

    Raises
    ------
    ContestedError
        Unreadable or malformed file, a duplicate id, a wrong number of classes, probabilities that
        are negative, not finite or do not sum to 1 within 1e-6, or an unknown predicted label.
    """
    path = check_file(Path(path))
    reader = _Reader(path, label_names)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return reader.json()
    if suffix == ".jsonl" or suffix == ".ndjson":
        return reader.records(iter_jsonl(path), "jsonl")
    if suffix == ".tsv" and reader.headerless_numeric():
        return reader.lewidi_tsv(item_order)
    if suffix in (".csv", ".tsv"):
        return reader.records(iter_csv(path, delimiter="," if suffix == ".csv" else "\t"), suffix[1:])
    raise located(path, f"unknown prediction file type '{path.suffix}'; use .json (ChaosNLI), .tsv (LeWiDi), "
                  ".csv or .jsonl")


class _Reader:
    def __init__(self, path: Path, label_names: Sequence[str]) -> None:
        self.path = path
        self.names = [str(n) for n in label_names]
        self.k = len(self.names)
        self.codes = label_codes(self.names)

    # -- formats -------------------------------------------------------------------------------
    def json(self) -> PredictionFile:
        try:
            data = json.loads(read_text(self.path), object_pairs_hook=self._unique_keys)
        except json.JSONDecodeError as exc:
            raise located(self.path, f"not valid JSON ({exc.msg}, column {exc.colno})", line=exc.lineno) from None
        if not isinstance(data, dict) or not data:
            raise located(self.path, 'expected a JSON object {"<model>": {"<uid>": {...}}} (ChaosNLI) or '
                          '{"<uid>": {...}}')
        first = next(iter(data.values()))
        # ChaosNLI's {model: {uid: entry}} vs a flat {uid: entry}: entries have known keys or are lists.
        nested = isinstance(first, dict) and bool(first) and not (set(first) & {*_PROB_KEYS, *_LABEL_KEYS, "logits"}) \
            and all(isinstance(v, dict | list) for v in first.values())
        if not nested:
            return PredictionFile(self.path, "json", {self.path.stem: self._model(self.path.stem, data, None)})
        models = {}
        for name, entries in data.items():
            if not isinstance(entries, dict) or not entries:
                raise located(self.path, f"model '{name}': expected an object of uid → prediction")
            models[str(name)] = self._model(str(name), entries, str(name))
        return PredictionFile(self.path, "chaosnli", models)

    def records(self, rows, fmt: str) -> PredictionFile:
        ids, probs, preds, where, seen = [], [], [], [], {}
        for line, obj in rows:
            item_id = self._id(obj, line)
            if item_id in seen:
                raise located(self.path, f"duplicate item id '{item_id}' (first at line {seen[item_id]})", line=line)
            seen[item_id] = line
            p, logit, label = self._record(obj, f"line {line}", line, text=fmt != "jsonl")
            ids.append(item_id)
            probs.append((p, logit))
            preds.append(label)
            where.append(f"line {line}")
        if not ids:
            raise located(self.path, "file holds no predictions")
        return PredictionFile(self.path, fmt, {self.path.stem: self._pack(self.path.stem, ids, probs, preds, where)})

    def headerless_numeric(self) -> bool:
        for line in read_text(self.path).splitlines():
            if line.strip():
                return all(_is_number(cell) for cell in line.split("\t"))
        return False

    def lewidi_tsv(self, item_order: Sequence[str] | None) -> PredictionFile:
        probs, preds, where = [], [], []
        for line, row in iter_csv(self.path, delimiter="\t", header=False):
            if len(row) != self.k + 1:
                raise located(self.path, f"expected {self.k + 1} tab-separated fields (hard label, then {self.k} "
                              f"probabilities), found {len(row)}", line=line)
            here = f"line {line}"
            probs.append((self._probabilities([_number(c, self.path, line) for c in row[1:]], here, line), False))
            preds.append(self._label(row[0].strip(), here, line))
            where.append(here)
        if item_order is None or len(item_order) != len(probs):
            n = "?" if item_order is None else f"{len(item_order):,}"
            raise located(self.path, f"a LeWiDi results file has no ids, so its {len(probs):,} lines must match the "
                          f"dataset's {n} items in file order; score it against the split it was made for "
                          "(e.g. lewidi-md-agreement:dev)")
        ids = [str(i) for i in item_order]
        return PredictionFile(self.path, "lewidi-tsv", {self.path.stem: self._pack(self.path.stem, ids, probs, preds,
                                                                                     where)})

    # -- pieces --------------------------------------------------------------------------------
    def _model(self, name: str, entries: dict[str, Any], model: str | None) -> ModelPredictions:
        ids, probs, preds, where = [], [], [], []
        for uid, entry in entries.items():
            here = (f"model '{model}', " if model else "") + f"item '{uid}'"
            if isinstance(entry, list):
                p, logit, label = self._probabilities(entry, here, None), False, -1
            elif isinstance(entry, dict):
                p, logit, label = self._record(entry, here, None, text=False)
            else:
                raise self._at(here, f"expected an object with 'predicted_probabilities' or a list of "
                              f"{self.k} probabilities")
            ids.append(str(uid))
            probs.append((p, logit))
            preds.append(label)
            where.append(here)
        return self._pack(name, ids, probs, preds, where)

    def _record(self, obj: dict[str, Any], here: str, line: int | None, *,
                text: bool) -> tuple[np.ndarray, bool, int]:
        """(values, values are logits, predicted class id or -1) of one record."""
        label = next((obj[k] for k in _LABEL_KEYS if _present(obj.get(k))), None)
        pred = -1 if label is None else self._label(label, here, line)
        for key in (*_PROB_KEYS, "logits"):
            value = obj.get(key)
            if not _present(value):
                continue
            if text and isinstance(value, str):
                try:
                    value = json.loads(value)
                except json.JSONDecodeError:
                    raise self._at(here, f"field '{key}' must be a JSON array such as [0.2, 0.8]",
                                  line=line) from None
            if isinstance(value, dict):
                value = self._by_class(value, here, line, key)
            if key == "logits":
                return self._finite(value, here, line, key), True, pred
            return self._probabilities(value, here, line), False, pred
        columns = {c: obj[c] for c in obj if c in self.codes}
        if columns:
            if text:
                columns = {c: _number(str(v), self.path, line) for c, v in columns.items()}
            return self._probabilities(self._by_class(columns, here, line, "class columns"), here, line), False, pred
        raise self._at(here, f"no probabilities; give 'predicted_probabilities' (or 'probabilities', "
                      f"'logits') or one column per class ({', '.join(self.names)})", line=line)

    def _by_class(self, value: dict[str, Any], here: str, line: int | None, key: str) -> list[Any]:
        out: list[Any] = [None] * self.k
        for code, p in value.items():
            idx = self.codes.get(str(code).strip())
            if idx is None:
                raise self._at(here, f"unknown class '{code}' in '{key}'; the dataset's classes are "
                              f"{', '.join(self.names)}", line=line)
            out[idx] = p
        if any(p is None for p in out):
            raise self._at(here, f"'{key}' gives {len(value)} classes, the dataset has {self.k} "
                          f"({', '.join(self.names)})", line=line)
        return out

    def _finite(self, values: Any, here: str, line: int | None, key: str) -> np.ndarray:
        if not isinstance(values, list | tuple) or not all(_is_real(v) for v in values):
            raise self._at(here, f"'{key}' must be a list of numbers, got {str(values)[:60]!r}", line=line)
        arr = np.asarray(values, dtype=np.float64)
        if len(arr) != self.k:
            raise self._at(here, f"{len(arr)} classes in '{key}', the dataset has {self.k} "
                          f"({', '.join(self.names)})", line=line)
        if not np.all(np.isfinite(arr)):
            raise self._at(here, f"'{key}' holds a value that is not finite", line=line)
        return arr

    def _probabilities(self, values: Any, here: str, line: int | None) -> np.ndarray:
        p = self._finite(values, here, line, "probabilities")
        if np.any(p < 0):
            raise self._at(here, f"negative probability {p.min():g}", line=line)
        if abs(p.sum() - 1.0) > SUM_TOLERANCE:
            raise self._at(here, f"probabilities sum to {p.sum():.9g}, not 1 (tolerance 1e-6); "
                          "normalise them or give 'logits'", line=line)
        return p

    def _label(self, value: Any, here: str, line: int | None) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        idx = self.codes.get(str(value).strip()) if not isinstance(value, bool) else None
        if idx is None:
            raise self._at(here, f"unknown predicted label '{value}'; the dataset knows "
                          f"{', '.join(sorted(self.codes))}", line=line)
        return idx

    def _id(self, obj: dict[str, Any], line: int) -> str:
        for key in _ID_KEYS:
            if _present(obj.get(key)):
                return str(obj[key]).strip()
        raise located(self.path, "missing field 'uid', 'item_id' or 'id'; every prediction needs its item id",
                      line=line)

    def _at(self, here: str, message: str, line: int | None = None) -> Exception:
        """A located error; ``here`` (the model/item) is left out when the line number says it."""
        return located(self.path, message if line is not None else f"{here}: {message}", line=line)

    def _pack(self, name, ids, probs, preds, where) -> ModelPredictions:
        values = [v for v, _ in probs]
        return ModelPredictions(name=name, item_ids=ids, values=np.vstack(values).reshape(len(ids), self.k),
                                from_logits=np.array([logit for _, logit in probs], dtype=bool),
                                predicted=np.asarray(preds, dtype=np.int64), where=where)

    def _unique_keys(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise located(self.path, f"duplicate key '{key}' (an id or model appears twice); keys must be unique")
            out[key] = value
        return out


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _is_real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _number(cell: str, path: Path, line: int) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise located(path, f"'{cell}' is not a number", line=line) from None
    if not math.isfinite(value):
        raise located(path, f"'{cell}' is not a finite number", line=line)
    return value
