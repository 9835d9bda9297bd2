"""Bulk (single-label) NLI training data, normalised to ``item_id, premise, hypothesis, label``.

Labels use the item table's NLI ids: entailment 0, neutral 1, contradiction 2. Each source has
its own spelling (see the data folders' SOURCE.md):

* SNLI train sample (``snli_train_sample_cat``): TSV without header, ``label, label, premise,
  hypothesis`` with codes 1 = neutral, 2 = contradiction, 3 = entailment;
* MNLI train sample (``mnli_train_sample_llmsknow``): CSV ``Question,Answer,Origin`` with the pair
  inside a prompt string (regex :data:`MNLI_PROMPT`) and label names in ``Answer``;
* official SNLI / MNLI JSON Lines (``sentence1``, ``sentence2``, ``gold_label``, ``pairID``);
  items without a gold label (``"-"``) are skipped;
* CSV with a ``premise,hypothesis,label`` header (labels as names or 0/1/2; -1 rows skipped);
* ``hf:<name>[:<split>]``: a Hugging Face ``datasets`` dataset (online users; imported lazily).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from contested.data.loaders._common import (
    NLI_CODES,
    NLI_LABELS,
    UniqueIds,
    field,
    iter_csv,
    iter_jsonl,
)
from contested.errors import ContestedError, located

BULK_COLUMNS = ("item_id", "premise", "hypothesis", "label")
CAT_CODES: dict[str, int] = {"1": 1, "2": 2, "3": 0}  # SNLI CAT sample: 1 neutral, 2 contradiction, 3 entailment
MNLI_PROMPT = re.compile(
    r'^For the statement, "(.*)", does the hypothesis "(.*)" represent entailment, contradiction, or neutrality\?$',
    re.DOTALL,
)


def load_snli_cat_tsv(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Read SNLI-train-sample TSV files (no header; 4 columns; codes 1/2/3) into bulk format.

    Ids are ``<file stem>-<line>`` (the source has no pair ids).
    """
    rows = []
    for path in map(Path, paths):
        # QUOTE_NONE: the texts contain bare double quotes that are not CSV quoting.
        for line, cells in iter_csv(path, delimiter="\t", header=False, quoting=csv.QUOTE_NONE):
            code = cells[0].strip()
            if len(cells) != 4:
                raise located(path, f"cannot parse the line: expected 4 tab-separated fields, found {len(cells)}",
                              line=line)
            if code not in CAT_CODES:
                raise located(path, f"unknown label code '{code}'; this file uses 1 = neutral, 2 = contradiction, "
                              "3 = entailment", line=line)
            rows.append((f"snli-{path.stem}-{line}", cells[2], cells[3], CAT_CODES[code]))
    return _frame(rows, paths)


def load_mnli_prompt_csv(path: str | Path) -> pd.DataFrame:
    """Read the prompt-wrapped MNLI train sample (``Question,Answer,Origin``) into bulk format.

    The pair is recovered with :data:`MNLI_PROMPT`; its authors stripped the final period of
    both texts (the overlap guard's normalisation ignores it). Ids are ``mnli-train-<line>``.
    """
    path = Path(path)
    rows = []
    for line, obj in iter_csv(path):
        question = field(obj, "Question", path, line=line)
        match = MNLI_PROMPT.match(question.strip())
        if match is None:
            raise located(path, "cannot parse the line: 'Question' is not the expected "
                          "'For the statement, \"…\", does the hypothesis \"…\" represent …?' prompt", line=line)
        rows.append((f"mnli-train-{line}", match.group(1), match.group(2),
                     _nli_label(field(obj, "Answer", path, line=line), path, line)))
    return _frame(rows, [path])


def load_nli_jsonl(path: str | Path) -> pd.DataFrame:
    """Read official SNLI/MNLI JSON Lines (``sentence1``, ``sentence2``, ``gold_label``, ``pairID``).

    Rows whose ``gold_label`` is ``"-"`` (no annotator majority) are skipped: they have no
    single training label.
    """
    path = Path(path)
    ids = UniqueIds(path)
    rows = []
    for line, obj in iter_jsonl(path):
        item_id = ids.add(field(obj, ("pairID", "id"), path, line=line), line=line)
        gold = field(obj, "gold_label", path, line=line)
        if gold == "-":
            continue
        rows.append((item_id, field(obj, "sentence1", path, line=line), field(obj, "sentence2", path, line=line),
                     _nli_label(gold, path, line)))
    return _frame(rows, [path])


def load_nli_csv(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Read CSV files with a ``premise,hypothesis,label`` header (labels 0/1/2 or names; -1 skipped).

    Ids are ``guid`` / ``id`` / ``pairID`` when present, else ``<file stem>-<line>``; texts that
    repeat across files (same normalised premise and hypothesis) are kept once.
    """
    from contested.data.overlap import pair_keys

    rows = []
    for path in map(Path, paths):
        for line, obj in iter_csv(path):
            label = field(obj, ("label", "true_label"), path, line=line).strip()
            if label == "-1" or label == "-":
                continue
            ident = obj.get("guid") or obj.get("id") or obj.get("pairID") or f"{path.stem}-{line}"
            rows.append((str(ident), field(obj, "premise", path, line=line),
                         field(obj, "hypothesis", path, line=line), _nli_label(label, path, line)))
    frame = _frame(rows, paths)
    frame = frame.loc[~pair_keys(frame).duplicated()].reset_index(drop=True)
    if frame["item_id"].duplicated().any():
        dup = frame.loc[frame["item_id"].duplicated(), "item_id"].iloc[0]
        raise ContestedError(f"{paths[0]}: duplicate item id '{dup}' across the bulk files; ids must be unique")
    return frame


def load_hf(spec: str) -> pd.DataFrame:
    """Load ``hf:<name>[:<split>]`` (default split ``train``) with Hugging Face ``datasets``.

    The dataset needs ``premise``, ``hypothesis`` and an integer ``label`` in the NLI order
    (as ``snli`` and ``nyu-mll/multi_nli`` have); ``label == -1`` rows are skipped.
    """
    name, _, split = spec[len("hf:"):].partition(":")
    split = split or "train"
    try:
        import datasets  # heavy; only online users pay for it
    except ImportError as exc:  # pragma: no cover - datasets is a core dependency
        raise ContestedError("hf: bulk sources need the 'datasets' package: pip install datasets") from exc
    try:
        ds = datasets.load_dataset(name, split=split)
    except Exception as exc:  # network, unknown name, offline mode: all user-fixable
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ContestedError(f"{spec}: could not load the Hugging Face dataset ({reason}); check the name and "
                             "that you are online (HF_HUB_OFFLINE unset)") from exc
    missing = [c for c in ("premise", "hypothesis", "label") if c not in ds.column_names]
    if missing:
        raise ContestedError(f"{spec}: dataset lacks column(s) {', '.join(missing)}; need premise, hypothesis, label")
    df = ds.to_pandas()
    df = df.loc[df["label"].isin([0, 1, 2])]
    ids = df["idx"].astype(str) if "idx" in df else pd.Series([f"{name}-{split}-{i}" for i in df.index], index=df.index)
    out = pd.DataFrame({"item_id": ids.to_numpy(), "premise": df["premise"].to_numpy(),
                        "hypothesis": df["hypothesis"].to_numpy(), "label": df["label"].astype("int64").to_numpy()})
    out.attrs.update({"label_names": list(NLI_LABELS), "data_files": []})
    return out


def _nli_label(value: Any, path: Path, line: int) -> int:
    key = str(value).strip().lower()
    if key in NLI_CODES:
        return NLI_CODES[key]
    if key in ("0", "1", "2"):
        return int(key)
    raise located(path, f"unknown label code '{value}'; expected entailment/neutral/contradiction (or 0/1/2)",
                  line=line)


def _frame(rows: list[tuple[str, str, str, int]], paths: Sequence[str | Path]) -> pd.DataFrame:
    if not rows:
        raise located(paths[0], "file holds no usable records; expected at least one labelled pair")
    frame = pd.DataFrame(rows, columns=list(BULK_COLUMNS))
    frame["label"] = frame["label"].astype("int64")
    frame.attrs.update({"label_names": list(NLI_LABELS), "data_files": [str(p) for p in paths]})
    return frame
