"""ChaosNLI v1.0 JSON Lines (Nie et al., 2020): 100 votes per item for SNLI, MNLI and αNLI dev items.

Fields used: ``uid``, ``label_counter`` (votes per label key), ``label_count`` (the same votes as
a list; checked against ``label_counter``), ``example`` (texts), ``old_label`` (the original gold
label). The stored ``entropy`` is base 2 and is not read: entropy is recomputed from the votes.

Label keys: SNLI/MNLI ``e``/``n``/``c`` (→ entailment 0, neutral 1, contradiction 2);
αNLI ``"1"``/``"2"`` (which hypothesis is more plausible → class 0 / 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from contested.data.loaders._common import (
    NLI_CODES,
    NLI_LABELS,
    UniqueIds,
    check_counts,
    field,
    iter_jsonl,
    raw_frame,
)
from contested.errors import located

ALPHANLI_LABELS: tuple[str, ...] = ("hyp1", "hyp2")
ALPHANLI_CODES: dict[str, int] = {"1": 0, "2": 1}


def load_chaosnli(path: str | Path) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Read a ChaosNLI file into raw items.

    Parameters
    ----------
    path
        ``chaosNLI_snli.jsonl``, ``chaosNLI_mnli_m.jsonl`` or ``chaosNLI_alphanli.jsonl`` (or any
        file in that format). The task (3-class NLI or 2-class αNLI) is read from the first record.

    Returns
    -------
    (pandas.DataFrame, tuple of str)
        Raw items (``item_id, premise, hypothesis, label_counts, old_label``) and the class names.
        For αNLI, ``premise`` is ``obs1 + " " + obs2`` and ``hypothesis`` is
        ``"1: <hyp1> 2: <hyp2>"``, so a pair classifier sees both candidate explanations.
    """
    path = Path(path)
    ids = UniqueIds(path)
    records: list[dict[str, Any]] = []
    label_names: tuple[str, ...] | None = None
    codes: dict[str, int] = {}
    for lineno, obj in iter_jsonl(path):
        example = field(obj, "example", path, line=lineno)
        if not isinstance(example, dict):
            raise located(path, "field 'example' must be an object with the item's texts", line=lineno)
        if label_names is None:
            alpha = "obs1" in example
            label_names, codes = (ALPHANLI_LABELS, ALPHANLI_CODES) if alpha else (NLI_LABELS, NLI_CODES)
        k = len(label_names)
        item_id = ids.add(field(obj, "uid", path, line=lineno), line=lineno)
        counter = field(obj, "label_counter", path, line=lineno)
        if not isinstance(counter, dict):
            raise located(path, "field 'label_counter' must map labels to vote counts", line=lineno)
        counts = [0] * k
        for key, value in counter.items():
            idx = codes.get(str(key).strip().lower())
            if idx is None:
                raise located(path, f"unknown label code '{key}' in 'label_counter'; expected one of "
                              f"{', '.join(sorted(set(codes)))}", line=lineno)
            counts[idx] += _whole(value, path, lineno)
        counts = check_counts(counts, path, line=lineno, num_classes=k)
        if "label_count" in obj and obj["label_count"] is not None:
            stated = check_counts(obj["label_count"], path, line=lineno, where="label_count", num_classes=k)
            if stated != counts:
                raise located(path, f"'label_count' {stated} disagrees with 'label_counter' {counter}; "
                              "the file is inconsistent", line=lineno)
        if k == 2:
            premise = f"{field(example, 'obs1', path, line=lineno)} {field(example, 'obs2', path, line=lineno)}"
            hypothesis = (f"1: {field(example, 'hyp1', path, line=lineno)} "
                          f"2: {field(example, 'hyp2', path, line=lineno)}")
        else:
            premise = field(example, "premise", path, line=lineno)
            hypothesis = field(example, "hypothesis", path, line=lineno)
        old = obj.get("old_label")
        old_idx = None
        if old is not None:
            old_idx = codes.get(str(old).strip().lower())
            if old_idx is None:
                raise located(path, f"unknown label code '{old}' in 'old_label'", line=lineno)
        records.append({"item_id": item_id, "premise": premise, "hypothesis": hypothesis,
                        "label_counts": counts, "old_label": old_idx})
    return raw_frame(records, path), label_names or NLI_LABELS


def _whole(value: Any, path: Path, line: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
        raise located(path, f"vote count {value!r} in 'label_counter' is not a whole number", line=line)
    return int(value)
