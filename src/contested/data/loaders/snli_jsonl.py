"""Official SNLI / MNLI JSON Lines with the original per-annotator ``annotator_labels``.

Fields used: ``pairID`` (id), ``sentence1`` (premise), ``sentence2`` (hypothesis),
``annotator_labels`` (list of label names, usually 5 on dev/test items), ``gold_label``
(the original majority; ``"-"`` when there was none → ``old_label`` null).
"""

from __future__ import annotations

from collections.abc import Sequence
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


def load_snli_jsonl(paths: str | Path | Sequence[str | Path]) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Read one or more SNLI-format files into raw items (ids must be unique across them).

    Returns
    -------
    (pandas.DataFrame, tuple of str)
        Raw items and the NLI class names (entailment, neutral, contradiction).
    """
    paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    records: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for path in paths:
        ids = UniqueIds(path)
        for lineno, obj in iter_jsonl(path):
            item_id = ids.add(field(obj, "pairID", path, line=lineno), line=lineno)
            if item_id in seen:
                raise located(path, f"duplicate item id '{item_id}' (also in {seen[item_id]}); ids must be unique",
                              line=lineno)
            seen[item_id] = f"{path.name}:{lineno}"
            labels = obj.get("annotator_labels")
            if labels is None:
                raise located(path, "missing field 'annotator_labels'; this format needs the per-annotator labels",
                              line=lineno)
            if not isinstance(labels, list):
                raise located(path, "field 'annotator_labels' must be a list of label names", line=lineno)
            counts = [0, 0, 0]
            for label in labels:
                idx = NLI_CODES.get(str(label).strip().lower())
                if idx is None:
                    raise located(path, f"unknown label code '{label}' in 'annotator_labels'; expected "
                                  f"{', '.join(NLI_LABELS)}", line=lineno)
                counts[idx] += 1
            check_counts(counts, path, line=lineno, where="annotator_labels")
            gold = obj.get("gold_label")
            old = None if gold in (None, "", "-") else NLI_CODES.get(str(gold).strip().lower())
            if gold not in (None, "", "-") and old is None:
                raise located(path, f"unknown label code '{gold}' in 'gold_label'", line=lineno)
            records.append({
                "item_id": item_id,
                "premise": field(obj, "sentence1", path, line=lineno),
                "hypothesis": field(obj, "sentence2", path, line=lineno),
                "label_counts": counts,
                "old_label": old,
            })
    return raw_frame(records, paths[0]), NLI_LABELS
