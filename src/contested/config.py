"""The config schema: frozen dataclasses whose fields are declared once, with everything about them.

Each concern (data, method, training, recording, the demo, a sweep's resources) has one
``@configclass`` whose fields are declared with :func:`option`: type (the annotation), default,
constraint (``check=``/``choices=``) and help text. That one declaration is the single source of
truth for

* coercion and validation (YAML and CLI values arrive as text: ``1e-4``, ``true``, ``a,b``),
* the error format, one line naming the field (``train.lr: must be > 0 (got -1.0)``; the CLI adds
  the flag: ``train.lr (--lr): …``),
* the CLI flags (:mod:`contested.commands.schema` generates them from :func:`leaves`),
* the class docstring's ``Parameters`` section,
* a run's ``config.json`` (:meth:`Config.to_dict`) and its directory name (:meth:`Config.digest`).

No torch here, so every CLI can read the schema without loading a model library.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import types
import typing
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from contested.errors import ContestedError

C = TypeVar("C", bound="Config")
Check = Callable[[Any], "str | None"]

_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}
_SCALARS = (bool, int, float, str)


class ConfigError(ContestedError):
    """An invalid config value: ``field`` (dotted path, e.g. ``train.lr``) and what is wrong.

    ``str()`` is the one-line message ``train.lr: must be > 0 (got -1.0)``; :meth:`render` adds
    where the value came from (a file and line, or a CLI flag).
    """

    def __init__(self, field: str, message: str) -> None:
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")

    def render(self, *, where: str | None = None, line: int | None = None, flag: str | None = None) -> str:
        """``[where[:line]: ]field[ (flag)]: message``: the format of every config error."""
        prefix = "" if where is None else f"{where}{'' if line is None else f':{line}'}: "
        return f"{prefix}{self.field}{f' ({flag})' if flag else ''}: {self.message}"


# ---------------------------------------------------------------------------------------------
# Constraints: callables ``value -> message | None`` (None: fine).


@dataclasses.dataclass(frozen=True)
class Range:
    """A numeric interval, e.g. ``Range(gt=0)`` (> 0) or ``Range(ge=0, lt=1)`` ([0, 1))."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def describe(self) -> str:
        """The interval in words for error messages: ``> 0``, ``≤ 1`` or ``in [0, 1)``."""
        low = (f"[{self.ge:g}" if self.ge is not None else f"({self.gt:g}" if self.gt is not None else None)
        high = (f"{self.le:g}]" if self.le is not None else f"{self.lt:g})" if self.lt is not None else None)
        if low and high:
            return f"in {low}, {high}"
        if low:
            return f"{'≥' if self.ge is not None else '>'} {low[1:]}"
        return f"{'≤' if self.le is not None else '<'} {high[:-1]}"

    def __call__(self, value: Any) -> str | None:
        ok = ((self.ge is None or value >= self.ge) and (self.gt is None or value > self.gt)
              and (self.le is None or value <= self.le) and (self.lt is None or value < self.lt))
        return None if ok else f"must be {self.describe()} (got {value!r})"


def nonempty(value: Any) -> str | None:
    """Text or a list that is not empty (use None, not ``""``, for "not given")."""
    return "must not be empty" if not (value.strip() if isinstance(value, str) else value) else None


# ---------------------------------------------------------------------------------------------
# Declarations


def option(default: Any = dataclasses.MISSING, *, help: str, check: Check | None = None,
           choices: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = None, hint: str | None = None,
           default_factory: Any = dataclasses.MISSING, added: str | None = None) -> Any:
    """Declare a config field: its default, help text (the CLI's and the docstring's) and constraint.

    Parameters
    ----------
    default, default_factory
        As :func:`dataclasses.field`.
    help
        One sentence; the CLI help and the class docstring use it verbatim.
    check
        ``value -> message or None``, e.g. ``Range(gt=0)``; not called for None.
    choices
        The allowed values (or a function returning them, for registries that grow at run time).
    hint
        Appended to an error about this field, e.g. ``"e.g. 2e-5"``.
    added
        The version that introduced the field. Such a field is left out of :meth:`Config.digest`
        while it holds its default, so runs recorded before it existed keep their directory names
        (their ``config.json`` lacks it and reads back as the default). Every field declared after
        the first release must set it.
    """
    metadata = {"help": help, "check": check, "choices": choices, "hint": hint, "added": added}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


def configclass(cls: type[C]) -> type[C]:
    """``@dataclass(frozen=True)`` plus a numpydoc ``Parameters`` section built from the declarations."""
    cls = dataclasses.dataclass(frozen=True)(cls)
    lines = ["", "Parameters", "----------"]
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        lines += [f"{f.name} : {_type_name(hints[f.name])}", f"    {f.metadata.get('help', '')}"]
    cls.__doc__ = (cls.__doc__ or cls.__name__).rstrip() + "\n" + "\n".join(lines) + "\n"
    return cls


def _type_name(hint: Any) -> str:
    kind = field_kind(hint)
    if kind.config is not None:
        return kind.config.__name__
    name = f"tuple of {kind.scalar.__name__}" if kind.sequence else kind.scalar.__name__
    return f"{name} or None" if kind.optional else name


@dataclasses.dataclass(frozen=True)
class FieldKind:
    """What a field holds: a scalar type, a tuple of scalars, or a nested config; maybe None."""

    scalar: type | None
    sequence: bool = False
    optional: bool = False
    config: type[Config] | None = None


@functools.cache
def field_kind(hint: Any) -> FieldKind:
    """Read a field's annotation: ``int``, ``float | None``, ``tuple[str, ...] | None``, a Config."""
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        optional = type(None) in args
        rest = [a for a in args if a is not type(None)]
        hint = rest[0] if len(rest) == 1 else Any
    if isinstance(hint, type) and issubclass(hint, Config):
        return FieldKind(None, config=hint, optional=optional)
    if typing.get_origin(hint) is tuple:
        return FieldKind(typing.get_args(hint)[0], sequence=True, optional=optional)
    return FieldKind(hint if hint in _SCALARS else None, optional=optional)


def _scalar(value: Any, scalar: type) -> Any:
    """``value`` as ``scalar``, accepting the text forms YAML and the CLI give; TypeError otherwise."""
    if scalar is bool:
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        if not isinstance(value, bool):
            raise TypeError
        return value
    if isinstance(value, bool):  # bool is an int subclass; True is not a rank or a rate
        raise TypeError
    if scalar is int:
        if isinstance(value, float) and not value.is_integer():
            raise TypeError
        return int(value.strip() if isinstance(value, str) else value)
    if scalar is float:
        return float(value)
    if not isinstance(value, str):
        raise TypeError
    return value


def split_list(value: Any) -> tuple:
    """The one comma-splitter: ``"a,b"``, ``["a,b", "c"]`` and ``("a", "b")`` → a tuple of items."""
    items = [value] if isinstance(value, str) else list(value)
    out: list[Any] = []
    for item in items:
        out += [part.strip() for part in item.split(",") if part.strip()] if isinstance(item, str) else [item]
    return tuple(out)


def coerce(value: Any, kind: FieldKind) -> Any:
    """Coerce ``value`` to ``kind`` (TypeError/ValueError when it cannot be read as one)."""
    if value is None or kind.config is not None:
        return value
    if kind.sequence:
        if not isinstance(value, str | list | tuple):
            raise TypeError
        items = split_list(value)
        return tuple(_scalar(v, kind.scalar) for v in items) if kind.scalar in _SCALARS else items
    return _scalar(value, kind.scalar) if kind.scalar is not None else value


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """Everything declared about one field (by :func:`option` and its annotation)."""

    name: str
    kind: FieldKind
    default: Any
    help: str
    check: Check | None
    choices: Any
    hint: str | None
    added: str | None

    def allowed(self) -> tuple[str, ...] | None:
        """The allowed values (a registry's current names when ``choices`` is a function)."""
        return self.choices() if callable(self.choices) else self.choices


@functools.cache
def specs(cls: type) -> tuple[FieldSpec, ...]:
    """The :class:`FieldSpec` of every field of config class ``cls``, in declaration order."""
    hints = typing.get_type_hints(cls)
    return tuple(FieldSpec(f.name, field_kind(hints[f.name]), None if f.default is dataclasses.MISSING else f.default,
                           f.metadata.get("help", ""), f.metadata.get("check"), f.metadata.get("choices"),
                           f.metadata.get("hint"), f.metadata.get("added")) for f in dataclasses.fields(cls))


class Config:
    """Base class: strict ``from_dict``, ``to_dict``, validation from the declarations, ``digest()``.

    Subclasses are declared with :func:`configclass` and :func:`option`; cross-field rules go in
    :meth:`validate` and raise :meth:`fail` (the same one-line format as everything else).
    """

    #: Where this config sits in a run's ``config.json`` (``train``, ``data.noise``; "" for the
    #: top level); errors name fields by it.
    section: ClassVar[str] = ""
    #: Prepended to the field names of this section's CLI flags (``noise_`` → ``--noise-rate``).
    flag_prefix: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for spec in specs(type(self)):
            value = getattr(self, spec.name)
            if value is None:
                if not spec.kind.optional:
                    raise self.fail(spec.name, "is required (got null)")
                continue
            if spec.kind.config is not None:
                if not isinstance(value, spec.kind.config):
                    raise self.fail(spec.name, f"must be a mapping of {spec.kind.config.__name__} fields")
                continue
            try:
                value = coerce(value, spec.kind)
            except (TypeError, ValueError):
                expected = f"a list of {spec.kind.scalar.__name__}" if spec.kind.sequence else (
                    spec.kind.scalar.__name__ if spec.kind.scalar else "a value")
                raise self.fail(spec.name, f"expected {expected}, got {getattr(self, spec.name)!r}") from None
            object.__setattr__(self, spec.name, value)  # frozen: normal assignment is refused
            allowed = spec.allowed()
            message = None
            if allowed is not None and value not in allowed:
                message = f"unknown {value!r}; use one of {', '.join(map(str, allowed))}"
            elif spec.check is not None:
                message = spec.check(value)
            if message:
                raise self.fail(spec.name, message + (f"; {spec.hint}" if spec.hint else ""))
        self.validate()

    def validate(self) -> None:
        """Rules across fields (subclasses override; raise :meth:`fail`)."""

    @classmethod
    def path(cls, name: str) -> str:
        """Dotted path of field ``name`` in a run's config (``train.lr``)."""
        return f"{cls.section}.{name}" if cls.section else name

    def fail(self, name: str, message: str) -> ConfigError:
        """The error for field ``name`` (dotted path and message, one line)."""
        return ConfigError(self.path(name), message)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready dict (nested configs become dicts, tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=list))

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any] | None, *, where: str = "config") -> C:
        """Build from a (nested) dict; an unknown key is an error naming the allowed ones."""
        data = dict(data or {})
        declared = {s.name: s for s in specs(cls)}
        unknown = sorted(set(data) - set(declared))
        if unknown:
            prefix = f"{cls.section}." if cls.section else ""
            raise ContestedError(
                f"{where}: unknown key(s) {', '.join(prefix + k for k in unknown)} for {cls.__name__}; "
                f"allowed: {', '.join(sorted(declared))}"
            )
        kwargs = {}
        for name, value in data.items():
            sub = declared[name].kind.config
            if sub is not None and isinstance(value, dict):
                value = sub.from_dict(value, where=where)
            kwargs[name] = value
        return cls(**kwargs)

    def replace(self: C, **changes: Any) -> C:
        """Copy with ``changes`` applied (validation runs again)."""
        return dataclasses.replace(self, **changes)

    def digest(self, length: int = 12) -> str:
        """Stable hash of the canonical JSON (key order and tuple/list spelling do not matter).

        Fields declared with ``added=`` are left out while they hold their default, so adding an
        option never renames the directories of runs that did not use it.
        """
        canonical = json.dumps(self._digest_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:length]

    def _digest_dict(self) -> dict[str, Any]:
        out = {}
        for spec in specs(type(self)):
            value = getattr(self, spec.name)
            if isinstance(value, Config):
                sub = value._digest_dict()
                if sub or not spec.added:  # a section added later and left at its defaults stays out
                    out[spec.name] = sub
            elif not (spec.added and value == spec.default):
                out[spec.name] = json.loads(json.dumps(value, default=list))
        return out


__all__ = ["Check", "Config", "ConfigError", "FieldKind", "FieldSpec", "Range", "coerce", "configclass", "field_kind",
           "nonempty", "option", "specs", "split_list"]
