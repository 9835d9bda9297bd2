"""Install exchange files: other tools' training dynamics as a run directory, exports as a folder (no torch).

:func:`import_cartography` turns Dataset Cartography's per-epoch files
(:mod:`contested.dynamics.exchange`) into a finished run directory that ``contested analyze`` and
``contested report`` read; :func:`install_folder` writes an export folder all at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from contested.dynamics.exchange import (
    CartographyDynamics,
    dynamics_from_cartography,
    read_cartography,
    summary,
)
from contested.errors import ContestedError, located
from contested.io import building_dir, sha256_file, write_json, write_table
from contested.provenance import environment_info
from contested.rundir.layout import CONFIG, DYNAMICS, ENV, ITEMS, METRICS, building, is_finished

#: ``model`` of an imported run's config (the model that produced the logits is unknown).
IMPORTED_MODEL = "imported:cartography"
#: ``data.dataset`` of an import without ``--dataset``.
NO_DATASET = "imported"
#: The export index written beside the exported files (marks a folder as ours, for ``--force``).
INDEX = "contested_export.json"


@contextlib.contextmanager
def install_folder(target: str | os.PathLike, *, force: bool = False) -> Iterator[Path]:
    """Yield an empty hidden build folder; on success it replaces ``target`` in one rename.

    ``target`` may not exist, may be an empty folder, or (with ``force``) a folder of an earlier
    export (it holds :data:`INDEX`). An exception removes the build folder and leaves ``target``
    as it was.

    Raises
    ------
    ContestedError
        ``target`` is a file, or a non-empty folder that is not an earlier export (or is one and
        ``force`` is off).
    """
    target = Path(target)
    if target.exists():
        if not target.is_dir():
            raise located(target, "is a file; --out names a folder to create")
        if any(target.iterdir()):
            if not (target / INDEX).is_file():
                raise located(target, "is a folder with other files in it; give --out a new or empty folder")
            if not force:
                raise located(target, "holds an earlier export; pass --force to replace it")
    with building_dir(target) as tmp:
        yield tmp


def _run_id(data: CartographyDynamics, dataset: str | None) -> str:
    """12 hex digits of SHA-256 over the files' checksums and the dataset: the same import, the same id."""
    digest = hashlib.sha256(f"cartography\n{dataset or ''}\n".encode())
    for path in data.files:
        digest.update(f"{path.name} {sha256_file(path)}\n".encode())
    return digest.hexdigest()[:12]


def _items(data: CartographyDynamics, dataset: str | None, data_dir: str | None) -> tuple[pd.DataFrame, list[str],
                                                                                         list[str]]:
    """The run's item table, class names and the dataset files read."""
    n, k = len(data.guids), data.num_classes
    base = pd.DataFrame({"item_id": data.guids.astype(str)})
    if dataset is None:
        items = base.assign(entropy=np.nan, training_label=data.gold, split="tracked")
        return items, [str(c) for c in range(k)], []
    from contested.data import load_items

    table = load_items(dataset, data_dir=data_dir)
    names = [str(x) for x in table.attrs.get("label_names", [])]
    if len(names) != k:
        raise ContestedError(f"--dataset {dataset}: has {len(names)} classes ({', '.join(names)}) but the "
                             f"logits have {k} entries; pass the dataset the dynamics were recorded on")
    table = table.assign(item_id=table["item_id"].astype(str))
    known = set(table["item_id"])
    unknown = [g for g in base["item_id"] if g not in known]
    if unknown:
        raise ContestedError(f"--dataset {dataset}: {len(unknown)} of {n} guids are not its item ids (e.g. "
                             f"{unknown[0]}); pass the dataset the dynamics were recorded on, or omit --dataset")
    items = base.merge(table, on="item_id", how="left", validate="one_to_one")
    items["training_label"] = data.gold
    items["split"] = "tracked"
    return items, names, [str(f) for f in table.attrs.get("data_files", [])]


def _config(data: CartographyDynamics, dataset: str | None, source: Path) -> dict[str, Any]:
    """A ``config.json`` that :func:`contested.rundir.conditions` reads and that says where the run came from."""
    return {
        "model": IMPORTED_MODEL,
        "method": {"method": "unknown", "rank": None},
        "data": {"dataset": dataset or NO_DATASET, "training_label": "gold", "bulk": None,
                 "noise": {"kind": None, "rate": 0.0}},
        "train": {"seed": None, "epochs": data.n_epochs, "lr": None, "soft_labels": False},
        "imported": {"format": "cartography", "source": str(source), "files": [p.name for p in data.files],
                     "n_items": len(data.guids), "num_classes": data.num_classes},
    }


def import_cartography(folder: str | os.PathLike, runs_dir: str | os.PathLike, *, dataset: str | None = None,
                       data_dir: str | None = None, force: bool = False) -> Path:
    """Read Dataset Cartography's per-epoch files and install them as a finished run directory.

    Parameters
    ----------
    folder
        Cartography's model directory (holding ``training_dynamics/``) or that folder itself.
    runs_dir
        Where the run directory ``<runs_dir>/<run id>/`` is created.
    dataset
        A multi-annotator dataset the guids are item ids of (registry name or file,
        :func:`contested.data.load_items`): its entropy, bins and votes join the items. ``None``:
        items get ``entropy`` NaN and no bins (the entropy analyses are then unavailable).
    data_dir
        Data folder for registry names.
    force
        Replace an earlier import of the same files.

    Returns
    -------
    Path
        The run directory. Its files: ``config.json`` (model ``imported:cartography``, method
        ``unknown``), ``env.json``, ``items.parquet`` (split ``tracked``, ``training_label = gold``),
        ``dynamics.parquet`` (:func:`~contested.dynamics.exchange.dynamics_from_cartography`),
        ``metrics.json`` (label names, per-epoch accuracy and mean loss) and ``DONE``.

    Raises
    ------
    ContestedError
        Malformed files (see :func:`~contested.dynamics.exchange.read_cartography`), a dataset that
        lacks some guids or has another number of classes, or an earlier import without ``force``.
        Nothing is written then.
    """
    source = Path(folder)
    data = read_cartography(source)
    items, names, data_files = _items(data, dataset, data_dir)
    run_id = _run_id(data, dataset)
    runs_dir = Path(runs_dir)
    if is_finished(runs_dir / run_id) and not force:
        raise located(runs_dir / run_id, "these files were imported already; pass --force to import them again")
    dynamics = dynamics_from_cartography(data, run_id=run_id)
    metrics = {**summary(dynamics, data, names), "run_id": run_id, "n_snapshots": data.n_epochs, "total_steps": None,
               "n_tracked": len(items), "n_validation": 0, "final": {}}
    env = {**environment_info(data_files=[*map(str, data.files), *data_files]), "run_id": run_id, "seeds": None,
           "imported": {"format": "cartography", "source": str(source.resolve()),
                        "guid_types": sorted(data.guid_types)}}
    with building(runs_dir, run_id) as tmp:
        write_json(tmp / CONFIG, _config(data, dataset, source.resolve()))
        write_json(tmp / ENV, env)
        write_table(items, tmp / ITEMS)
        write_table(dynamics, tmp / DYNAMICS)
        write_json(tmp / METRICS, metrics)
    return runs_dir / run_id
