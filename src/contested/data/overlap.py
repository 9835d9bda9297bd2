"""The overlap guard: no bulk training item may repeat a multi-annotator item's text.

Sources spell the same pair slightly differently (the MNLI sample lost its final periods, ChaosNLI
keeps a trailing space), so texts are compared after :func:`normalise_text`.
"""

from __future__ import annotations

import logging

import pandas as pd

log = logging.getLogger(__name__)


def normalise_text(text: object) -> str:
    """Lower-case, collapse whitespace, strip trailing periods: the form texts are matched in.

    Examples
    --------
    >>> normalise_text("  A man  sleeps. ")
    'a man sleeps'
    """
    if text is None or (isinstance(text, float) and pd.isna(text)):
        return ""
    return " ".join(str(text).lower().split()).rstrip(".").rstrip()


def pair_keys(frame: pd.DataFrame) -> pd.Series:
    """One matching key per row: normalised premise and hypothesis joined by a tab."""
    hyp = frame["hypothesis"] if "hypothesis" in frame else pd.Series([None] * len(frame), index=frame.index)
    return pd.Series(
        [f"{normalise_text(p)}\t{normalise_text(h)}" for p, h in zip(frame["premise"], hyp, strict=True)],
        index=frame.index,
    )


def drop_overlap(bulk: pd.DataFrame, *others: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Drop bulk rows whose normalised (premise, hypothesis) equals a row of any of ``others``.

    Parameters
    ----------
    bulk
        Bulk-format frame (``item_id, premise, hypothesis, label``).
    others
        Frames with ``premise`` and ``hypothesis`` (item tables, other bulk pools).

    Returns
    -------
    (pandas.DataFrame, int)
        The kept rows (order and ``attrs`` preserved) and how many were dropped.
    """
    if not others:
        return bulk, 0
    guard = set().union(*(set(pair_keys(o)) for o in others))
    hit = pair_keys(bulk).isin(guard)
    n = int(hit.sum())
    if n:
        log.info("overlap guard: dropped %d bulk item(s) whose text equals a tracked/validation item", n)
    kept = bulk.loc[~hit].reset_index(drop=True)
    kept.attrs = dict(bulk.attrs)
    return kept, n
