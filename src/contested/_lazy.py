"""PEP 562 lazy exports shared by the packages whose modules import torch or transformers.

``contested models list``, the registry, sweep plans and reports stay import-light: a name is
imported from its submodule on first use only.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """Build ``__getattr__``, ``__dir__`` and ``__all__`` for ``package``.

    Parameters
    ----------
    package
        The package's ``__name__`` (e.g. ``"contested.models"``).
    exports
        Public name → submodule name relative to ``package`` (e.g. ``{"ModelSpec": "registry"}``).
    """
    names = sorted(exports)

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        # Cache it on the package; later lookups no longer go through __getattr__.
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__() -> list[str]:
        return names

    return __getattr__, __dir__, names
