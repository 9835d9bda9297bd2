"""The one walker over a config tree: every leaf field with its dotted path and CLI flag.

The CLI generator (:mod:`contested.commands.schema`), sweep files (:mod:`contested.experiments.spec`)
and the tests all see a config through :func:`leaves`; nested sections are descended into, so
``RunConfig`` yields ``train.lr`` and ``data.noise.rate``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from typing import Any

from contested.config import Config, FieldKind, FieldSpec, specs


@dataclasses.dataclass(frozen=True)
class Leaf:
    """One scalar or list field of a config tree, as the CLI and sweep files see it.

    Attributes
    ----------
    path
        Keys from the root, e.g. ``("data", "noise", "rate")``; ``dotted`` joins them.
    flag
        The CLI flag, ``--noise-rate`` (the owning section's ``flag_prefix`` + the field name).
    owner
        The config class that declares the field.
    """

    path: tuple[str, ...]
    flag: str
    owner: type[Config]
    spec: FieldSpec

    @property
    def kind(self) -> FieldKind:
        """The field's kind (how its text is coerced)."""
        return self.spec.kind

    @property
    def default(self) -> Any:
        """The declared default."""
        return self.spec.default

    @property
    def help(self) -> str:
        """The declared help text."""
        return self.spec.help

    @property
    def dotted(self) -> str:
        """The path joined by dots, ``data.noise.rate`` (the YAML key and the error's field)."""
        return ".".join(self.path)

    @property
    def name(self) -> str:
        """The field's own name, the path's last key."""
        return self.path[-1]

    @property
    def field(self) -> str:
        """How errors name it: the owner's section + the name (``train.lr``, ``demo.lora_lr``)."""
        return self.owner.path(self.name)

    @property
    def panel(self) -> str | None:
        """The section the flag is listed under in ``--help`` (None for top-level fields)."""
        return self.path[0] if len(self.path) > 1 else None


def leaves(cls: type[Config], prefix: tuple[str, ...] = ()) -> Iterator[Leaf]:
    """Every leaf field under ``cls``, nested sections included, in declaration order."""
    for spec in specs(cls):
        if spec.kind.config is not None:
            yield from leaves(spec.kind.config, (*prefix, spec.name))
            continue
        flag = "--" + (cls.flag_prefix + spec.name).replace("_", "-")
        yield Leaf((*prefix, spec.name), flag, cls, spec)


@functools.cache
def leaf_map(cls: type[Config]) -> dict[str, Leaf]:
    """``{dotted path: Leaf}`` of :func:`leaves`."""
    return {leaf.dotted: leaf for leaf in leaves(cls)}


def leaf_of_error(cls: type[Config], field: str) -> Leaf | None:
    """The leaf of ``cls`` that a :class:`~contested.config.ConfigError`'s ``field`` names (``train.lr``).

    None where the field is not a leaf of ``cls`` (e.g. a rule across fields named by its section).
    """
    return next((leaf for leaf in leaves(cls) if leaf.field == field), None)


def flatten_dict(nested: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{dotted path: value}`` of a nested dict (e.g. a config's :meth:`Config.to_dict`)."""
    out: dict[str, Any] = {}
    for key, value in nested.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        out.update(flatten_dict(value, dotted) if isinstance(value, dict) else {dotted: value})
    return out


def unflatten_dict(flat: dict[str, Any]) -> dict[str, Any]:
    """Nested dict (``from_dict`` input) from ``{dotted path: value}``."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        node = nested
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = list(value) if isinstance(value, tuple) else value
    return nested


__all__ = ["Leaf", "flatten_dict", "leaf_map", "leaf_of_error", "leaves", "unflatten_dict"]
