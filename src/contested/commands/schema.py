"""CLI options generated from the config schema (:mod:`contested.config`), so a field is declared once.

``contested train``, ``demo`` and ``sweep`` call :func:`config_command` with their config class: every
leaf field becomes one flag (``--lr``, ``--noise-rate``) whose help, default and allowed values come
from the field's declaration. Values reach the config as given (text), through the one coercion and
validation path; an invalid value is one line naming the field and the flag.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Optional

import typer
from rich.markup import escape

from contested.config import Config, ConfigError
from contested.config_tree import Leaf, leaf_of_error, leaves, unflatten_dict
from contested.errors import ContestedError

_METAVARS = {int: "INT", float: "FLOAT", str: "TEXT"}


def param_name(leaf: Leaf) -> str:
    """The Python parameter behind a flag (``data.noise.rate`` → ``cfg__data__noise__rate``)."""
    return "cfg__" + "__".join(leaf.path)


def _option(leaf: Leaf) -> inspect.Parameter:
    names = [leaf.flag]
    if leaf.kind.scalar is bool and not leaf.kind.sequence:
        names = [f"{leaf.flag}/--no-{leaf.flag[2:]}"]
        annotation: Any = Optional[bool]  # noqa: UP045 (typer reads typing.Optional)
        metavar = None
    else:
        # Text, not int/float: the schema coerces and validates, so a bad number gets the same
        # one-line error naming the field as any other invalid value.
        annotation = Optional[list[str]] if leaf.kind.sequence else Optional[str]  # noqa: UP045
        choices = leaf.spec.allowed()
        metavar = "[" + "|".join(choices) + "]" if choices else _METAVARS.get(leaf.kind.scalar, "TEXT")
        if leaf.kind.sequence:
            metavar = f"{metavar},…"
    # The default is shown from the declaration but not passed to typer: None means "not given",
    # so a flag overrides a config file only when it is on the command line.
    default = leaf.default
    shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
    if leaf.kind.scalar is bool and default is not None:
        shown = leaf.flag[2:] if default else f"no-{leaf.flag[2:]}"
    help_text = leaf.help + (f" [default: {shown}]" if shown is not None else "")
    # typer renders help as rich markup: "[default: x]" and "[0, 1)" must stay literal.
    option = typer.Option(None, *names, help=escape(help_text), metavar=metavar, show_default=False,
                          rich_help_panel=f"{leaf.panel} options" if leaf.panel else None)
    return inspect.Parameter(param_name(leaf), inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation)


def given(cls: type[Config], kwargs: dict[str, Any]) -> dict[str, Any]:
    """``{dotted path: value}`` of the flags given on the command line (the others are None)."""
    out = {}
    for leaf in leaves(cls):
        value = kwargs.pop(param_name(leaf), None)
        if value is not None:
            out[leaf.dotted] = tuple(value) if isinstance(value, list) else value
    return out


def build(cls: type[Config], flat: dict[str, Any], *, from_flags: set[str], where: str = "flags",
          line_of: Callable[[str], int | None] | None = None) -> Any:
    """``cls`` from ``{dotted path: value}``; an invalid value names its field and its flag or file line.

    Parameters
    ----------
    flat
        Values by dotted path (from a file and/or flags).
    from_flags
        Dotted paths whose value came from a flag (their errors name the flag).
    where, line_of
        The file the other values came from, and the line of a dotted path in it.
    """
    try:
        return cls.from_dict(unflatten_dict(flat), where=where)
    except ConfigError as exc:
        leaf = leaf_of_error(cls, exc.field)
        if leaf is not None and leaf.dotted in from_flags:
            raise ContestedError(exc.render(flag=leaf.flag)) from None
        if where != "flags":
            line = line_of(leaf.dotted) if line_of and leaf is not None else None
            raise ContestedError(exc.render(where=where, line=line)) from None
        raise ContestedError(exc.render(flag=leaf.flag if leaf else None)) from None


def config_command(app: typer.Typer, name: str, cls: type[Config], body: Callable[..., None], *,
                   extra: list[inspect.Parameter], help: str) -> None:
    """Register command ``name``: ``extra`` parameters first, then one flag per field of ``cls``.

    ``body(flat, **extra_values)`` receives the given flags as ``{dotted path: value}``.
    """

    def command(**kwargs: Any) -> None:
        flat = given(cls, kwargs)
        body(flat, **kwargs)

    params = [*extra, *(_option(leaf) for leaf in leaves(cls))]
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = help
    app.command(name, help=help)(command)


def keyword(name: str, annotation: Any, option: Any) -> inspect.Parameter:
    """A plain (non-config) command parameter, e.g. ``--config`` or ``--force``."""
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=option)


__all__ = ["build", "config_command", "given", "keyword", "param_name"]
