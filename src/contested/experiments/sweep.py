"""Sweep files: one YAML file describes an experiment; it expands to a list of ``RunConfig``.

Format (``docs/experiments.md`` has the full reference)::

    name: rank-sweep                 # default: the file name without .yaml
    description: free text
    runs_dir: runs/rank-sweep        # default: runs/<name>
    resources: {num_cpus: 4, num_gpus: 1}   # per run (the Ray executor schedules with them)
    base:                            # any RunConfig fields, nested or dotted
      data: {dataset: chaosnli-snli}
      train.lr: 2.0e-5
    grid:                            # axes, crossed in file order (first axis outermost)
      model: [roberta-base, bert-base-uncased]    # scalar values: the axis names a field
      rank: [1, 2, 4, 8, 16, 32]
      method:                        # mapping values set several fields together
        - {label: lora-r4, method: lora, rank: 4}
        - {label: full, method: full, train.lr: 1.0e-5, resources: {num_gpus: 1}}
    exclude:                         # drop grid points matching every key of an entry
      - {model: [Qwen/Qwen2.5-1.5B, Qwen/Qwen2.5-3B], method: full}
    include:                         # extra runs: base + the entry
      - {model: roberta-base, method: ia3}

A run's id is ``RunConfig.digest()``: it depends on the resolved config only, never on key order,
axis order or the file, so the same run in two sweeps is the same directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import re
from pathlib import Path
from typing import Any

from contested.config import Config, ConfigError, Range, configclass, option
from contested.config_tree import leaf_of_error, unflatten_dict
from contested.errors import ContestedError, located
from contested.experiments.spec import (
    flat_config,
    flatten,
    is_sequence_field,
    resolve_key,
    same_value,
)
from contested.train.config import RunConfig
from contested.yamlfile import Lines, line_of, load_yaml

TOP_KEYS: tuple[str, ...] = ("name", "description", "runs_dir", "resources", "base", "grid", "exclude",
                             "include")
#: Keys allowed in a grid value mapping or an include entry besides run-config fields.
ENTRY_KEYS: tuple[str, ...] = ("label", "resources")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@configclass
class Resources(Config):
    """What one run asks of a Ray cluster (the local executor ignores it)."""

    section = "resources"

    num_cpus: float = option(1.0, check=Range(ge=0), help="CPU cores reserved per run (also the torch thread "
                                                          "count Ray gives the worker).")
    num_gpus: float = option(0.0, check=Range(ge=0), help="GPUs per run; fractions share a GPU between small "
                                                          "runs (e.g. 0.5).")


@dataclasses.dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep.

    Attributes
    ----------
    run_id
        ``config.digest()``: the name of its run directory.
    label
        Human-readable axis values, e.g. ``model=roberta-base method=lora-r4 seed=42``.
    config
        The resolved run configuration.
    axes
        ``{axis name: value label}`` (include entries: ``{"include": label}``).
    resources
        Per-run resources for the Ray executor.
    """

    run_id: str
    label: str
    config: RunConfig
    axes: dict[str, str]
    resources: Resources


@dataclasses.dataclass(frozen=True)
class Sweep:
    """A parsed, expanded sweep file.

    Attributes
    ----------
    name, description
        From the file (name defaults to the file's stem).
    path
        The sweep file.
    runs_dir
        Where its run directories live (``runs/<name>`` unless set).
    runs
        The expanded runs, in grid order then include order, without duplicates.
    duplicates
        Grid points or include entries that resolved to an already listed run (dropped).
    source, source_sha256
        The file's text and its SHA-256 (stored in the sweep manifest).
    """

    name: str
    description: str
    path: Path
    runs_dir: Path
    runs: tuple[PlannedRun, ...]
    duplicates: int
    source: str
    source_sha256: str


@dataclasses.dataclass(frozen=True)
class _Choice:
    flat: dict[str, Any]
    label: str
    resources: dict[str, Any] | None
    key_path: tuple
    origins: dict[str, tuple]  # YAML key path of each field's value (for the line of a bad value)


def load_sweep(path: str | Path, *, runs_dir: str | Path | None = None) -> Sweep:
    """Read and expand a sweep file.

    Parameters
    ----------
    path
        The YAML sweep file.
    runs_dir
        Overrides the file's ``runs_dir`` (and the default ``runs/<name>``).

    Returns
    -------
    Sweep
        With every run's resolved config and id.

    Raises
    ------
    ContestedError
        Invalid YAML, an unknown key (top level, run-config field or resources), a grid axis that
        is not a list, two axes setting the same field, an ``exclude`` entry that matches no run,
        or a run config that fails validation; the message names the file and line.
    """
    path = Path(path)
    data, lines = load_yaml(path, what="sweep file")
    if not isinstance(data, dict):
        raise located(path, "a sweep file is a mapping with keys " + ", ".join(TOP_KEYS), line=1)
    unknown = [k for k in data if k not in TOP_KEYS]
    if unknown:
        raise located(path, f"unknown key '{unknown[0]}'; a sweep file has {', '.join(TOP_KEYS)}",
                      line=line_of(lines, (unknown[0],)))
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not _NAME.match(name):
        raise located(path, f"name must be letters, digits, '.', '_' or '-', got {name!r}",
                      line=line_of(lines, ("name",)))
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise located(path, "description must be text", line=line_of(lines, ("description",)))
    runs, duplicates = expand(data, where=path, lines=lines)
    if runs_dir is None:
        runs_dir = data.get("runs_dir") or Path("runs") / name
        if not isinstance(runs_dir, str | Path):
            raise located(path, "runs_dir must be a folder path", line=line_of(lines, ("runs_dir",)))
    text = path.read_text(encoding="utf-8")
    return Sweep(name=name, description=description.strip(), path=path, runs_dir=Path(runs_dir),
                 runs=tuple(runs), duplicates=duplicates, source=text,
                 source_sha256=hashlib.sha256(text.encode()).hexdigest())


def expand(data: dict, *, where: str | Path = "sweep", lines: Lines | None = None
           ) -> tuple[list[PlannedRun], int]:
    """Expand a parsed sweep mapping (``base``, ``grid``, ``exclude``, ``include``, ``resources``).

    Returns
    -------
    (list of PlannedRun, int)
        The unique runs in order, and how many duplicates were dropped.
    """
    where, lines = Path(where), lines or {}
    base_origins: dict[str, tuple] = {}
    base = flatten(data.get("base") or {}, where=where, lines=lines, key_path=("base",), origins=base_origins)
    default_resources = _resources(data.get("resources"), None, where, lines, ("resources",))
    axes = _axes(data.get("grid"), where, lines)
    excludes = _entries(data.get("exclude"), "exclude", where, lines)
    defaults = flat_config(RunConfig())
    hits = [0] * len(excludes)

    points: list[tuple[dict, dict, str, Resources, dict]] = []
    for combo in itertools.product(*(choices for _, choices in axes)):
        flat, origins = dict(base), dict(base_origins)
        axis_labels: dict[str, str] = {}
        resources = default_resources
        for (axis, _), choice in zip(axes, combo, strict=True):
            flat.update(choice.flat)
            origins.update(choice.origins)
            axis_labels[axis] = choice.label
            resources = _resources(choice.resources, resources, where, lines, (*choice.key_path, "resources"))
        values = {**defaults, **flat}
        matched = [i for i, entry in enumerate(excludes) if _matches(entry.flat, values)]
        for i in matched:
            hits[i] += 1
        if not matched:
            label = " ".join(f"{axis}={value}" for axis, value in axis_labels.items()) or "base"
            points.append((flat, axis_labels, label, resources, origins))
    for i, entry in enumerate(excludes):
        if not hits[i]:
            raise located(where, f"exclude entry {i + 1} ({_show(entry.flat)}) matches no run of the grid; "
                          "fix its values or remove it", line=line_of(lines, entry.key_path))
    for entry in _entries(data.get("include"), "include", where, lines):
        resources = _resources(entry.resources, default_resources, where, lines, (*entry.key_path, "resources"))
        points.append(({**base, **entry.flat}, {"include": entry.label}, f"include={entry.label}", resources,
                       {**base_origins, **entry.origins}))

    runs: list[PlannedRun] = []
    seen: set[str] = set()
    for flat, axis_labels, label, resources, origins in points:
        config = _build(flat, label, where, lines, origins)
        run_id = config.digest()
        if run_id in seen:
            continue
        seen.add(run_id)
        runs.append(PlannedRun(run_id=run_id, label=label, config=config, axes=axis_labels,
                               resources=resources))
    return runs, len(points) - len(runs)


def _axes(grid: Any, where: Path, lines: Lines) -> list[tuple[str, list[_Choice]]]:
    if grid is None:
        return []
    if not isinstance(grid, dict):
        raise located(where, "grid must be a mapping of axis name → list of values", line=line_of(lines, ("grid",)))
    axes: list[tuple[str, list[_Choice]]] = []
    owner: dict[str, str] = {}
    for axis, values in grid.items():
        key_path = ("grid", axis)
        if not isinstance(values, list) or not values:
            raise located(where, f"grid axis '{axis}' must be a non-empty list of values",
                          line=line_of(lines, key_path))
        choices = []
        for i, value in enumerate(values):
            here = (*key_path, i)
            if isinstance(value, dict):
                origins: dict[str, tuple] = {}
                flat = flatten(value, where=where, lines=lines, key_path=here, skip=ENTRY_KEYS, origins=origins)
                label = value.get("label") or ",".join(str(v) for v in flat.values()) or "base"
                choices.append(_Choice(flat, str(label), value.get("resources"), here, origins))
            else:
                field = resolve_key(axis, prefix="", where=where, line=line_of(lines, key_path))
                choices.append(_Choice({field: value}, _text(value), None, here, {field: here}))
        for field in sorted({f for c in choices for f in c.flat}):
            if field in owner:
                raise located(where, f"grid axes '{owner[field]}' and '{axis}' both set '{field}'; "
                              "merge them into one axis of mappings", line=line_of(lines, key_path))
            owner[field] = axis
        axes.append((str(axis), choices))
    return axes


def _entries(entries: Any, section: str, where: Path, lines: Lines) -> list[_Choice]:
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise located(where, f"{section} must be a list of mappings", line=line_of(lines, (section,)))
    out = []
    for i, entry in enumerate(entries):
        here = (section, i)
        if not isinstance(entry, dict) or not entry:
            raise located(where, f"{section} entry {i + 1} must be a non-empty mapping of fields",
                          line=line_of(lines, here))
        skip = ENTRY_KEYS if section == "include" else ()
        origins: dict[str, tuple] = {}
        flat = flatten(entry, where=where, lines=lines, key_path=here, skip=skip, origins=origins)
        label = entry.get("label") if section == "include" else None
        out.append(_Choice(flat, str(label or _show(flat)), entry.get("resources") if skip else None, here, origins))
    return out


def _resources(spec: Any, inherited: Resources | None, where: Path, lines: Lines, key_path: tuple) -> Resources:
    base = inherited or Resources()
    if spec is None:
        return base
    if not isinstance(spec, dict):
        raise located(where, "resources must be a mapping like {num_cpus: 4, num_gpus: 1}",
                      line=line_of(lines, key_path))
    try:
        return Resources.from_dict({**base.to_dict(), **spec}, where="resources")
    except ContestedError as exc:
        raise located(where, str(exc), line=line_of(lines, key_path)) from None


def _matches(entry: dict[str, Any], values: dict[str, Any]) -> bool:
    for field, want in entry.items():
        have = values.get(field)
        if isinstance(want, list) and not is_sequence_field(field):
            if not any(same_value(have, w) for w in want):
                return False
        elif not same_value(have, want):
            return False
    return True


def _build(flat: dict[str, Any], label: str, where: Path, lines: Lines, origins: dict[str, tuple]) -> RunConfig:
    """The run's config; an invalid value's error names the file and the line it was written on."""
    try:
        return RunConfig.from_dict(unflatten_dict(flat), where=str(where))
    except ConfigError as exc:  # one field's value: at the line of its key (or grid item)
        leaf = leaf_of_error(RunConfig, exc.field)
        origin = origins.get(leaf.dotted) if leaf is not None else None
        line = line_of(lines, origin) if origin is not None else None
        raise located(where, f"run '{label}': {exc}", line=line) from None
    except (ValueError, TypeError) as exc:  # ContestedError is a ValueError
        raise located(where, f"run '{label}': {exc}") from None


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "+".join(map(str, value))
    return str(value)


def _show(flat: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_text(v)}" for k, v in flat.items())


__all__ = ["ENTRY_KEYS", "TOP_KEYS", "PlannedRun", "Resources", "Sweep", "expand", "load_sweep"]
