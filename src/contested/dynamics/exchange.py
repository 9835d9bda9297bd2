"""Dataset Cartography's training-dynamics files, both ways (no torch).

Dataset Cartography (Swayamdipta et al., 2020, "Dataset Cartography: Mapping and Diagnosing
Datasets with Training Dynamics", EMNLP; code ``allenai/cartography``) logs one JSON Lines file
per epoch, ``training_dynamics/dynamics_epoch_{k}.jsonl`` for ``k = 0 … E-1``, one object per
training item::

    {"guid": 4734364254410, "logits_epoch_0": [-0.475, -0.226, 0.941], "gold": 0}

``guid`` is the item's id (an integer in their SNLI/MNLI files, a string elsewhere), ``logits_epoch_k``
its K logits at epoch ``k`` and ``gold`` its integer label. Their reader
(``cartography/selection/selection_utils.py``, ``read_training_dynamics``) takes the gold label
from epoch 0, appends each epoch's logits per guid, and counts epochs as the number of *files*
in ``training_dynamics/`` (so nothing else may live there). Their metrics
(``cartography/selection/train_dy_filtering.py``): confidence = mean over epochs of the softmax
probability of ``gold``, variability = ``np.std`` of it (population std, ddof = 0), correctness
= number of epochs with ``argmax(logits) == gold``.

Which checkpoints are "epochs" in an export (:func:`epoch_checkpoints`): the run's eval-mode
snapshots at the end of each epoch (snapshot rows whose ``epoch`` is a whole number ≥ 1), so file
``k`` holds the snapshot after epoch ``k + 1``; with ``all_snapshots`` every snapshot step (step 0
included) becomes one file. Their own code logs, instead, each item's logits while it is trained on
(training mode, during the epoch): the analogue of our in-flight rows, not of snapshots.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from contested.data.loaders import iter_jsonl
from contested.dynamics.export import run_snapshots
from contested.dynamics.human_fit import logits_matrix
from contested.errors import ContestedError, located

#: Folder of the per-epoch files inside cartography's model directory.
FOLDER = "training_dynamics"
#: File name pattern of epoch ``k``.
FILE_PATTERN = re.compile(r"dynamics_epoch_(\d+)\.jsonl")


def file_name(epoch: int) -> str:
    """``dynamics_epoch_{epoch}.jsonl``."""
    return f"dynamics_epoch_{epoch}.jsonl"


def logits_field(epoch: int) -> str:
    """``logits_epoch_{epoch}``: the logits' key in epoch ``epoch``'s file."""
    return f"logits_epoch_{epoch}"


# --------------------------------------------------------------------------- export


def epoch_checkpoints(dynamics: pd.DataFrame, *, split: str | None = "tracked",
                      all_snapshots: bool = False) -> pd.DataFrame:
    """The snapshots that become cartography's epochs, one row per exported file.

    Parameters
    ----------
    dynamics
        One run's dynamics table.
    split
        ``"tracked"``, ``"validation"`` or ``None`` (every item).
    all_snapshots
        Every snapshot step (step 0 included) instead of the epoch ends.

    Returns
    -------
    pandas.DataFrame
        ``epoch_index`` (the file's k, 0-based), ``step`` (optimiser steps), ``epoch`` (float,
        epochs done), ``progress`` (0..1), in step order.

    Raises
    ------
    ContestedError
        No snapshot rows for ``split``, or (without ``all_snapshots``) no epoch-end snapshot.
    """
    snap = run_snapshots(dynamics, split)
    points = snap.groupby("step", sort=True).agg(epoch=("epoch", "first"), progress=("progress", "first"))
    points = points.reset_index()
    if not all_snapshots:
        whole = np.round(points["epoch"].to_numpy(dtype=float))
        at_end = (np.abs(points["epoch"].to_numpy(dtype=float) - whole) < 1e-6) & (whole >= 1)
        points = points.loc[at_end].assign(whole=whole[at_end])
        # One file per epoch: should two steps round to the same epoch, the later one ends it.
        points = points.drop_duplicates("whole", keep="last").drop(columns="whole")
        if points.empty:
            raise ContestedError("run has no snapshot at an epoch end (record.snapshot_epoch_end was off); "
                                 "pass --all-snapshots to export every snapshot as one epoch")
    points = points.reset_index(drop=True)
    points.insert(0, "epoch_index", np.arange(len(points), dtype=np.int64))
    return points


def cartography_lines(dynamics: pd.DataFrame, checkpoints: pd.DataFrame, *,
                      split: str | None = "tracked") -> list[str]:
    """The text of each epoch file: one compact JSON object per item and line, items sorted by id.

    Parameters
    ----------
    dynamics
        One run's dynamics table with ``logits``.
    checkpoints
        Output of :func:`epoch_checkpoints` (file ``k`` ↔ its ``step``).
    split
        As in :func:`epoch_checkpoints`.

    Returns
    -------
    list of str
        One text per checkpoint, in ``epoch_index`` order. ``guid`` is the item id (a string),
        ``logits_epoch_k`` the logits as written by the run (float32 values written exactly, as
        the shortest decimal that reads back to the same double), ``gold`` the ``label_used``.

    Raises
    ------
    ContestedError
        An item lacks a snapshot at one of the steps, or its ``label_used`` changes between them.
    """
    snap = run_snapshots(dynamics, split)
    items = np.sort(snap["item_id"].astype(str).unique())
    gold: pd.Series | None = None
    texts = []
    for k, step in zip(checkpoints["epoch_index"], checkpoints["step"], strict=True):
        rows = snap.loc[snap["step"] == step].assign(item_id=lambda d: d["item_id"].astype(str))
        rows = rows.drop_duplicates("item_id").set_index("item_id").reindex(items)
        if rows["label_used"].isna().any():
            missing = rows.index[rows["label_used"].isna()]
            raise ContestedError(f"run: {len(missing)} of {len(items)} items have no snapshot at step {step} "
                                 f"(e.g. {missing[0]}); every exported epoch needs every item")
        labels = rows["label_used"].astype(np.int64)
        if gold is None:
            gold = labels
        elif not labels.equals(gold):
            changed = labels.index[labels != gold][0]
            raise ContestedError(f"run: item {changed} has label_used {gold[changed]} at step "
                                 f"{checkpoints['step'].iloc[0]} but {labels[changed]} at step {step}; "
                                 "cartography keeps one gold label per item")
        logits = logits_matrix(rows["logits"])
        field = logits_field(int(k))
        lines = (json.dumps({"guid": guid, field: [float(x) for x in row], "gold": int(g)}, separators=(",", ":"))
                 for guid, row, g in zip(items, logits, labels, strict=True))
        texts.append("".join(line + "\n" for line in lines))
    return texts


# --------------------------------------------------------------------------- import


@dataclasses.dataclass(frozen=True)
class CartographyDynamics:
    """The per-epoch files of one cartography run, merged per item.

    Attributes
    ----------
    guids
        (N,) item ids as strings, in the order of epoch 0's file.
    gold
        (N,) int64 labels (from epoch 0, checked equal in every epoch).
    logits
        (E, N, K) float64 logits, epoch × item × class.
    files
        The E files read, epoch 0 first.
    guid_types
        The JSON types the guids had (``{"int"}``, ``{"str"}`` or both).
    """

    guids: np.ndarray
    gold: np.ndarray
    logits: np.ndarray
    files: tuple[Path, ...]
    guid_types: frozenset[str]

    @property
    def n_epochs(self) -> int:
        """E, the number of epoch files."""
        return int(self.logits.shape[0])

    @property
    def num_classes(self) -> int:
        """K, the length of every logits list."""
        return int(self.logits.shape[2])


def find_epoch_files(folder: str | Path) -> list[Path]:
    """``dynamics_epoch_0.jsonl … dynamics_epoch_{E-1}.jsonl`` in ``folder`` or ``folder/training_dynamics``.

    Other files are ignored. Raises :class:`ContestedError` when the folder does not exist, holds
    no such file, numbers one epoch twice (``_1`` and ``_01``) or skips one.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise located(folder, "is not a folder; pass cartography's model directory or its training_dynamics/ folder")
    where = folder / FOLDER if (folder / FOLDER).is_dir() else folder
    found: dict[int, Path] = {}
    for path in sorted(where.iterdir()):
        match = FILE_PATTERN.fullmatch(path.name)
        if match is None or not path.is_file():
            continue
        k = int(match.group(1))
        if k in found:
            raise located(path, f"numbers epoch {k} again (also {found[k].name}); keep one file per epoch")
        found[k] = path
    if not found:
        raise located(where, "holds no dynamics_epoch_<k>.jsonl files (Dataset Cartography's per-epoch "
                      "training dynamics)")
    missing = [k for k in range(max(found) + 1) if k not in found]
    if missing:
        raise located(where / file_name(missing[0]), f"missing; epochs are numbered 0..{max(found)} without gaps")
    return [found[k] for k in range(len(found))]


def _guid(value: object, path: Path, line: int) -> tuple[str, str]:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise located(path, f"must be an integer or a string (got {json.dumps(value)})", line=line, field="guid")
    if isinstance(value, str) and not value.strip():
        raise located(path, "is an empty string; every item needs an id", line=line, field="guid")
    return str(value), type(value).__name__


def _logits(value: object, path: Path, line: int, field: str, k_expected: int | None) -> list[float]:
    if not isinstance(value, list) or not value:
        raise located(path, f"must be a list of K numbers (got {json.dumps(value)[:60]})", line=line, field=field)
    for x in value:
        if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
            raise located(path, f"holds {json.dumps(x)}, not a finite number", line=line, field=field)
    if k_expected is not None and len(value) != k_expected:
        raise located(path, f"has {len(value)} logits but earlier records have {k_expected}; every record needs "
                      "the same K", line=line, field=field)
    if len(value) < 2:
        raise located(path, "has one logit; a classifier needs K >= 2", line=line, field=field)
    return [float(x) for x in value]


def _gold(value: object, path: Path, line: int, k: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise located(path, f"must be an integer class index (got {json.dumps(value)})", line=line, field="gold")
    if not 0 <= value < k:
        raise located(path, f"is {value}, outside 0..{k - 1} for {k} logits", line=line, field="gold")
    return value


def _read_epoch(path: Path, epoch: int, k_expected: int | None) -> tuple[dict[str, tuple[int, list[float], int]], set]:
    """guid → (gold, logits, line) of one file, and the guid types seen."""
    field = logits_field(epoch)
    records: dict[str, tuple[int, list[float], int]] = {}
    kinds: set[str] = set()
    try:
        lines = list(iter_jsonl(path))  # the loaders' reader: UTF-8 (BOM or not), LF/CRLF, one object a line
    except OSError as exc:
        raise located(path, f"cannot read ({type(exc).__name__}); expected UTF-8 JSON Lines") from None
    for line, obj in lines:
        for name in ("guid", field, "gold"):
            if name not in obj:
                raise located(path, "missing" + (f" (the key of epoch {epoch}'s logits)" if name == field else ""),
                              line=line, field=name)
        guid, kind = _guid(obj["guid"], path, line)
        logits = _logits(obj[field], path, line, field, k_expected)
        k_expected = len(logits)
        gold = _gold(obj["gold"], path, line, k_expected)
        if guid in records:
            raise located(path, f"guid {guid} appears twice (also line {records[guid][2]})", line=line, field="guid")
        records[guid] = (gold, logits, line)
        kinds.add(kind)
    return records, kinds


def read_cartography(folder: str | Path) -> CartographyDynamics:
    """Read and check Dataset Cartography's per-epoch files (see the module docstring).

    Parameters
    ----------
    folder
        Cartography's model directory (holding ``training_dynamics/``) or that folder itself.

    Returns
    -------
    CartographyDynamics

    Raises
    ------
    ContestedError
        One line naming the file, line and field: no epoch files or a gap in their numbers, a line
        that is not JSON or not an object, a missing ``guid`` / ``logits_epoch_k`` / ``gold``,
        non-numeric or non-finite logits, logits lists of differing lengths, a gold label outside
        0..K-1, a guid twice in one file, a guid missing from (or added in) a later epoch, or a
        gold label that differs from epoch 0's.
    """
    files = find_epoch_files(folder)
    first, kinds = _read_epoch(files[0], 0, None)
    guids = list(first)
    k = len(next(iter(first.values()))[1])
    logits = np.empty((len(files), len(guids), k), dtype=np.float64)
    logits[0] = [first[g][1] for g in guids]
    gold = np.array([first[g][0] for g in guids], dtype=np.int64)
    for epoch, path in enumerate(files[1:], start=1):
        records, more = _read_epoch(path, epoch, k)
        kinds |= more
        for guid, (label, _, line) in records.items():
            if guid not in first:
                raise located(path, f"guid {guid} is not in {files[0].name}; every epoch needs the same items",
                              line=line, field="guid")
            if label != first[guid][0]:
                raise located(path, f"is {label} but {first[guid][0]} in {files[0].name} line {first[guid][2]} "
                              f"(guid {guid}); an item keeps one gold label", line=line, field="gold")
        if len(records) != len(first):
            lacking = next(g for g in guids if g not in records)
            more = len(first) - len(records) - 1
            raise located(path, f"lacks guid {lacking} ({files[0].name} line {first[lacking][2]})"
                          f"{f' and {more} more' if more else ''}; every epoch needs the same items", field="guid")
        logits[epoch] = [records[g][1] for g in guids]
    return CartographyDynamics(guids=np.array(guids, dtype=object), gold=gold, logits=logits,
                               files=tuple(files), guid_types=frozenset(kinds))


def dynamics_from_cartography(data: CartographyDynamics, *, run_id: str, split: str = "tracked") -> pd.DataFrame:
    """A dynamics table (docs/ARCHITECTURE.md) of snapshot rows, one per item × epoch file.

    Epoch file ``k`` becomes ``step = k``, ``epoch = k + 1`` (epochs done), ``progress = (k + 1) / E``.
    ``loss`` is the cross-entropy of ``gold`` under ``softmax(logits)`` in nats, ``p_label`` the
    probability of ``gold``, ``predicted`` the argmax (first maximum, as ``np.argmax``);
    ``label_used = gold``, ``is_noisy`` False. Losses, probabilities and logits stay float64
    (the JSON's precision) rather than the training layer's float32.

    Returns
    -------
    pandas.DataFrame
        E × N rows sorted by item then step, columns :data:`~contested.dynamics.DYNAMICS_COLUMNS`.
    """
    n_epochs, n_items, _ = data.logits.shape
    z = data.logits
    zmax = z.max(axis=2, keepdims=True)
    log_norm = zmax[..., 0] + np.log(np.exp(z - zmax).sum(axis=2))         # (E, N)
    z_gold = np.take_along_axis(z, data.gold[None, :, None], axis=2)[..., 0]  # (E, N)
    loss = log_norm - z_gold
    epoch_index = np.repeat(np.arange(n_epochs, dtype=np.int64), n_items)
    out = pd.DataFrame({
        "run_id": run_id, "item_id": np.tile(data.guids, n_epochs).astype(str), "split": split,
        "step": epoch_index, "epoch": (epoch_index + 1).astype(np.float64),
        "progress": (epoch_index + 1) / n_epochs, "measurement": "snapshot",
        "loss": loss.ravel(), "logits": list(z.reshape(n_epochs * n_items, -1)),
        "p_label": np.exp(-loss).ravel(), "predicted": np.argmax(z, axis=2).ravel().astype(np.int64),
        "label_used": np.tile(data.gold, n_epochs), "is_noisy": False,
    })
    return out.sort_values(["item_id", "step"], kind="stable").reset_index(drop=True)


def summary(dynamics: pd.DataFrame, data: CartographyDynamics, label_names: Sequence[str]) -> dict:
    """Per-epoch accuracy and mean loss (nats) of the imported items, for ``metrics.json``.

    ``dynamics`` is :func:`dynamics_from_cartography` of ``data``.
    """
    by_epoch = dynamics.groupby("step", sort=True)
    return {
        "label_names": list(label_names), "n_items": len(data.guids), "n_epochs": data.n_epochs,
        "epochs": [{"epoch": int(step) + 1, "file": data.files[int(step)].name,
                    "train_accuracy": float((g["predicted"] == g["label_used"]).mean()),
                    "train_loss": float(g["loss"].mean())} for step, g in by_epoch],
    }
