"""Label noise injected into the training labels of tracked items (the study's Appendix D).

The study flips 0 / 30 / 60 % of the *clean* tracked items to a uniformly random different class
and keeps tracking every item against its original label, to test whether wrong labels alone
produce the un-learning seen on contested items. Three noise models are offered:

``symmetric``
    A uniformly random *different* class (the study's).
``pair``
    A fixed class permutation without fixed points (default ``c → (c + 1) mod K``): systematic
    confusions, as in the noisy-label literature.
``human``
    A class drawn from the item's own annotator distribution with the current label removed: the
    mistake a human annotator of that item would plausibly make. Items whose votes are unanimous
    have no such class; they fall back to a uniformly random different class and the flip records
    ``drawn_from = "uniform"``.

Counts are exact: ``floor(rate × n_eligible)`` items are flipped (the study's ``int(n · rate)``).
Which items flip depends only on ``seed``, the eligible item ids and ``rate`` — not on the noise
model or on row order — and a larger rate flips a superset of a smaller one's items with the
same new labels, so conditions of one seed are paired item by item. Pure numpy/pandas.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from contested.config import Config, Range, configclass, option
from contested.errors import ContestedError

NOISE_KINDS: tuple[str, ...] = ("symmetric", "pair", "human")
#: Columns of the flip table (``noise.parquet`` in a run directory).
FLIP_COLUMNS: tuple[str, ...] = ("item_id", "old_label", "new_label", "kind", "drawn_from", "bin",
                                 "entropy")


def _permutation_without_fixed_points(perm: tuple[int, ...]) -> str | None:
    k = len(perm)
    if sorted(perm) != list(range(k)) or any(perm[c] == c for c in range(k)):
        return f"must be a permutation of 0..K-1 that moves every class (e.g. [1, 2, 0]), got {list(perm)}"
    return None


@configclass
class NoiseConfig(Config):
    """Which tracked items get a wrong training label, and which wrong label."""

    section = "data.noise"
    flag_prefix = "noise_"

    rate: float = option(0.0, check=Range(ge=0, le=1), hint="e.g. 0.3 for 30 %",
                         help="Share of eligible tracked items whose training label is flipped (0: no noise; "
                              "the study: 0.3, 0.6).")
    kind: str = option("symmetric", choices=NOISE_KINDS,
                       help="symmetric (uniformly random other class) | pair (fixed class permutation) | "
                            "human (drawn from the item's annotator distribution, majority excluded).")
    bins: tuple[str, ...] | None = option(
        ("clean",), check=lambda v: None if v else "is empty; name bins (e.g. [clean]) or use null for every "
                                                   "tracked item",
        help="Entropy bins whose tracked items may be flipped (the study: clean; null: every tracked item).")
    seed: int = option(42, help="Seed of the flipped items and their new labels (the study used the run seed).")
    pair_map: tuple[int, ...] | None = option(
        None, check=_permutation_without_fixed_points,
        help="pair noise: class c becomes pair_map[c], a permutation without fixed points (default c → c+1 mod K).")

    @property
    def active(self) -> bool:
        """Whether any label is flipped."""
        return self.rate > 0.0


def noise_count(n_eligible: int, *, rate: float) -> int:
    """Number of items flipped: ``floor(rate × n_eligible)`` (exact, as the study's ``int(n · rate)``).

    A tiny tolerance keeps products such as ``0.3 × 10`` (2.9999…) from losing an item.
    """
    return math.floor(rate * n_eligible + 1e-9)


def empty_flips() -> pd.DataFrame:
    """A flip table with no rows (the runs without noise)."""
    return pd.DataFrame({
        "item_id": pd.Series(dtype=object), "old_label": pd.Series(dtype="int64"),
        "new_label": pd.Series(dtype="int64"), "kind": pd.Series(dtype=object),
        "drawn_from": pd.Series(dtype=object), "bin": pd.Series(dtype=object),
        "entropy": pd.Series(dtype="float64"),
    }, columns=list(FLIP_COLUMNS))


def flip_labels(items: pd.DataFrame, *, config: NoiseConfig, label_column: str = "training_label",
                num_classes: int | None = None) -> pd.DataFrame:
    """Choose the items whose training label is flipped, and their new labels.

    Parameters
    ----------
    items
        Item table of the tracked items (``docs/ARCHITECTURE.md``): ``item_id``, ``bin``,
        ``label_dist`` (annotator distribution, length K) and ``label_column``.
    config
        The noise model, rate, eligible bins and seed.
    label_column
        The current integer training label (the one that is flipped).
    num_classes
        K; None: ``len(items.attrs["label_names"])``, else the length of ``label_dist``.

    Returns
    -------
    pandas.DataFrame
        One row per flipped item, sorted by ``item_id``: ``item_id, old_label, new_label`` (int
        class ids; ``new_label != old_label``), ``kind``, ``drawn_from`` (``uniform``,
        ``permutation`` or ``annotators``), ``bin`` and ``entropy`` (nats, when ``items`` has it).
        Exactly :func:`noise_count` rows.

    Raises
    ------
    ContestedError
        A missing column, an unknown bin name, or a ``pair_map`` whose length is not K.
    """
    if not config.active:
        return empty_flips()
    for col in ("item_id", label_column) + (("bin",) if config.bins is not None else ()) + (
            ("label_dist",) if config.kind == "human" else ()):
        if col not in items.columns:
            raise ContestedError(f"noise injection needs column '{col}' in the tracked items; "
                                 f"got {', '.join(map(str, items.columns))}")
    k = _num_classes(items, num_classes)
    eligible = _eligible(items, config.bins)
    # Sort by id so the draw does not depend on row order; one permutation and one uniform number
    # per eligible item make the flips of a smaller rate a prefix of a larger rate's.
    eligible = eligible.assign(_key=eligible["item_id"].astype(str)).sort_values("_key", kind="stable")
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(eligible))
    uniforms = rng.random(len(eligible))
    n = noise_count(len(eligible), rate=config.rate)
    chosen = eligible.iloc[order[:n]]
    u = uniforms[:n]
    old = chosen[label_column].to_numpy(dtype=np.int64)
    if old.size and (old.min() < 0 or old.max() >= k):
        raise ContestedError(f"noise injection: column '{label_column}' holds labels outside 0..{k - 1}")
    new, source = _NEW_LABELS[config.kind](old, u, chosen, k, config)
    flips = pd.DataFrame({
        "item_id": chosen["item_id"].to_numpy(), "old_label": old, "new_label": new.astype(np.int64),
        "kind": config.kind, "drawn_from": source,
        "bin": chosen["bin"].astype(str).to_numpy() if "bin" in chosen else None,
        "entropy": chosen["entropy"].to_numpy(dtype=float) if "entropy" in chosen else np.nan,
    }, columns=list(FLIP_COLUMNS))
    return flips.sort_values("item_id", key=lambda s: s.astype(str), kind="stable").reset_index(drop=True)


def apply_flips(train: pd.DataFrame, flips: pd.DataFrame, *, num_classes: int) -> pd.DataFrame:
    """The training mixture with flipped labels: ``label``, one-hot ``label_dist`` and ``is_noisy``.

    Only the training table changes; the tracked item table (and so every tracking label) keeps the
    original labels. A flipped item's soft target becomes the one-hot of its new label.

    Parameters
    ----------
    train
        ``Mixture.train`` (``item_id, label, label_dist, is_tracked, is_noisy``).
    flips
        Output of :func:`flip_labels`.
    num_classes
        K.

    Returns
    -------
    pandas.DataFrame
        A copy of ``train``; ``is_noisy`` is True exactly for the flipped items.
    """
    out = train.copy()
    if flips.empty:
        return out
    new = dict(zip(flips["item_id"].astype(str), flips["new_label"].astype(int), strict=True))
    old = dict(zip(flips["item_id"].astype(str), flips["old_label"].astype(int), strict=True))
    ids = out["item_id"].astype(str)
    hit = ids.isin(new.keys()) & out["is_tracked"].astype(bool)
    missing = set(new) - set(ids[hit])
    if missing:
        raise ContestedError(f"noise flips name {len(missing)} item(s) that are not tracked training items "
                             f"(e.g. '{sorted(missing)[0]}')")
    mismatch = out.loc[hit, "label"].astype(int).to_numpy() != ids[hit].map(old).to_numpy()
    if mismatch.any():
        raise ContestedError("noise flips do not match the mixture's training labels (old_label differs); "
                             "build the flips from the same tracked items")
    labels = ids[hit].map(new).astype(np.int64)
    out.loc[hit, "label"] = labels.to_numpy()
    eye = np.eye(num_classes, dtype=float)
    out.loc[hit, "label_dist"] = pd.Series([eye[c].tolist() for c in labels], index=labels.index,
                                           dtype=object)
    out["is_noisy"] = out["is_noisy"].astype(bool) | hit
    return out


def _num_classes(items: pd.DataFrame, num_classes: int | None) -> int:
    if num_classes is not None:
        return int(num_classes)
    names = items.attrs.get("label_names")
    if names:
        return len(names)
    if "label_dist" in items.columns and len(items):
        return len(items["label_dist"].iloc[0])
    raise ContestedError("noise injection: cannot tell the number of classes; pass num_classes")


def _eligible(items: pd.DataFrame, bins: tuple[str, ...] | None) -> pd.DataFrame:
    if bins is None:
        return items
    known = set(items["bin"].astype(str).unique())
    if isinstance(items["bin"].dtype, pd.CategoricalDtype):
        known |= set(items["bin"].cat.categories.astype(str))
    unknown = [b for b in bins if b not in known]
    if unknown:
        raise ContestedError(f"data.noise.bins: unknown bin(s) {', '.join(unknown)}; the items have "
                             f"{', '.join(sorted(known))}")
    return items[items["bin"].astype(str).isin(bins)]


def _others(old: np.ndarray, u: np.ndarray, k: int) -> np.ndarray:
    # The j-th of the K-1 other classes in increasing order: j < old keeps j, j >= old skips old.
    j = np.minimum((u * (k - 1)).astype(np.int64), k - 2)
    return j + (j >= old)


def _symmetric(old, u, chosen, k, config):
    return _others(old, u, k), np.full(len(old), "uniform", dtype=object)


def _pair(old, u, chosen, k, config):
    perm = np.asarray(config.pair_map if config.pair_map is not None else [(c + 1) % k for c in range(k)])
    if len(perm) != k:
        raise ContestedError(f"data.noise.pair_map: has {len(perm)} entries but the dataset has {k} classes")
    return perm[old], np.full(len(old), "permutation", dtype=object)


def _human(old, u, chosen, k, config):
    dist = np.asarray([np.asarray(d, dtype=float) for d in chosen["label_dist"]]).reshape(len(old), k)
    dist[np.arange(len(old)), old] = 0.0  # the current (majority) label is never drawn
    mass = dist.sum(axis=1)
    new = _others(old, u, k)  # unanimous items: no minority vote to draw from
    has = mass > 0
    if has.any():
        cdf = np.cumsum(dist[has], axis=1) / mass[has, None]
        # Rounding must not leave the top of the cdf below 1: u could then land past the last
        # class with votes, on the old label or on a class nobody chose.
        cdf[cdf >= 1.0 - 1e-12] = 1.0
        # Inverse cdf: classes with zero probability repeat the previous cdf value and are skipped.
        drawn = (cdf <= u[has, None]).sum(axis=1)
        new[has] = np.minimum(drawn, k - 1)
    return new, np.where(has, "annotators", "uniform").astype(object)


_NEW_LABELS = {"symmetric": _symmetric, "pair": _pair, "human": _human}

__all__ = ["FLIP_COLUMNS", "NOISE_KINDS", "NoiseConfig", "apply_flips", "empty_flips", "flip_labels",
           "noise_count"]
