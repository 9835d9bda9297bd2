"""CLI command groups, one module per layer; imported by :mod:`contested.cli`.

Heavy libraries (torch, transformers) are imported inside the command functions so that
``contested --help`` and the data commands start fast.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text


def console(*, stderr: bool = False, **kwargs: Any) -> Console:
    """A rich console for the CLI that prints text literally.

    ``emoji=False``: ``:train:`` in a dataset name stays ``:train:`` (not 🚋); ``highlight=False``:
    no colouring of numbers and paths. Markup still applies to strings passed as ``str``, so user
    text (names, paths, labels, file contents, error messages) goes through :func:`literal` or
    ``rich.markup.escape``.
    """
    return Console(stderr=stderr, emoji=False, highlight=False, **kwargs)


def literal(value: object, style: str = "") -> Text:
    """``str(value)`` as rich ``Text``: printed as is, in a line, table cell or title (no markup)."""
    return Text(str(value), style=style)
