"""What every artefact carries: package versions, git commit, data checksums, platform."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from contested.io import sha256_file

PACKAGES = (
    "contested", "torch", "transformers", "peft", "accelerate", "numpy", "pandas",
    "pyarrow", "scipy", "matplotlib", "typer", "rich", "ray",
)


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each package, ``None`` when absent."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit(cwd: str | os.PathLike | None = None) -> str | None:
    """Commit of the contested checkout (``-dirty`` appended when it has local changes)."""
    cwd = Path(cwd) if cwd else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True,
            text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def environment_info(data_files: Iterable[str | os.PathLike] = ()) -> dict[str, Any]:
    """A provenance record: versions, git commit, python/platform, sha256 of each data file."""
    return {
        "packages": package_versions(),
        "git_commit": git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "data_checksums": {str(p): sha256_file(p) for p in sorted({str(p) for p in data_files})},
    }
