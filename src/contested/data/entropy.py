"""Annotation entropy, entropy bins, majority labels and covariates: raw votes → item table.

Everything here is a pure function of the vote counts. The item table's columns and units are
documented in ``docs/ARCHITECTURE.md`` and ``docs/data.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from contested.errors import ContestedError

BIN_NAMES: tuple[str, ...] = ("clean", "ambiguous", "contested")
# The study's thresholds, in nats, for K = 3 classes (clean < 0.4 <= ambiguous < 0.7 <= contested).
STUDY_THRESHOLDS_NATS: tuple[float, float] = (0.4, 0.7)
BIN_SCHEMES: tuple[str, ...] = ("study", "quantile")

ITEM_COLUMNS: tuple[str, ...] = (
    "item_id", "premise", "hypothesis", "label_counts", "n_annotators", "label_dist", "entropy",
    "bin", "majority_label", "majority_share", "old_label", "premise_len", "hypothesis_len",
    "total_len", "source",
)


def annotation_entropy(counts: np.ndarray, *, base: float = math.e) -> np.ndarray:
    """Shannon entropy of each row's vote distribution.

    Parameters
    ----------
    counts
        Array of shape ``(n_items, K)``: non-negative vote counts per class.
    base
        Logarithm base; ``math.e`` (default) gives **nats**, ``2`` gives bits.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_items,)``: entropy in units of ``base`` (0 for unanimous items,
        at most ``log_base(K)``).
    """
    # scipy.stats costs ~1 s to import, so only callers that compute entropies pay for it.
    from scipy.stats import entropy as scipy_entropy

    counts = np.asarray(counts, dtype=float)
    _check_base(base)
    # scipy normalises each row itself, so counts and probabilities give the same answer.
    return scipy_entropy(counts, base=base, axis=1)


def study_thresholds(num_classes: int, *, base: float = math.e) -> tuple[float, float]:
    """The study's two bin edges for ``num_classes`` classes, in units of ``base``.

    The 3-class edges 0.4 and 0.7 nats are rescaled by ``ln K / ln 3`` so that they sit at the
    same fraction of the maximum entropy for any K (for 2 classes: ≈ 0.252 and ≈ 0.442 nats).
    """
    _check_classes(num_classes)
    _check_base(base)
    scale = math.log(num_classes) / math.log(3) / math.log(base)
    return (STUDY_THRESHOLDS_NATS[0] * scale, STUDY_THRESHOLDS_NATS[1] * scale)


def assign_bins(entropy_nats: np.ndarray, *, num_classes: int, scheme: str = "study") -> pd.Categorical:
    """Bin items into clean / ambiguous / contested.

    Parameters
    ----------
    entropy_nats
        Shape ``(n_items,)``: annotation entropy in **nats** (bins do not depend on the base
        the table reports).
    num_classes
        K, used to rescale the study's thresholds.
    scheme
        ``"study"``: clean < 0.4·s ≤ ambiguous < 0.7·s ≤ contested with s = ln K / ln 3.
        ``"quantile"``: equal-count terciles of the entropy (ties stay together).

    Returns
    -------
    pandas.Categorical
        Ordered categories ``clean < ambiguous < contested``, length ``n_items``.
    """
    h = np.asarray(entropy_nats, dtype=float)
    if scheme == "study":
        edges = study_thresholds(num_classes)
        # digitize: x < e0 -> 0, e0 <= x < e1 -> 1, x >= e1 -> 2 (edges belong to the upper bin).
        codes = np.digitize(h, edges, right=False)
    elif scheme == "quantile":
        try:
            codes = pd.qcut(h, 3, labels=False, duplicates="raise")
        except ValueError as exc:
            raise ContestedError(
                f"quantile bins: the entropy takes too few distinct values for 3 equal-count bins "
                f"({len(np.unique(h))} distinct); use bins='study'"
            ) from exc
        codes = np.asarray(codes, dtype=int)
    else:
        raise ContestedError(f"unknown bin scheme '{scheme}'; use one of: {', '.join(BIN_SCHEMES)}")
    return pd.Categorical.from_codes(codes, categories=list(BIN_NAMES), ordered=True)


def majority_label(counts: np.ndarray) -> np.ndarray:
    """Index of the most-voted class per row; **ties go to the lowest class index**.

    The study's rule (for NLI: entailment before neutral before contradiction). ChaosNLI's own
    ``majority_label`` field breaks some ties differently (3 SNLI, 7 MNLI, 4 αNLI items).

    Parameters
    ----------
    counts
        Shape ``(n_items, K)`` vote counts.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_items,)`` int64 class indices.
    """
    # numpy's argmax returns the first maximum, which is exactly the lowest-index tie rule.
    return np.argmax(np.asarray(counts), axis=1).astype(np.int64)


def whitespace_tokens(texts: pd.Series) -> np.ndarray:
    """Whitespace token count per text (0 for a missing text); the study's length covariate."""
    return np.array([len(t.split()) if isinstance(t, str) else 0 for t in texts], dtype=np.int64)


def build_item_table(
    raw: pd.DataFrame,
    *,
    label_names: Sequence[str],
    dataset: str,
    base: float = math.e,
    bins: str = "study",
) -> pd.DataFrame:
    """Turn raw items (ids, texts, vote counts) into the full item table.

    Parameters
    ----------
    raw
        One row per item with ``item_id``, ``premise``, ``hypothesis`` (or None),
        ``label_counts`` (sequence of K non-negative ints, already validated by the loader)
        and ``old_label`` (int or None).
    label_names
        The K class names, in ``label_counts`` order.
    dataset
        Name written to the ``source`` column and ``attrs["dataset"]``.
    base
        Unit of the ``entropy`` column (``math.e`` → nats). Bins are always computed in nats.
    bins
        ``"study"`` or ``"quantile"`` (see :func:`assign_bins`).

    Returns
    -------
    pandas.DataFrame
        The item table (columns :data:`ITEM_COLUMNS`), with ``attrs`` ``label_names``,
        ``dataset``, ``entropy_base``, ``bins`` and ``bin_edges_nats``.
    """
    k = len(label_names)
    _check_classes(k)
    _check_base(base)
    counts = np.array([list(c) for c in raw["label_counts"]], dtype=np.int64).reshape(len(raw), k)
    n_annot = counts.sum(axis=1)
    dist = counts / n_annot[:, None]
    h_nats = annotation_entropy(counts)
    table = pd.DataFrame({
        "item_id": raw["item_id"].astype(str).to_numpy(),
        "premise": raw["premise"].to_numpy(dtype=object),
        "hypothesis": raw["hypothesis"].to_numpy(dtype=object),
        "label_counts": [row.tolist() for row in counts],
        "n_annotators": n_annot.astype(np.int64),
        "label_dist": [row.tolist() for row in dist],
        "entropy": h_nats / math.log(base),
        "bin": assign_bins(h_nats, num_classes=k, scheme=bins),
        "majority_label": majority_label(counts),
        "majority_share": dist.max(axis=1),
        "old_label": pd.array(list(raw["old_label"]), dtype="Int64"),
    })
    table["premise_len"] = whitespace_tokens(table["premise"])
    table["hypothesis_len"] = whitespace_tokens(table["hypothesis"])
    table["total_len"] = table["premise_len"] + table["hypothesis_len"]
    table["source"] = dataset
    table.attrs.update({
        "label_names": list(label_names),
        "dataset": dataset,
        "entropy_base": float(base),
        "bins": bins,
        "bin_edges_nats": list(study_thresholds(k)) if bins == "study" else None,
    })
    return table[list(ITEM_COLUMNS)]


def bin_summary(items: pd.DataFrame) -> pd.DataFrame:
    """Count and share (in %) of items per bin, plus the entropy range seen in each bin.

    Returns
    -------
    pandas.DataFrame
        Index ``bin`` (clean, ambiguous, contested); columns ``items``, ``share_pct``,
        ``entropy_min``, ``entropy_max`` (entropy in the table's own unit).
    """
    grouped = items.groupby("bin", observed=False)["entropy"]
    out = pd.DataFrame({
        "items": grouped.size(),
        "entropy_min": grouped.min(),
        "entropy_max": grouped.max(),
    })
    out.insert(1, "share_pct", 100.0 * out["items"] / max(len(items), 1))
    return out


def _check_base(base: float) -> None:
    if not (isinstance(base, (int, float)) and base > 0 and base != 1 and math.isfinite(base)):
        raise ContestedError(f"entropy base must be a positive number other than 1 (e.g. e or 2), got {base!r}")


def _check_classes(k: int) -> None:
    if k < 2:
        raise ContestedError(f"annotation entropy needs at least 2 classes, got {k}")
