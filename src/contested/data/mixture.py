"""The study's training mixture: N bulk items + the tracked multi-annotator items.

The bulk draw depends only on ``data_seed`` (never on the run seed), so every run seed of a
condition trains on the same items; the tracked/validation split depends only on ``split_seed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from contested.config import Config, Range, configclass, nonempty, option
from contested.data.entropy import BIN_NAMES
from contested.data.noise import NoiseConfig, apply_flips, empty_flips, flip_labels
from contested.data.overlap import drop_overlap
from contested.data.sources import BULK_SOURCES, load_bulk, load_items
from contested.data.split import split_items, stratified_subsample
from contested.errors import ContestedError

TRAINING_LABELS: tuple[str, ...] = ("majority", "old", "soft")
TRAIN_COLUMNS = ("item_id", "premise", "hypothesis", "label", "label_dist", "is_tracked", "is_noisy")


def _bin_list(value: tuple[str, ...]) -> str | None:
    """Check of a list of entropy-bin names (no unknown name, no repeat)."""
    if not value:
        return "must not be empty; omit it for every bin"
    unknown = [b for b in value if b not in BIN_NAMES]
    if unknown:
        return f"unknown bin {unknown[0]!r}; use one or more of {', '.join(BIN_NAMES)}"
    if len(set(value)) != len(value):
        return f"names a bin twice (got {', '.join(value)})"
    return None


@configclass
class DataConfig(Config):
    """What a run trains and tracks on."""

    section = "data"

    dataset: str = option("chaosnli-snli", check=nonempty,
                          help="Multi-annotator dataset: chaosnli-snli | chaosnli-mnli | chaosnli-alphanli | "
                               "lewidi-* | snli-dev-5labels | a file.")
    bulk_source: str | None = option(None, check=nonempty,
                                     help="Bulk training data (default: the dataset's, e.g. snli-train-sample).")
    bulk: int = option(20_000, check=Range(ge=0), help="Number of bulk items, drawn once with data_seed "
                                                        "(fixed across run seeds).")
    tracked_fraction: float = option(0.8, check=Range(gt=0, lt=1),
                                     help="Share of the multi-annotator items trained on and tracked "
                                          "(the rest validates).")
    split_seed: int = option(42, help="Seed of the stratified tracked/validation split.")
    data_seed: int = option(42, help="Seed of the bulk and held-out draws.")
    training_label: str = option("majority", choices=TRAINING_LABELS,
                                 help="Label of tracked items: majority (of all votes; the study's) | old "
                                      "(the source's gold label) | soft (the vote distribution; also set "
                                      "train.soft_labels).")
    soft_bins: tuple[str, ...] | None = option(
        None, check=_bin_list, added="0.2", hint="e.g. --soft-bins contested",
        help="With training_label soft: entropy bins whose tracked items train on the vote distribution "
             "(the others keep their majority label); default: every bin.")
    heldout: int = option(500, check=Range(ge=0), help="Bulk-format items never trained on, for task accuracy.")
    max_tracked: int | None = option(None, check=Range(ge=3), hint="one item per entropy bin",
                                     help="Cap on tracked items (stratified subsample; validation capped in "
                                          "proportion), for smoke runs.")
    data_dir: str | None = option(None, check=nonempty,
                                  help="Data folder (default $CONTESTED_DATA_DIR, then the user cache).")
    noise: NoiseConfig = option(default_factory=NoiseConfig, help="Label noise on tracked items' training labels.")

    def validate(self) -> None:
        if self.soft_bins is None:
            return
        if self.training_label != "soft":
            raise self.fail("soft_bins", f"applies to training_label soft, not {self.training_label!r}; "
                                         "set --training-label soft --soft-labels or drop it")
        # One spelling per choice (bin order; every bin = the default), so equal runs share a digest.
        chosen = tuple(b for b in BIN_NAMES if b in self.soft_bins)
        object.__setattr__(self, "soft_bins", None if chosen == BIN_NAMES else chosen)

    def soft_target_bins(self) -> tuple[str, ...]:
        """The bins whose tracked items train on the vote distribution (none unless soft)."""
        if self.training_label != "soft":
            return ()
        return BIN_NAMES if self.soft_bins is None else self.soft_bins


@dataclass(frozen=True, eq=False)
class Mixture:
    """Everything a run trains, tracks and evaluates on (see ``docs/ARCHITECTURE.md``).

    Attributes
    ----------
    train
        ``item_id, premise, hypothesis, label`` (int), ``label_dist`` (list[float], length K:
        the soft target; one-hot unless ``training_label='soft'`` and the item's bin is one of
        ``soft_bins``), ``is_tracked``, ``is_noisy``.
    tracked, validation
        Item tables of the tracked and validation items, with a ``training_label`` column.
    heldout
        Bulk-format items never trained on.
    label_names, num_classes
        Class names in label-id order and K.
    data_files
        Every file read (for checksums).
    dropped_overlap
        Bulk items dropped because their text equals a multi-annotator item's.
    """

    train: pd.DataFrame
    tracked: pd.DataFrame
    validation: pd.DataFrame
    heldout: pd.DataFrame
    label_names: tuple[str, ...]
    num_classes: int
    data_files: tuple[Path, ...]
    dropped_overlap: int
    noise: pd.DataFrame = field(default_factory=empty_flips)

    def summary(self) -> dict[str, int]:
        """Sizes, for logs and ``env.json``."""
        return {
            "train": len(self.train), "bulk": int((~self.train["is_tracked"]).sum()),
            "tracked": len(self.tracked), "validation": len(self.validation),
            "heldout": len(self.heldout), "dropped_overlap": self.dropped_overlap,
        }


def training_labels(items: pd.DataFrame, *, mode: str) -> np.ndarray:
    """The int label each item is trained on: majority (also for ``soft``) or ``old_label``."""
    if mode == "old":
        missing = items["old_label"].isna()
        if missing.any():
            example = items.loc[missing, "item_id"].iloc[0]
            raise ContestedError(
                f"training_label='old' needs an original label for every item, but {int(missing.sum())} "
                f"item(s) of {items.attrs.get('dataset', 'the dataset')} have none (e.g. '{example}'); "
                "use training_label='majority'"
            )
        return items["old_label"].astype("int64").to_numpy()
    if mode in ("majority", "soft"):
        return items["majority_label"].to_numpy(dtype=np.int64)
    raise ContestedError(f"unknown training_label '{mode}'; use one of {', '.join(TRAINING_LABELS)}")


def build_mixture(config: DataConfig) -> Mixture:
    """Build the training mixture described by ``config``.

    Steps: load the items (entropy in nats, study bins) → stratified tracked/validation split
    (``split_seed``) → optional cap → load the bulk pool and drop items whose normalised text
    equals a multi-annotator item → draw ``bulk`` items and then ``heldout`` items (``data_seed``;
    held-out items come from the source's separate pool when it has one, else from the undrawn
    rest) → concatenate bulk and tracked items into ``train``.

    Returns
    -------
    Mixture
        See :class:`Mixture`.
    """
    items = load_items(config.dataset, data_dir=config.data_dir)
    label_names = tuple(items.attrs["label_names"])
    k = len(label_names)
    tracked, validation = split_items(items, tracked_fraction=config.tracked_fraction, seed=config.split_seed)
    if config.max_tracked is not None:
        n_val = max(3, round(config.max_tracked * (1 - config.tracked_fraction) / config.tracked_fraction))
        tracked = stratified_subsample(tracked, n=config.max_tracked, seed=config.split_seed)
        validation = stratified_subsample(validation, n=n_val, seed=config.split_seed)
    for part in (tracked, validation):
        part["training_label"] = training_labels(part, mode=config.training_label)
        part.attrs["training_label"] = config.training_label
    files = [Path(f) for f in items.attrs["data_files"]]

    bulk_name = config.bulk_source or items.attrs.get("default_bulk")
    if bulk_name is None:
        if config.bulk > 0 or config.heldout > 0:
            raise ContestedError(
                f"dataset '{config.dataset}' has no default bulk source; set data.bulk_source "
                "(e.g. snli-train-sample) or data.bulk = 0 and data.heldout = 0"
            )
        bulk_train, heldout, dropped = _empty_bulk(), _empty_bulk(), 0
    else:
        bulk_train, heldout, dropped, bulk_files = _draw_bulk(bulk_name, items, config, label_names)
        files += bulk_files

    train = pd.concat([_bulk_rows(bulk_train, k), _tracked_rows(tracked, config.soft_target_bins(), k)],
                      ignore_index=True)
    if train["item_id"].duplicated().any():
        dup = train.loc[train["item_id"].duplicated(), "item_id"].iloc[0]
        raise ContestedError(f"item id '{dup}' occurs in both the bulk source and the dataset; ids must not collide")
    # Noise changes training labels only: ``tracked`` keeps the original labels for tracking.
    flips = flip_labels(tracked, config=config.noise, num_classes=k)
    train = apply_flips(train, flips, num_classes=k)
    train.attrs.update({"label_names": list(label_names), "dataset": items.attrs["dataset"]})
    return Mixture(train=train, tracked=tracked, validation=validation, heldout=heldout,
                   label_names=label_names, num_classes=k, data_files=tuple(dict.fromkeys(files)),
                   dropped_overlap=dropped, noise=flips)


def _draw_bulk(name: str, items: pd.DataFrame, config: DataConfig, label_names: tuple[str, ...]
               ) -> tuple[pd.DataFrame, pd.DataFrame, int, list[Path]]:
    pool = load_bulk(name, data_dir=config.data_dir)
    if tuple(pool.attrs["label_names"]) != label_names:
        raise ContestedError(
            f"bulk source '{name}' has classes {pool.attrs['label_names']} but dataset '{config.dataset}' has "
            f"{list(label_names)}; choose a bulk source with the same classes or set data.bulk = 0"
        )
    files = [Path(f) for f in pool.attrs.get("data_files", [])]
    pool, dropped = drop_overlap(pool, items)
    if config.bulk > len(pool):
        raise ContestedError(
            f"bulk source '{name}' has {len(pool):,} items (after the overlap guard) but data.bulk = {config.bulk:,}; "
            f"ask for at most {len(pool):,} or use a larger source (a .jsonl file or hf:<name>)"
        )
    bulk_train = pool.sample(n=config.bulk, random_state=config.data_seed)
    source = BULK_SOURCES.get(name)
    if source is not None and source.heldout_source is not None:
        rest = load_bulk(source.heldout_source, data_dir=config.data_dir)
        files += [Path(f) for f in rest.attrs.get("data_files", [])]
        rest, extra = drop_overlap(rest, items)
        dropped += extra
        rest, _ = drop_overlap(rest, pool)  # never evaluate on a text that could be trained on
        where = f"held-out pool '{source.heldout_source}'"
    else:
        rest = pool.drop(index=bulk_train.index)
        where = f"'{name}' after drawing {config.bulk:,} bulk items"
    if config.heldout > len(rest):
        raise ContestedError(
            f"data.heldout = {config.heldout:,} but only {len(rest):,} items are left in {where}; "
            "lower data.heldout or data.bulk"
        )
    heldout = rest.sample(n=config.heldout, random_state=config.data_seed).reset_index(drop=True)
    heldout.attrs = {"label_names": list(label_names), "source": source.heldout_source if source and
                     source.heldout_source else name}
    return bulk_train.reset_index(drop=True), heldout, dropped, files


def _one_hot(labels: np.ndarray, k: int) -> list[list[float]]:
    return np.eye(k, dtype=float)[labels].tolist()


def _bulk_rows(bulk: pd.DataFrame, k: int) -> pd.DataFrame:
    labels = bulk["label"].to_numpy(dtype=np.int64)
    return pd.DataFrame({
        "item_id": bulk["item_id"].astype(str).to_numpy(), "premise": bulk["premise"].to_numpy(dtype=object),
        "hypothesis": bulk["hypothesis"].to_numpy(dtype=object), "label": labels,
        "label_dist": _one_hot(labels, k), "is_tracked": False, "is_noisy": False,
    }, columns=list(TRAIN_COLUMNS))


def _tracked_rows(tracked: pd.DataFrame, soft_bins: tuple[str, ...], k: int) -> pd.DataFrame:
    """Tracked training rows: the vote distribution as soft target in ``soft_bins``, else one-hot."""
    labels = tracked["training_label"].to_numpy(dtype=np.int64)
    soft = tracked["bin"].astype(str).isin(soft_bins).to_numpy()
    dist = [list(map(float, d)) if s else hard
            for d, s, hard in zip(tracked["label_dist"], soft, _one_hot(labels, k), strict=True)]
    return pd.DataFrame({
        "item_id": tracked["item_id"].to_numpy(), "premise": tracked["premise"].to_numpy(dtype=object),
        "hypothesis": tracked["hypothesis"].to_numpy(dtype=object), "label": labels,
        "label_dist": dist, "is_tracked": True, "is_noisy": False,
    }, columns=list(TRAIN_COLUMNS))


def _empty_bulk() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="int64" if c == "label" else object) for c in
                         ("item_id", "premise", "hypothesis", "label")})


__all__ = ["TRAINING_LABELS", "DataConfig", "Mixture", "build_mixture", "training_labels"]
