"""Sweep files: grid expansion, stable run ids, the shipped configs, and one-line errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from contested.errors import ContestedError
from contested.experiments import load_sweep, sweep_runs
from contested.experiments.manifest import write_manifest
from contested.rundir.reading import conditions
from contested.rundir.state import count_states, plan_states, write_error

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
STUDY_MODELS = {"roberta-base", "bert-base-uncased", "distilbert-base-uncased", "microsoft/deberta-v3-base",
                "Qwen/Qwen2.5-1.5B", "Qwen/Qwen2.5-3B"}

GRID = """
name: demo
base:
  data: {dataset: chaosnli-snli, bulk: 100}
  train.lr: 1.0e-3
grid:
  model: [minilm-l6, mpnet-base]
  method:
    - {label: r4, method: lora, rank: 4}
    - {label: r16, method: lora, rank: 16}
    - {label: full, method: full, lr: 1.0e-4, resources: {num_gpus: 1}}
  seed: [1, 2, 3]
exclude:
  - {model: mpnet-base, method: full}
  - {model: mpnet-base, seed: [2, 3]}
include:
  - {label: ia3, model: minilm-l6, method: ia3}
"""

# The same sweep with every mapping's keys in another order and nested/dotted spellings swapped.
GRID_REORDERED = """
include:
  - {method: ia3, model: minilm-l6, label: ia3}
exclude:
  - {method: full, model: mpnet-base}
  - {seed: [2, 3], model: mpnet-base}
grid:
  model: [minilm-l6, mpnet-base]
  method:
    - {rank: 4, method: lora, label: r4}
    - {method: {rank: 16, method: lora}, label: r16}
    - {resources: {num_gpus: 1}, train: {lr: 1.0e-4}, method: full, label: full}
  seed: [1, 2, 3]
base:
  train: {lr: 0.001}
  data.bulk: 100
  data.dataset: chaosnli-snli
name: demo
"""


def _write(tmp_path: Path, text: str, name: str = "demo.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_grid_expansion_counts_excludes_includes_and_resources(tmp_path):
    sweep = load_sweep(_write(tmp_path, GRID))
    # minilm: 3 methods × 3 seeds = 9; mpnet: 2 LoRA ranks × seed 1 = 2; + 1 include = 12
    assert len(sweep.runs) == 12 and sweep.duplicates == 0
    assert sweep.name == "demo" and sweep.runs_dir == Path("runs/demo")
    by_label = {r.label: r for r in sweep.runs}
    full = by_label["model=minilm-l6 method=full seed=2"]
    assert full.config.method.method == "full" and full.config.train.lr == 1e-4 and full.config.train.seed == 2
    assert full.resources.num_gpus == 1.0
    r4 = by_label["model=mpnet-base method=r4 seed=1"]
    assert (r4.config.model, r4.config.method.rank, r4.config.train.lr, r4.config.data.bulk) == (
        "mpnet-base", 4, 1e-3, 100)
    assert r4.resources.num_gpus == 0.0 and r4.axes == {"model": "mpnet-base", "method": "r4", "seed": "1"}
    assert not any(r.config.model == "mpnet-base" and r.config.train.seed != 1 for r in sweep.runs)
    assert by_label["include=ia3"].config.method.method == "ia3"
    assert len({r.run_id for r in sweep.runs}) == 12
    assert all(r.run_id == r.config.digest() for r in sweep.runs)


def test_run_ids_do_not_depend_on_key_order_or_spelling(tmp_path):
    first = load_sweep(_write(tmp_path, GRID, "a.yaml"))
    again = load_sweep(_write(tmp_path, GRID, "a.yaml"))
    reordered = load_sweep(_write(tmp_path, GRID_REORDERED, "b.yaml"))
    assert [r.run_id for r in first.runs] == [r.run_id for r in again.runs]
    assert {r.run_id: r.label for r in first.runs} == {r.run_id: r.label for r in reordered.runs}


def test_duplicates_are_dropped(tmp_path):
    text = GRID + "  - {model: minilm-l6, method: lora, rank: 4, seed: 1}\n"
    sweep = load_sweep(_write(tmp_path, text))
    assert len(sweep.runs) == 12 and sweep.duplicates == 1


def test_paper_sweep_is_the_studys_25_conditions_times_3_seeds():
    sweep = load_sweep(CONFIGS / "paper.yaml")
    assert len(sweep.runs) == 75
    assert {r.config.model for r in sweep.runs} == STUDY_MODELS
    assert {r.config.train.seed for r in sweep.runs} == {42, 123, 456}
    conditions = {(r.config.model, r.config.data.dataset, r.config.method.method,
                   r.config.method.rank if r.config.method.method == "lora" else None) for r in sweep.runs}
    assert len(conditions) == 25
    decoders = [c for c in conditions if c[0].startswith("Qwen/")]
    assert len(decoders) == 4 and all(c[1] == "chaosnli-snli" and c[2] == "lora" for c in decoders)
    assert sum(c[0] == "microsoft/deberta-v3-base" for c in conditions) == 3
    assert sum(c[1] == "chaosnli-mnli" for c in conditions) == 9
    recipe = {(r.config.train.lr, r.config.train.batch_size, r.config.train.epochs, r.config.data.bulk,
               r.config.record.snapshot_every) for r in sweep.runs}
    assert recipe == {(2e-5, 32, 5, 20_000, 100)}


@pytest.mark.parametrize(("name", "n"), [("rank-sweep", 12), ("alphanli", 3), ("soft-labels", 6),
                                         ("cpu-repro", 15), ("noise", 9)])
def test_other_shipped_sweeps_expand(name, n):
    runs = load_sweep(CONFIGS / f"{name}.yaml").runs
    assert len(runs) == n
    if name == "rank-sweep":
        assert sorted({r.config.method.rank for r in runs}) == [1, 2, 4, 8, 16, 32]
    if name == "cpu-repro":
        seeds = {(r.config.model, r.config.train.seed) for r in runs}
        assert {s for m, s in seeds if m == "minilm-l6"} == {42, 123}
        assert all(s == 42 for m, s in seeds if m != "minilm-l6")
        assert {r.config.train.lr for r in runs if r.config.method.method == "lora"} == {2e-3}
        assert {r.config.train.lr for r in runs if r.config.method.method == "full"} == {1e-4}
    if name == "noise":
        assert sorted({r.config.data.noise.rate for r in runs}) == [0.0, 0.3, 0.6]
        assert all(r.config.data.noise.seed == r.config.train.seed for r in runs)


def test_paper_dry_run_lists_75_runs_with_the_same_ids_in_another_process():
    """The CLI in a fresh interpreter (another hash seed) prints the ids expanded here."""
    env = {**os.environ, "PYTHONHASHSEED": "12345", "COLUMNS": "200"}
    out = subprocess.run([sys.executable, "-m", "contested.cli", "sweep", str(CONFIGS / "paper.yaml"),
                          "--dry-run", "--runs-dir", "/nonexistent/runs"],
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "75 runs" in out.stdout and "75 pending" in out.stdout and "would run 75" in out.stdout
    for model in STUDY_MODELS:
        assert f"model={model} " in out.stdout
    printed = re.findall(r"│ ([0-9a-f]{12}) │", out.stdout)
    assert printed == [r.run_id for r in load_sweep(CONFIGS / "paper.yaml").runs]
    assert not Path("/nonexistent/runs").exists()  # a dry run writes nothing


@pytest.mark.parametrize(("text", "line", "message"), [
    ("name: x\ngrdi: {}\n", 2, "unknown key 'grdi'"),
    ("base:\n  train:\n    lrr: 1.0\n", 3, "unknown run-config key 'train.lrr'; did you mean train.lr"),
    ("grid:\n  modle: [a, b]\n", 2, "unknown run-config key 'modle'; did you mean model"),
    ("grid:\n  seed: 42\n", 2, "grid axis 'seed' must be a non-empty list"),
    ("grid:\n  seed: [1, 2]\n  x:\n    - {seed: 3}\n", 3, "grid axes 'seed' and 'x' both set 'train.seed'"),
    ("grid:\n  seed: [1, 2]\nexclude:\n  - {seed: 3}\n", 4, "exclude entry 1 (train.seed=3) matches no run"),
    ("grid:\n  rank: [0]\n", 2, "method.rank: must be ≥ 1 (got 0)"),
    # a bad value is named at the line it was written on: base, a grid item, a mapping choice, an include
    ("name: x\nbase:\n  train:\n    lr: abc\n", 4, "run 'base': train.lr: expected float, got 'abc'"),
    ("base: {model: tiny-bert}\ngrid:\n  seed: [1]\n  rank:\n    - 4\n    - -1\n", 6,
     "run 'seed=1 rank=-1': method.rank: must be ≥ 1 (got -1)"),
    ("grid:\n  method:\n    - {label: a, method: lora, rank: 4}\n    - label: b\n      method: lora\n"
     "      lr: -2\n", 6, "run 'method=b': train.lr: must be > 0"),
    ("base:\n  lr: 1e-3\ninclude:\n  - {label: x, data.noise.rate: 2}\n", 4,
     "run 'include=x': data.noise.rate: must be in [0, 1]"),
    ("resources: {gpus: 1}\n", 1, "unknown key(s) resources.gpus"),
    ("base: {seed: 1}\nbase: {seed: 2}\n", 2, "key 'base' appears twice"),
    ("grid:\n  seed: [1, 2\n", 3, "invalid YAML"),
    ("- 1\n- 2\n", 1, "a sweep file is a mapping"),
])
def test_bad_sweep_files_name_file_and_line(tmp_path, text, line, message):
    path = _write(tmp_path, text, "bad.yaml")
    with pytest.raises(ContestedError) as err:
        load_sweep(path)
    where = f"{path}:{line}: " if line else f"{path}: "
    assert str(err.value).startswith(where), str(err.value)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_file():
    with pytest.raises(ContestedError, match="sweep file not found"):
        load_sweep("/nonexistent/sweep.yaml")


def test_plan_states_and_sweep_table(tmp_path):
    sweep = load_sweep(_write(tmp_path, GRID), runs_dir=tmp_path / "runs")
    runs_dir = tmp_path / "runs"
    done, failed = sweep.runs[0], sweep.runs[1]
    (runs_dir / done.run_id).mkdir(parents=True)
    (runs_dir / done.run_id / "DONE").write_text("")
    (runs_dir / done.run_id / "config.json").write_text("{}")
    write_error(runs_dir, failed.run_id, RuntimeError("out of\nmemory"), label=failed.label,
                config=failed.config.to_dict())
    (runs_dir / f".{sweep.runs[2].run_id}.partial-999999").mkdir()  # a killed attempt: still pending
    states = plan_states([r.run_id for r in sweep.runs], runs_dir=runs_dir)
    assert [s.status.value for s in states[:3]] == ["done", "failed", "pending"]
    assert states[1].error == "RuntimeError: out of memory"
    assert count_states(states) == {"done": 1, "pending": 10, "failed": 1}
    write_manifest(sweep, runs_dir=runs_dir)
    table = sweep_runs(runs_dir).set_index("run_id")
    assert len(table) == 12 and table.loc[done.run_id, "status"] == "done"
    assert table.loc[failed.run_id, "error"] == "RuntimeError: out of memory"
    row = table.loc[sweep.runs[2].run_id]
    assert (row["model"], row["method"], row["rank"], row["status"]) == ("minilm-l6", "lora", 4, "pending")
    assert row["label"] == "model=minilm-l6 method=r4 seed=3"
    full = table[table["label"] == "model=minilm-l6 method=full seed=1"].iloc[0]
    assert full["method"] == "full" and pd.isna(full["rank"]) and full["lr"] == 1e-4


def test_conditions_of_a_config():
    lora = conditions({"model": "m", "method": {"method": "lora", "rank": 8},
                       "data": {"dataset": "d", "noise": {"rate": 0.3, "kind": "pair"}}, "train": {"seed": 1}})
    assert (lora["rank"], lora["noise_rate"], lora["noise_kind"], lora["seed"]) == (8, 0.3, "pair", 1)
    full = conditions({"model": "m", "method": {"method": "full", "rank": 4}, "data": {}, "train": {}})
    assert full["rank"] is None and full["noise_rate"] == 0.0 and full["noise_kind"] is None


def test_dry_run_shows_a_failed_runs_first_error_line_cut_short_and_its_error_file(tmp_path):
    import json

    from rich.console import Console
    from typer.testing import CliRunner

    from contested.cli import app
    from contested.commands.sweep import ERROR_WIDTH, _plan_table, error_cell

    file = _write(tmp_path, GRID)
    runs_dir = tmp_path / "runs"
    sweep = load_sweep(file, runs_dir=runs_dir)
    long, multi = sweep.runs[0], sweep.runs[1]
    write_error(runs_dir, long.run_id, RuntimeError("CUDA out of memory " + "x" * 300), label=long.label)
    record = runs_dir / multi.run_id / "ERROR"  # a record whose message spans lines (another writer)
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"error": "ValueError: bad shape\n  in layer 3\n  in block 2"}))
    cell = error_cell("RuntimeError: CUDA out of memory " + "x" * 300, record)
    first, where = cell.split("\n")
    assert len(first) == ERROR_WIDTH and first.endswith("…") and str(record) in where
    assert error_cell("a\nb", record).startswith("a …\n")
    console = Console(width=400, record=True)
    console.print(_plan_table(sweep, plan_states([r.run_id for r in sweep.runs], runs_dir=runs_dir)))
    text = console.export_text()
    assert "ValueError: bad shape …" in text and "in layer 3" not in text  # one line, not the whole message
    assert "x" * 100 not in text and text.count(str(runs_dir)) == 2  # each failed run names its ERROR file
    dry = CliRunner().invoke(app, ["sweep", str(file), "--runs-dir", str(runs_dir), "--dry-run"])
    assert dry.exit_code == 0 and "2 failed" in dry.output and "in layer 3" not in dry.output
