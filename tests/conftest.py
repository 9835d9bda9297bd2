"""Shared fixtures: where the real data lives (../shared/data or CONTESTED_DATA_DIR), a tiny model folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_data() -> Path | None:
    env = os.environ.get("CONTESTED_DATA_DIR")
    for cand in (env, REPO.parent / "shared" / "data"):
        if cand and Path(cand).is_dir():
            return Path(cand)
    return None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data folder; tests that need it fail loudly (not skip) when it is missing."""
    path = _shared_data()
    if path is None:
        pytest.fail("real data not found: set CONTESTED_DATA_DIR or put shared/data beside the checkout")
    return path


@pytest.fixture(scope="module")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer BERT model folder (``build_tiny_model_dir``), one per test module."""
    # Imported here: most test modules need no model.
    from contested.models import build_tiny_model_dir

    return build_tiny_model_dir("bert", tmp_path_factory.mktemp("models") / "bert")
