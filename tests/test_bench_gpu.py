"""The GPU check script (benchmarks/bench_gpu.py): the runs it times are the demo's and the study
schedule's LoRA runs moved to the GPU with bf16, and its smoke mode works end to end on a CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))


def test_gpu_check_times_the_demo_and_study_schedule_lora_runs_in_bf16_on_cuda():
    from bench_gpu import configs

    runs = configs("cuda", bf16=True, smoke=False)
    assert set(runs) == {"demo", "study"}
    demo, study = runs["demo"], runs["study"]
    for cfg in (demo, study):
        assert cfg.method.method == "lora" and cfg.method.rank == 4
        assert cfg.train.device == "cuda" and cfg.train.bf16 and cfg.train.batch_size == 32
    assert (demo.model, demo.train.lr, demo.data.bulk, demo.train.epochs, demo.record.snapshot_every) == (
        "minilm-l6", 2e-3, 4000, 3, 50)
    assert (study.model, study.train.lr, study.data.bulk, study.train.epochs, study.record.snapshot_every) == (
        "minilm-l6", 2e-5, 20000, 5, 100)


@pytest.mark.slow
def test_gpu_check_smoke_mode_runs_on_a_cpu(tmp_path):
    out = tmp_path / "gpu.json"
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "bench_gpu.py"), "--device", "cpu", "--smoke",
                           "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["device"] == "cpu" and not result["bf16"] and result["smoke"]
    assert [r["run"] for r in result["runs"]] == ["demo", "study"]
    for r in result["runs"]:
        assert r["train_items_per_s"] > 0 and r["snapshot_items_per_s"] > 0 and 0 < r["share_of_peak"] < 1
        assert r["wall_time_s"] >= r["train_time_s"] > r["snapshot_time_s"] > 0


def test_gpu_check_without_cuda_says_so_in_one_line():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "bench_gpu.py")], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "no CUDA device here" in proc.stderr and "Traceback" not in proc.stderr
