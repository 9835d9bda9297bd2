"""GPU performance switches (TF32, torch.compile): wired into the HF arguments, refused on CPUs."""

from __future__ import annotations

import pytest

from contested.errors import ContestedError
from contested.train.config import RecordConfig, RunConfig, TrainConfig
from contested.train.pipeline import run
from contested.train.trainer import training_arguments


def test_switches_reach_the_training_arguments(tmp_path):
    off = training_arguments(TrainConfig(device="cpu"), output_dir=str(tmp_path))
    assert off.torch_compile is False and off.tf32 is None  # None: torch's setting untouched
    on = training_arguments(TrainConfig(device="cpu", torch_compile=True), output_dir=str(tmp_path))
    assert on.torch_compile is True
    assert TrainConfig(tf32="true").tf32 is True  # YAML/CLI text is coerced like other flags


def test_tf32_on_a_cpu_is_a_one_line_error_without_a_run_dir(tmp_path):
    cfg = RunConfig(model="does-not-matter", train=TrainConfig(device="cpu", tf32=True),
                    record=RecordConfig())
    with pytest.raises(ContestedError, match=r"train\.tf32.*Ampere") as err:
        run(cfg, runs_dir=tmp_path, progress=False)
    assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []
