"""Reading sweep files: YAML with line numbers, and dotted paths into ``RunConfig``.

A sweep file names run-config fields either as nested mappings (``train: {lr: 1e-3}``) or as
dotted paths (``train.lr: 1e-3``); a few short aliases (``model``, ``method``, ``rank``,
``dataset``, ``seed``, ``lr``, ``noise``) name the fields that sweeps vary most. Everything is
flattened to ``{dotted path: value}`` and checked against the ``RunConfig`` dataclass tree, so a
typo is an error naming the file, the line and the closest valid key.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import typing
from pathlib import Path
from typing import Any

import yaml

from contested.config import Config
from contested.errors import ContestedError, located

#: Short names for the fields sweeps vary most (only at the top level of a mapping).
ALIASES: dict[str, str] = {
    "model": "model",
    "method": "method.method",
    "rank": "method.rank",
    "dataset": "data.dataset",
    "seed": "train.seed",
    "lr": "train.lr",
    "noise": "data.noise.rate",
}

Lines = dict[tuple, int]


def load_yaml(path: str | Path) -> tuple[Any, Lines]:
    """Parse a YAML file; also return the 1-based line of every mapping key and sequence item.

    Returns
    -------
    (object, dict)
        The document (plain dicts/lists/scalars) and ``{key path tuple: line}``; a path is the
        tuple of keys and list indices leading to the node, e.g. ``("grid", "model", 2)``.

    Raises
    ------
    ContestedError
        Missing file, invalid YAML (with its line), or a key given twice in one mapping.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContestedError(f"{path}: sweep file not found; give the path of a .yaml file "
                             "(see configs/ for examples)") from None
    except OSError as exc:
        raise located(path, f"cannot read the file ({exc.strerror})") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise located(path, f"invalid YAML: {exc.problem or exc}", line=line) from None
    finally:
        loader.dispose()
    lines: Lines = {}
    if node is not None:
        _collect_lines(node, (), lines, path)
    return data, lines


def _collect_lines(node: yaml.Node, prefix: tuple, lines: Lines, path: Path) -> None:
    lines[prefix] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise located(path, f"key '{key}' appears twice in the same mapping; keep one",
                              line=key_node.start_mark.line + 1)
            seen.add(key)
            _collect_lines(value_node, (*prefix, key), lines, path)
            # A key's own line (not its value's, which may start on the next line) is what to fix.
            lines[(*prefix, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _collect_lines(item, (*prefix, i), lines, path)


def line_of(lines: Lines, key_path: tuple) -> int | None:
    """The line of ``key_path`` or of its nearest ancestor that has one."""
    while key_path:
        if key_path in lines:
            return lines[key_path]
        key_path = key_path[:-1]
    return lines.get(())


@functools.cache
def field_types(cls: type[Config] | None = None) -> dict[str, Any]:
    """``{dotted path: type hint}`` of every leaf field under ``cls`` (default ``RunConfig``)."""
    if cls is None:
        from contested.train.config import RunConfig

        cls = RunConfig
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if isinstance(hint, type) and issubclass(hint, Config):
            out.update({f"{f.name}.{k}": v for k, v in field_types(hint).items()})
        else:
            out[f.name] = hint
    return out


def section_prefixes() -> set[str]:
    """Dotted paths of nested configs (``method``, ``data``, ``data.noise``, …)."""
    prefixes = set()
    for leaf in field_types():
        parts = leaf.split(".")
        prefixes.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return prefixes


def is_sequence_field(field_path: str) -> bool:
    """Whether the field holds a tuple (so a YAML list is one value, not a choice of values)."""
    hint = field_types()[field_path]
    args = typing.get_args(hint)
    return typing.get_origin(hint) is tuple or any(typing.get_origin(a) is tuple for a in args)


def resolve_key(key: str, *, prefix: str, where: Path, line: int | None) -> str:
    """Dotted path of ``key`` inside section ``prefix``; an error names the closest valid keys."""
    if not isinstance(key, str):
        raise located(where, f"keys must be field names, got {key!r}", line=line)
    full = ALIASES.get(key, key) if not prefix else f"{prefix}.{key}"
    if full in field_types():
        return full
    choices = sorted(field_types()) + ([] if prefix else sorted(ALIASES))
    hint = difflib.get_close_matches(full, choices, n=3)
    extra = f"; did you mean {', '.join(hint)}?" if hint else (
        "; fields are listed in docs/experiments.md (and RunConfig)")
    if full.startswith("data.noise") and "data.noise" not in section_prefixes():
        extra = ("; this checkout's DataConfig has no noise section yet "
                 "(contested.data.noise.NoiseConfig is not wired into the data layer)")
    raise located(where, f"unknown run-config key '{full}'{extra}", line=line)


def flatten(mapping: dict, *, where: Path, lines: Lines, key_path: tuple, prefix: str = "",
            skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """``{dotted path: value}`` of a (possibly nested) mapping of run-config fields.

    A key whose value is a mapping and that names a section (``train``, ``data.noise``) is
    descended into; aliases apply only at the top level; keys in ``skip`` are ignored.
    """
    if not isinstance(mapping, dict):
        raise located(where, f"expected a mapping of run-config fields, got {type(mapping).__name__}",
                      line=line_of(lines, key_path))
    out: dict[str, Any] = {}
    sections = section_prefixes()
    for key, value in mapping.items():
        if not prefix and key in skip:
            continue
        here = (*key_path, key)
        candidate = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and candidate in sections:
            out.update(flatten(value, where=where, lines=lines, key_path=here, prefix=candidate))
            continue
        dotted_section = not prefix and isinstance(key, str) and "." in key and key in sections
        if isinstance(value, dict) and dotted_section:
            out.update(flatten(value, where=where, lines=lines, key_path=here, prefix=key))
            continue
        full = resolve_key(key, prefix=prefix, where=where, line=line_of(lines, here))
        if isinstance(value, dict):
            raise located(where, f"'{full}' takes a single value, not a mapping", line=line_of(lines, here))
        out[full] = value
    return out


def unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    """Nested dict (``RunConfig.from_dict`` input) from ``{dotted path: value}``."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        node = nested
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = list(value) if isinstance(value, tuple) else value
    return nested


def flat_config(config: Config) -> dict[str, Any]:
    """``{dotted path: value}`` of a resolved config (what ``exclude`` entries are matched against)."""
    def walk(d: dict, prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            key = f"{prefix}.{k}" if prefix else k
            out.update(walk(v, key) if isinstance(v, dict) else {key: v})
        return out

    return walk(config.to_dict(), "")


def same_value(a: Any, b: Any) -> bool:
    """Equality that forgives YAML spelling: ``1e-3`` (read as a string) equals 0.001, lists equal tuples."""
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if a == b:
        return True
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return False
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)
