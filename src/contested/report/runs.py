"""Find finished run directories and load their files (pure pandas/json, no torch).

A run directory (:mod:`contested.rundir`, which owns the file names) holds ``config.json``,
``env.json``, ``items.parquet``, ``dynamics.parquet``, ``metrics.json`` and, written last,
``DONE``. Only directories with ``DONE`` are runs; anything else (a run still training, a crashed
one) is skipped and counted.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from contested.errors import ContestedError, located
from contested.report.conditions import sort_conditions
from contested.rundir.layout import (
    CONFIG,
    DONE,
    DYNAMICS,
    ENV,
    ITEMS,
    METRICS,
    RUN_FILES,
    find_finished,
)
from contested.rundir.reading import conditions, read_config, read_json


@dataclasses.dataclass(frozen=True)
class Run:
    """One finished run, as read from its directory.

    Attributes
    ----------
    path
        The run directory.
    run_id
        The run's id (its config digest; the ``run_id`` of its dynamics rows).
    config, env, metrics
        Parsed ``config.json``, ``env.json`` and ``metrics.json``.
    items
        Item table of the tracked and validation items (``split``, ``training_label``, …).
    dynamics
        Long-form dynamics table.
    """

    path: Path
    run_id: str
    config: dict[str, Any]
    env: dict[str, Any]
    metrics: dict[str, Any]
    items: pd.DataFrame
    dynamics: pd.DataFrame

    @property
    def condition(self) -> dict[str, Any]:
        """The run's condition and seed (see :func:`run_condition`)."""
        return run_condition(self.config)


def find_runs(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Finished run directories under ``paths`` (each a run dir or a folder of them, any depth).

    Parameters
    ----------
    paths
        Run directories, sweep output folders or ``runs/`` folders.

    Returns
    -------
    list of Path
        Sorted, without duplicates.

    Raises
    ------
    ContestedError
        A path that does not exist, or one under which no directory has a ``DONE`` file.
    """
    found: set[Path] = set()
    paths = list(paths)
    if not paths:
        raise ContestedError("no paths given: pass run directories or a folder of runs (e.g. runs/)")
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise located(path, "does not exist; pass a run directory or a folder of runs (e.g. runs/)")
        if not path.is_dir():
            raise located(path, "is not a directory; pass a run directory or a folder of runs")
        # Hidden folders are runs still being built (runs/.<digest>.partial-<pid>/): never read them.
        here = find_finished(path)
        if not here:
            unfinished = [p for p in path.rglob(CONFIG)]
            hint = (f"{len(unfinished)} run dir(s) without DONE (unfinished or crashed); "
                    "finish or rerun them" if unfinished else "run `contested train` or a sweep first")
            raise located(path, f"no finished runs (no directory with a DONE file) under it; {hint}")
        found.update(p.resolve() for p in here)
    return sorted(found)


def _arrow_lists(dtype: pa.DataType) -> pd.ArrowDtype | None:
    """Keep list columns (the logits) as one Arrow buffer: 8× less memory than an array per row."""
    return pd.ArrowDtype(dtype) if pa.types.is_list(dtype) or pa.types.is_large_list(dtype) else None


def _read_parquet(path: Path, *, drop: Sequence[str] = (), arrow_lists: bool = False) -> pd.DataFrame:
    try:
        # Columnar: columns in ``drop`` are never decoded (logits are most of a dynamics file).
        columns = [c for c in pq.read_schema(path).names if c not in drop] if drop else None
        table = pq.read_table(path, columns=columns)
    except (OSError, ValueError) as exc:
        raise located(path, f"cannot read Parquet ({type(exc).__name__}); the run is damaged, rerun it") from None
    mapper = _arrow_lists if arrow_lists else None
    try:
        return table.to_pandas(types_mapper=mapper)
    except TypeError:
        # pandas writes ArrowDtype list columns (e.g. logits) with a dtype name that it cannot
        # parse back; the Arrow types themselves are intact, so read without the pandas metadata.
        return table.to_pandas(ignore_metadata=True, types_mapper=mapper)


def load_run(path: str | os.PathLike, *, logits: bool = True) -> Run:
    """Read one finished run directory.

    Parameters
    ----------
    path
        The run directory.
    logits
        Read the dynamics' ``logits`` column (kept as an Arrow list column, ``pd.ArrowDtype``: one
        buffer rather than a NumPy array per row). The human-fit analyses (JSD, KL to the annotator
        distribution) need it; skipping it reads a study-sized run (66,600 rows) about twice as fast.

    Raises
    ------
    ContestedError
        No ``DONE`` file, a missing or unreadable file, or a dynamics table of several runs.
    """
    path = Path(path)
    if not (path / DONE).is_file():
        raise located(path, "not a finished run (no DONE file); finish or rerun it")
    missing = [name for name in RUN_FILES if not (path / name).is_file()]
    if missing:
        raise located(path, f"finished run lacks {', '.join(missing)}; rerun it with `contested train --force`")
    dynamics = _read_parquet(path / DYNAMICS, drop=() if logits else ("logits",), arrow_lists=True)
    if "run_id" not in dynamics.columns:
        raise located(path / DYNAMICS, "missing column 'run_id'", field="run_id")
    ids = dynamics["run_id"].astype(str).unique()
    if len(ids) > 1:
        raise located(path / DYNAMICS, f"holds {len(ids)} runs ({', '.join(ids[:3])}); one run per directory")
    run_id = str(ids[0]) if len(ids) else path.name
    items = _read_parquet(path / ITEMS)
    metrics = read_json(path, METRICS)
    if metrics.get("label_names"):
        items.attrs["label_names"] = list(metrics["label_names"])
    return Run(path=path, run_id=run_id, config=read_config(path), env=read_json(path, ENV),
               metrics=metrics, items=items, dynamics=dynamics)


def load_runs(paths: Iterable[str | os.PathLike], *, logits: bool = True) -> list[Run]:
    """:func:`find_runs` then :func:`load_run` for each; duplicate run ids are an error."""
    runs = [load_run(p, logits=logits) for p in find_runs(paths)]
    seen: dict[str, Path] = {}
    for run in runs:
        if run.run_id in seen:
            raise located(run.path, f"same run_id {run.run_id} as {seen[run.run_id]}; pass one copy of each run")
        seen[run.run_id] = run.path
    return runs


def run_condition(config: dict[str, Any]) -> dict[str, Any]:
    """Condition columns of a run from its ``config.json`` (``RunConfig.to_dict()``).

    The columns are those of :func:`contested.rundir.conditions` (so a report and a sweep's run
    table agree), with the data config's ``training_label`` renamed
    ``label_scheme``: in the per-item tables ``training_label`` is each item's label.

    Returns
    -------
    dict
        ``model, method, rank`` (None unless LoRA), ``dataset, seed, label_scheme`` (majority |
        old | soft), ``soft_labels, noise_kind, noise_rate`` (0.0 without noise), ``mitigation``
        (``none``, ``soft``, ``entropy-weighted``, ``ls0.1``, …), ``lr, bulk, epochs``.
    """
    cond = conditions(config)
    cond["label_scheme"] = cond.pop("training_label")
    return cond


def _majority_rate(items: pd.DataFrame) -> float:
    """Share of the most common training label among the validation items (the trivial accuracy)."""
    if "split" not in items.columns or "training_label" not in items.columns:
        return float("nan")
    labels = items.loc[items["split"] == "validation", "training_label"].dropna()
    return float(labels.value_counts(normalize=True).max()) if len(labels) else float("nan")


def runs_table(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per run: id, condition, last-epoch validation loss/accuracy, held-out accuracy.

    Returns
    -------
    pandas.DataFrame
        ``run_id``, the :func:`run_condition` columns, ``n_tracked,
        n_validation, total_steps, n_snapshots, val_loss (nats), val_accuracy, majority_rate,
        heldout_accuracy, n_heldout, wall_time_s, path``.
    """
    rows = []
    for run in runs:
        final = run.metrics.get("final") or {}
        split = run.items["split"] if "split" in run.items.columns else pd.Series(dtype=str)
        rows.append({
            "run_id": run.run_id, **run.condition,
            "n_tracked": int((split == "tracked").sum()), "n_validation": int((split == "validation").sum()),
            "total_steps": run.metrics.get("total_steps"), "n_snapshots": run.metrics.get("n_snapshots"),
            "val_loss": final.get("val_loss", np.nan), "val_accuracy": final.get("val_accuracy", np.nan),
            "majority_rate": _majority_rate(run.items),
            "heldout_accuracy": final.get("heldout_accuracy", np.nan), "n_heldout": run.metrics.get("n_heldout"),
            "wall_time_s": run.metrics.get("wall_time_s"), "path": str(run.path),
        })
    df = pd.DataFrame(rows)
    for col in ("val_loss", "val_accuracy", "heldout_accuracy"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    df["rank"] = df["rank"].astype("Int64")
    return sort_conditions(df, then=("seed", "run_id"))
