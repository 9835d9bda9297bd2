"""Sweep manifests and the run table of a sweep directory (what reports read; no torch).

Running a sweep writes ``<runs_dir>/sweeps/<name>.json``: the sweep file's text and SHA-256 and,
per run, its id, label, axis values and resolved config. :func:`sweep_runs` turns a sweep
directory into one row per run with its status and condition columns, so ``contested report``
and ``contested analyze`` can group seeds into conditions without re-reading YAML. The run
directories themselves (file names, state, conditions) are :mod:`contested.rundir`'s.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from contested.io import write_json
from contested.rundir.layout import DONE, ERROR, MANIFEST_DIR
from contested.rundir.reading import conditions, recorded_config
from contested.rundir.state import run_state

if TYPE_CHECKING:
    from contested.experiments.sweep import Sweep

#: Columns of :func:`sweep_runs` (condition columns follow ``docs/ARCHITECTURE.md``'s per-run table).
RUN_COLUMNS: tuple[str, ...] = (
    "run_id", "sweep", "label", "status", "error", "path", "model", "method", "rank", "dataset", "seed",
    "training_label", "soft_labels", "noise_kind", "noise_rate", "mitigation", "lr", "bulk", "epochs",
)


def manifest_path(runs_dir: str | os.PathLike, name: str) -> Path:
    """``<runs_dir>/sweeps/<name>.json``."""
    return Path(runs_dir) / MANIFEST_DIR / f"{name}.json"


def write_manifest(sweep: Sweep, *, runs_dir: str | os.PathLike) -> Path:
    """Write the sweep's manifest (atomically) and return its path."""
    record = {
        "name": sweep.name, "description": sweep.description, "file": str(sweep.path),
        "source_sha256": sweep.source_sha256, "source": sweep.source,
        "written": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "n_runs": len(sweep.runs), "duplicates_dropped": sweep.duplicates,
        "runs": [{"run_id": r.run_id, "label": r.label, "axes": r.axes,
                  "resources": r.resources.to_dict(), "config": r.config.to_dict()} for r in sweep.runs],
    }
    return write_json(manifest_path(runs_dir, sweep.name), record)


def sweep_runs(sweep_dir: str | os.PathLike) -> pd.DataFrame:
    """One row per run of a sweep directory: id, sweep, label, status, error, path and conditions.

    Runs come from the manifests in ``<sweep_dir>/sweeps/`` (pending runs included) and from
    every run directory holding ``DONE`` or ``ERROR`` (runs of no manifest get label "").

    Returns
    -------
    pandas.DataFrame
        Columns :data:`RUN_COLUMNS`, sorted by sweep then manifest order.
    """
    root = Path(sweep_dir)
    rows: dict[str, dict[str, Any]] = {}
    for manifest in sorted((root / MANIFEST_DIR).glob("*.json")):
        try:
            record = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for run in record.get("runs", []):
            rows.setdefault(run["run_id"], {"run_id": run["run_id"], "sweep": record.get("name", manifest.stem),
                                            "label": run.get("label", ""), **conditions(run.get("config") or {})})
    if root.is_dir():
        for child in sorted(root.iterdir()):
            if child.is_dir() and not child.name.startswith(".") and child.name != MANIFEST_DIR and (
                    (child / DONE).is_file() or (child / ERROR).is_file()) and child.name not in rows:
                config = recorded_config(child)
                rows[child.name] = {"run_id": child.name, "sweep": None, "label": "", **conditions(config)}
    for run_id, row in rows.items():
        state = run_state(root, run_id)
        row.update(status=state.status.value, error=state.error, path=str(root / run_id))
    return pd.DataFrame(list(rows.values()), columns=list(RUN_COLUMNS))


__all__ = ["RUN_COLUMNS", "manifest_path", "sweep_runs", "write_manifest"]
