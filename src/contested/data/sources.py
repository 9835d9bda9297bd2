"""Where data comes from: the dataset registry, bulk sources and the data folder.

Registry names (``contested data info`` lists them) map to files inside the data folder, which
has the same layout as the project's ``shared/data`` (``chaosnli_v1.0/``, ``lewidi2023_ArMIS/``, …).
Anything that is not a registry name is read as a file path (format detected, or forced with a
``<format>:`` prefix such as ``generic:votes.csv``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from contested.data import bulk as bulk_loaders
from contested.data.entropy import build_item_table
from contested.data.loaders import FORMATS, load_chaosnli, load_file, load_lewidi, load_snli_jsonl
from contested.errors import ContestedError

ENV_VAR = "CONTESTED_DATA_DIR"
LEWIDI_SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class ItemSource:
    """A multi-annotator dataset in the registry."""

    name: str
    files: tuple[str, ...]            # relative to the data folder
    load: Callable[[list[Path]], tuple[pd.DataFrame, tuple[str, ...]]]
    default_bulk: str | None = None   # bulk source of the study's training mixture
    fetch: str | None = None          # `contested data fetch <this>` provides the files
    description: str = ""


@dataclass(frozen=True)
class BulkSource:
    """Single-label NLI training data in the registry."""

    name: str
    files: tuple[str, ...]
    load: Callable[[list[Path]], pd.DataFrame]
    heldout_source: str | None = None  # separate pool for held-out items (else: the unused rest)
    description: str = ""


def _lewidi(folder: str, stem: str, task: str, description: str) -> ItemSource:
    def load(paths: list[Path]) -> tuple[pd.DataFrame, tuple[str, ...]]:
        parts = [load_lewidi(p, task=task, id_prefix=f"{_lewidi_split(p)}-") for p in paths]
        return pd.concat([frame for frame, _ in parts], ignore_index=True), parts[0][1]
    files = tuple(f"{folder}/{stem}_{split}.json" for split in LEWIDI_SPLITS)
    return ItemSource(f"lewidi-{task}", files, load, description=description)


def _lewidi_split(path: Path) -> str:
    return path.stem.rsplit("_", 1)[-1]


ITEM_SOURCES: dict[str, ItemSource] = {s.name: s for s in (
    ItemSource("chaosnli-snli", ("chaosnli_v1.0/chaosNLI_snli.jsonl",), lambda p: load_chaosnli(p[0]),
               default_bulk="snli-train-sample", fetch="chaosnli",
               description="ChaosNLI SNLI dev items, 100 votes each (3 classes)"),
    ItemSource("chaosnli-mnli", ("chaosnli_v1.0/chaosNLI_mnli_m.jsonl",), lambda p: load_chaosnli(p[0]),
               default_bulk="mnli-train-sample", fetch="chaosnli",
               description="ChaosNLI MNLI dev-matched items, 100 votes each (3 classes)"),
    ItemSource("chaosnli-alphanli", ("chaosnli_v1.0/chaosNLI_alphanli.jsonl",), lambda p: load_chaosnli(p[0]),
               fetch="chaosnli", description="ChaosNLI αNLI dev items, 100 votes each (2 classes)"),
    _lewidi("lewidi2023_HS-Brexit", "HS-Brexit", "hs-brexit", "LeWiDi 2023 hate speech, 6 votes (2 classes)"),
    _lewidi("lewidi2023_MD-Agreement", "MD-Agreement", "md-agreement",
            "LeWiDi 2023 offensiveness, 5 votes (2 classes)"),
    _lewidi("lewidi2023_ConvAbuse", "ConvAbuse", "convabuse", "LeWiDi 2023 abuse, 2-8 votes (2 classes)"),
    _lewidi("lewidi2023_ArMIS", "ArMIS", "armis", "LeWiDi 2023 Arabic misogyny, 3 votes (2 classes)"),
    ItemSource("snli-dev-5labels", ("snli_dev_partial_5labels/snli_1.0_dev.jsonl",
                                    "snli_dev_partial_5labels/snli_1.0_test.jsonl"),
               load_snli_jsonl, default_bulk="snli-train-sample",
               description="SNLI dev items with their original 5 annotator labels (3 classes)"),
)}

_LOLA = "snli_train_subsets_lola"
BULK_SOURCES: dict[str, BulkSource] = {s.name: s for s in (
    BulkSource("snli-train-sample", ("snli_train_sample_cat/train.csv", "snli_train_sample_cat/test.csv"),
               bulk_loaders.load_snli_cat_tsv, heldout_source="snli-train-random-extra",
               description="20,000 random SNLI train pairs"),
    BulkSource("mnli-train-sample", ("mnli_train_sample_llmsknow/mnli_train.csv",),
               lambda p: bulk_loaders.load_mnli_prompt_csv(p[0]), description="10,000 MNLI train pairs"),
    BulkSource("snli-train-random-extra",
               (*tuple(f"{_LOLA}/baseline/data/random_subset_{i}.csv" for i in range(5)), f"{_LOLA}/cartography_selection/curricula/random_baseline.csv"),
               bulk_loaders.load_nli_csv,
               description="~12k more random SNLI train pairs (held-out pool of snli-train-sample)"),
)}


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data folder: ``data_dir`` if given, else ``$CONTESTED_DATA_DIR``, else the user cache.

    The user cache is ``platformdirs.user_cache_path("contested") / "data"`` (e.g.
    ``~/.cache/contested/data`` on Linux); ``contested data fetch`` downloads into it.
    The folder need not exist yet.
    """
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return platformdirs.user_cache_path("contested") / "data"


def data_dir_origin(data_dir: str | os.PathLike | None = None) -> str:
    """Where :func:`resolve_data_dir` took the folder from: ``--data-dir`` (explicit), ``$CONTESTED_DATA_DIR`` or ``user cache``."""
    if data_dir is not None and str(data_dir) != "":
        return "--data-dir"
    return f"${ENV_VAR}" if os.environ.get(ENV_VAR) else "user cache"


def source_files(source: ItemSource | BulkSource, data_dir: Path, *, split: str | None = None) -> list[Path]:
    """Absolute paths of a source's files (only ``split``'s file for ``lewidi-*:<split>``)."""
    files = list(source.files)
    if split is not None:
        files = [f for f in files if Path(f).stem.endswith(f"_{split}")]
    return [data_dir / f for f in files]


def _check_present(name: str, paths: list[Path], root: Path, origin: str, fetch: str | None) -> None:
    for path in paths:
        if not path.is_file():
            how = f"run `contested data fetch {fetch}`" if fetch else "copy the source's files there"
            raise ContestedError(
                f"{name}: {path.relative_to(root)} not found in the data folder {root} (from {origin}); "
                f"{how}, or point --data-dir / ${ENV_VAR} at a folder that has it"
            )


def parse_name(name: str) -> tuple[ItemSource, str | None] | None:
    """Registry entry and split for a name like ``lewidi-armis:dev``; None if not a registry name."""
    base, _, split = name.partition(":")
    source = ITEM_SOURCES.get(base)
    if source is None:
        return None
    if split:
        if not base.startswith("lewidi-") or split not in LEWIDI_SPLITS:
            allowed = f"one of {', '.join(LEWIDI_SPLITS)}" if base.startswith("lewidi-") else "none"
            raise ContestedError(f"{name}: unknown split '{split}' for {base}; splits: {allowed}")
    return source, split or None


def load_raw(name_or_path: str, *, data_dir: str | os.PathLike | None = None
             ) -> tuple[pd.DataFrame, tuple[str, ...], str, list[Path], str | None]:
    """Raw items of a registry name or file: ``(raw, label_names, dataset, files, default_bulk)``."""
    parsed = parse_name(name_or_path)
    if parsed is not None:
        source, split = parsed
        root = resolve_data_dir(data_dir)
        paths = source_files(source, root, split=split)
        _check_present(name_or_path, paths, root, data_dir_origin(data_dir), source.fetch)
        raw, names = source.load(paths)
        return raw, names, name_or_path, paths, source.default_bulk
    fmt, sep, rest = name_or_path.partition(":")
    if sep and fmt in FORMATS:
        path = Path(rest).expanduser()
        raw, names = load_file(path, fmt=fmt)
        return raw, names, path.stem, [path], None
    path = Path(name_or_path).expanduser()
    if not path.exists() and not _looks_like_path(name_or_path):
        raise ContestedError(
            f"unknown dataset '{name_or_path}'; use a registry name ({', '.join(ITEM_SOURCES)}; "
            f"lewidi-* also take :train/:dev/:test) or a file path"
        )
    raw, names = load_file(path)
    return raw, names, path.stem, [path], None


def load_items(name_or_path: str, *, data_dir: str | os.PathLike | None = None, base: float = math.e,
               bins: str = "study") -> pd.DataFrame:
    """Load a multi-annotator dataset as the item table.

    Parameters
    ----------
    name_or_path
        A registry name (``chaosnli-snli``, ``lewidi-armis:dev``, …) or a file path (CSV/TSV/JSONL
        generic format, ChaosNLI or SNLI JSONL, LeWiDi JSON; ``<format>:<path>`` forces a format).
    data_dir
        Data folder for registry names (see :func:`resolve_data_dir`).
    base
        Unit of the ``entropy`` column: ``math.e`` → nats (default), ``2`` → bits.
    bins
        ``"study"`` (0.4 / 0.7 nats × ln K / ln 3) or ``"quantile"`` (terciles).

    Returns
    -------
    pandas.DataFrame
        One row per item (columns in ``docs/ARCHITECTURE.md``); ``attrs`` carry ``label_names``,
        ``dataset``, ``data_files``, ``default_bulk`` and the entropy unit and bin scheme.
    """
    raw, names, dataset, files, default_bulk = load_raw(name_or_path, data_dir=data_dir)
    table = build_item_table(raw, label_names=names, dataset=dataset, base=base, bins=bins)
    table.attrs["data_files"] = [str(f) for f in files]
    table.attrs["default_bulk"] = default_bulk
    return table


def load_bulk(name_or_path: str, *, data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Load bulk NLI training data (``item_id, premise, hypothesis, label``).

    ``name_or_path``: a bulk registry name (``snli-train-sample``, ``mnli-train-sample``,
    ``snli-train-random-extra``), ``hf:<name>[:<split>]``, or a ``.jsonl`` (official SNLI/MNLI)
    or ``.csv`` (``premise,hypothesis,label`` header) file.
    """
    if name_or_path.startswith("hf:"):
        return bulk_loaders.load_hf(name_or_path)
    source = BULK_SOURCES.get(name_or_path)
    if source is not None:
        root = resolve_data_dir(data_dir)
        paths = source_files(source, root)
        _check_present(name_or_path, paths, root, data_dir_origin(data_dir), None)
        return source.load(paths)
    path = Path(name_or_path).expanduser()
    if not path.exists() and not _looks_like_path(name_or_path):
        raise ContestedError(
            f"unknown bulk source '{name_or_path}'; use {', '.join(BULK_SOURCES)}, hf:<name>[:<split>], "
            "or a .jsonl/.csv file path"
        )
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return bulk_loaders.load_nli_jsonl(path)
    if suffix == ".csv":
        return bulk_loaders.load_nli_csv([path])
    raise ContestedError(f"{path}: unknown bulk file type '{suffix}'; use .jsonl (SNLI/MNLI) or .csv")


def _looks_like_path(text: str) -> bool:
    return os.sep in text or "/" in text or Path(text).suffix != ""
