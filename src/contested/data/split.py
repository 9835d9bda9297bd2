"""The study's tracked / validation split of multi-annotator items, stratified by entropy bin."""

from __future__ import annotations

import pandas as pd

from contested.errors import ContestedError


def split_items(items: pd.DataFrame, *, tracked_fraction: float = 0.8, seed: int = 42
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split an item table into tracked (trained on and tracked) and validation items.

    Stratified by the ``bin`` column with scikit-learn's ``train_test_split`` so every bin keeps
    its share in both parts. The tracked part has ``floor(tracked_fraction · n)`` items (ChaosNLI-SNLI:
    1,211 tracked / 303 validation at 0.8).

    Parameters
    ----------
    items
        Item table (needs ``bin``).
    tracked_fraction
        Share of items that are tracked, strictly between 0 and 1.
    seed
        The split seed (``DataConfig.split_seed``); independent of data and run seeds.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        Tracked and validation tables, each in the items' original order, ``attrs`` kept.
    """
    if not 0.0 < tracked_fraction < 1.0:
        raise ContestedError(f"tracked_fraction must be between 0 and 1 (exclusive), got {tracked_fraction}")
    return _stratified(items, train_size=tracked_fraction, seed=seed, what="tracked/validation split")


def stratified_subsample(items: pd.DataFrame, *, n: int, seed: int) -> pd.DataFrame:
    """``n`` items drawn without replacement, keeping each bin's share (for caps in smoke runs)."""
    if n >= len(items):
        return items
    from sklearn.utils import resample

    attrs = dict(items.attrs)
    items = items.reset_index(drop=True)
    idx = resample(items.index.to_numpy(), n_samples=n, replace=False, random_state=seed,
                   stratify=items["bin"].astype(str).to_numpy())
    kept = items.loc[sorted(idx)].reset_index(drop=True)
    kept.attrs = attrs
    return kept


def _stratified(items: pd.DataFrame, *, train_size: float | int, seed: int, what: str
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split  # scikit-learn is slow to import

    attrs = dict(items.attrs)
    items = items.reset_index(drop=True)
    try:
        first, second = train_test_split(
            items.index.to_numpy(), train_size=train_size, random_state=seed, shuffle=True,
            stratify=items["bin"].astype(str).to_numpy(),
        )
    except ValueError as exc:
        counts = items["bin"].value_counts().to_dict()
        raise ContestedError(
            f"{what}: cannot stratify {len(items)} items by entropy bin {counts} ({exc}); "
            "use more items or a larger cap"
        ) from exc
    out = []
    for idx in (first, second):
        part = items.loc[sorted(idx)].reset_index(drop=True)
        part.attrs = dict(attrs)
        out.append(part)
    return out[0], out[1]
