"""Reading sweep files: YAML with line numbers, and dotted paths into ``RunConfig``.

A sweep file names run-config fields either as nested mappings (``train: {lr: 1e-3}``) or as
dotted paths (``train.lr: 1e-3``); a few short aliases (``model``, ``method``, ``rank``,
``dataset``, ``seed``, ``lr``, ``noise``) name the fields that sweeps vary most. Everything is
flattened to ``{dotted path: value}`` and checked against the ``RunConfig`` dataclass tree, so a
typo is an error naming the file, the line and the closest valid key.
"""

from __future__ import annotations

import difflib
import functools
from pathlib import Path
from typing import Any

from contested.config import Config
from contested.config_tree import Leaf, flatten_dict, leaf_map
from contested.errors import located
from contested.yamlfile import Lines, line_of

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


def field_types(cls: type[Config] | None = None) -> dict[str, Leaf]:
    """``{dotted path: Leaf}`` of every leaf field under ``cls`` (default ``RunConfig``)."""
    if cls is None:
        from contested.train.config import RunConfig

        cls = RunConfig
    return leaf_map(cls)


@functools.cache
def section_prefixes() -> frozenset[str]:
    """Dotted paths of nested configs (``method``, ``data``, ``data.noise``, …)."""
    prefixes = set()
    for leaf in field_types().values():
        prefixes.update(".".join(leaf.path[:i]) for i in range(1, len(leaf.path)))
    return frozenset(prefixes)


def is_sequence_field(field_path: str) -> bool:
    """Whether the field holds a tuple (so a YAML list is one value, not a choice of values)."""
    return field_types()[field_path].kind.sequence


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
    raise located(where, f"unknown run-config key '{full}'{extra}", line=line)


def flatten(mapping: dict, *, where: Path, lines: Lines, key_path: tuple, prefix: str = "",
            skip: tuple[str, ...] = (), origins: dict[str, tuple] | None = None) -> dict[str, Any]:
    """``{dotted path: value}`` of a (possibly nested) mapping of run-config fields.

    A key whose value is a mapping and that names a section (``train``, ``data.noise``) is
    descended into; aliases apply only at the top level; keys in ``skip`` are ignored. When
    ``origins`` is given, it receives the YAML key path of every field (for error lines).
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
            out.update(flatten(value, where=where, lines=lines, key_path=here, prefix=candidate, origins=origins))
            continue
        dotted_section = not prefix and isinstance(key, str) and "." in key and key in sections
        if isinstance(value, dict) and dotted_section:
            out.update(flatten(value, where=where, lines=lines, key_path=here, prefix=key, origins=origins))
            continue
        full = resolve_key(key, prefix=prefix, where=where, line=line_of(lines, here))
        if isinstance(value, dict):
            raise located(where, f"'{full}' takes a single value, not a mapping", line=line_of(lines, here))
        out[full] = value
        if origins is not None:
            origins[full] = here
    return out


def flat_config(config: Config) -> dict[str, Any]:
    """``{dotted path: value}`` of a resolved config (what ``exclude`` entries are matched against)."""
    return flatten_dict(config.to_dict())


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
