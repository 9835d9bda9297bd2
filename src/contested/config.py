"""Config dataclasses that round-trip to JSON and reject unknown keys (peft/nanoGPT style).

Each concern (data, model, training, recording, ...) has one frozen dataclass inheriting
:class:`Config`; it is the single source of truth for that concern's options, its CLI flags
and its entry in a run's ``config.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from typing import Any, TypeVar

from contested.errors import ContestedError

C = TypeVar("C", bound="Config")


@dataclasses.dataclass(frozen=True)
class Config:
    """Base class: ``to_dict``/``from_dict`` with strict keys and a stable content hash."""

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
