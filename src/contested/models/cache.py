"""Where prepared built-in models live: ``$CONTESTED_MODEL_CACHE`` or the user cache.

Shared by the registry (is a built-in prepared? where?) and :mod:`contested.models.prepare`
(which builds the folders), so that neither imports the other. No torch here.
"""

from __future__ import annotations

import os
from pathlib import Path

MARKER = "PREPARED.json"  # written last into a prepared folder: its presence means "complete"
CACHE_ENV = "CONTESTED_MODEL_CACHE"


def cache_root() -> Path:
    """Folder holding prepared models: ``$CONTESTED_MODEL_CACHE`` or the user cache (platformdirs)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("contested")) / "models"


def prepared_dir(name: str) -> Path:
    """Where built-in ``name`` is (or will be) prepared."""
    return cache_root() / name.replace("/", "--")


def is_prepared(folder: str | os.PathLike) -> bool:
    """True when ``folder`` holds a complete prepared model (its marker was written last)."""
    return (Path(folder) / MARKER).is_file()
