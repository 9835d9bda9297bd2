"""Config dataclasses that round-trip to JSON and reject unknown keys (peft/nanoGPT style).

Each concern (data, model, training, recording, ...) has one frozen dataclass inheriting
:class:`Config`; it is the single source of truth for that concern's options, its CLI flags
and its entry in a run's ``config.json``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import types
import typing
from typing import Any, ClassVar, TypeVar

from contested.errors import ContestedError

C = TypeVar("C", bound="Config")

_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


@functools.cache
def _scalar_types(cls: type) -> dict[str, tuple[type | None, bool]]:
    """Per field: the scalar type it must hold (bool/int/float/str, else None) and whether None is allowed."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        optional, base = False, hint
        if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None
            args = typing.get_args(hint)
            optional = type(None) in args
            rest = [a for a in args if a is not type(None)]
            base = rest[0] if len(rest) == 1 else None
        out[f.name] = (base if base in (bool, int, float, str) else None, optional)
    return out


def _coerce(value: Any, base: type) -> Any:
    """``value`` as ``base``, accepting the text forms YAML and the CLI give; TypeError otherwise."""
    if base is bool:
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        if not isinstance(value, bool):
            raise TypeError
        return value
    if isinstance(value, bool):  # bool is an int subclass; True is not a rank or a rate
        raise TypeError
    if base is int:
        if isinstance(value, float) and not value.is_integer():
            raise TypeError
        return int(value)
    if base is float:
        return float(value)
    if not isinstance(value, str):
        raise TypeError
    return value


@dataclasses.dataclass(frozen=True)
class Config:
    """Base class: ``to_dict``/``from_dict`` with strict keys, typed scalars and a stable content hash.

    Scalar fields (bool, int, float, str, optionally None) are coerced to their annotated type on
    construction, because YAML 1.1 reads ``1e-4`` as text and CLI values arrive as text; a value
    that cannot be read as its type is an error naming ``section.field``. Subclasses that validate
    further call ``super().__post_init__()`` first.
    """

    #: Where this config sits in a run's ``config.json`` (``train``, ``data.noise``); errors name
    #: fields by it.
    section: ClassVar[str] = "config"

    def __post_init__(self) -> None:
        for name, (base, optional) in _scalar_types(type(self)).items():
            value = getattr(self, name)
            if value is None:
                if not optional:
                    raise ContestedError(f"{self.section}.{name}: is required (got null)")
                continue
            if base is None:
                continue
            try:
                coerced = _coerce(value, base)
            except (TypeError, ValueError):
                raise ContestedError(
                    f"{self.section}.{name}: expected {base.__name__}, got {value!r}"
                ) from None
            object.__setattr__(self, name, coerced)  # frozen: normal assignment is refused

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready dict (nested configs become dicts, tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=list))

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any] | None, *, where: str = "config") -> C:
        """Build from a dict; unknown keys are an error naming the allowed ones."""
        data = dict(data or {})
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ContestedError(
                f"{where}: unknown key(s) {', '.join(unknown)} for {cls.__name__}; "
                f"allowed: {', '.join(sorted(fields))}"
            )
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for name, value in data.items():
            hint = hints.get(name)
            if isinstance(hint, type) and issubclass(hint, Config) and isinstance(value, dict):
                value = hint.from_dict(value, where=f"{where}.{name}")
            elif isinstance(value, list):
                value = tuple(value)
            kwargs[name] = value
        return cls(**kwargs)

    def replace(self: C, **changes: Any) -> C:
        """Copy with ``changes`` applied (validation runs again)."""
        return dataclasses.replace(self, **changes)

    def digest(self, length: int = 12) -> str:
        """Stable hash of the canonical JSON (key order and tuple/list spelling do not matter)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:length]
