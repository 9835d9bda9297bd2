"""The Python examples in docs/training.md run as written (in order, in one namespace)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from train_helpers import one_thread  # noqa: F401

DOC = Path(__file__).resolve().parents[1] / "docs" / "training.md"

pytestmark = pytest.mark.usefixtures("one_thread")


def test_training_doc_examples_run(tmp_path, monkeypatch, data_dir):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONTESTED_DATA_DIR", str(data_dir))
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 5
    namespace: dict = {}
    for i, code in enumerate(blocks):
        exec(compile(code, f"{DOC.name}[block {i}]", "exec"), namespace)
    assert (tmp_path / "loop-dynamics.parquet").is_file()
    assert (namespace["run_dir"] / "DONE").is_file()
