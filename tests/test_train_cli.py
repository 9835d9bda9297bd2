"""``contested train`` in-process: flag ↔ field mapping, YAML + overrides, bad input as one line."""

from __future__ import annotations

import json

import pytest

from cli_helpers import run_cli
from contested.train.config import RunConfig
from train_helpers import TINY_TRAIN_FLAGS, one_thread  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = ["--bulk", "24", "--max-tracked", "12", "--heldout", "10", *TINY_TRAIN_FLAGS]


def test_yaml_config_with_flag_overrides(tmp_path, capsys):
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text("model: roberta-base\nmethod: {method: lora, rank: 16}\n"
                        "train: {lr: 1e-4, epochs: 3}\nrecord: {snapshot_every: 50}\n")
    code, out, _ = run_cli(capsys, "train", "--config", str(cfg_file), "--lr", "3e-4", "--rank", "8",
                        "--target-modules", "query,value", "--no-class-weighted", "--dry-run")
    assert code == 0
    *body, run_dir = out.strip().splitlines()
    resolved = json.loads("\n".join(body))
    assert resolved["model"] == "roberta-base" and resolved["train"]["epochs"] == 3
    assert resolved["train"]["lr"] == 3e-4 and resolved["method"]["rank"] == 8
    assert resolved["method"]["target_modules"] == ["query", "value"]
    assert resolved["train"]["class_weighted"] is False and resolved["record"]["snapshot_every"] == 50
    assert run_dir.endswith(RunConfig.from_dict(resolved).digest())


@pytest.mark.parametrize(("argv", "message"), [
    (["--snapshot-every", "0"], "snapshot_every"),
    (["--rank", "0"], "rank"),
    (["--target-modules", "no_such_module"], "no_such_module"),
    (["--model", "no-such-model-anywhere"], "no-such-model-anywhere"),
    (["--device-batch-size", "5"], "device_batch_size"),
    (["--soft-labels"], "train.soft_labels (--soft-labels)"),
])
def test_bad_flags_are_one_line_errors_without_run_dir(argv, message, tmp_path, capsys, tiny_bert_dir):
    runs = tmp_path / "runs"
    args = ["train", "--model", str(tiny_bert_dir), *SMALL, "--runs-dir", str(runs), *argv]
    code, out, err = run_cli(capsys, *args)
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err
    assert not runs.exists()


def test_bad_config_files_name_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  lr: 1e-4\n  epochs: [1\n")
    code, _, err = run_cli(capsys, "train", "--config", str(bad), "--dry-run")
    assert code == 2 and f"{bad}:" in err and len(err.strip().splitlines()) == 1
    typo = tmp_path / "typo.yaml"
    typo.write_text("train: {learning_rate: 1e-4}\n")
    code, _, err = run_cli(capsys, "train", "--config", str(typo), "--dry-run")
    assert code == 2 and f"{typo}:1: unknown run-config key 'train.learning_rate'; did you mean" in err


def test_dataset_with_one_class_is_rejected_before_any_run_dir(tmp_path, capsys, tiny_bert_dir):
    one_class = tmp_path / "one_class.jsonl"
    one_class.write_text("".join(json.dumps({"id": f"x{i}", "text": f"item {i}", "labels": ["a", "a", "a"]}) + "\n"
                                 for i in range(20)))
    two_names_one_used = tmp_path / "one_used.jsonl"
    two_names_one_used.write_text("".join(
        json.dumps({"id": f"y{i}", "text": f"item {i}", "label_counts": [3, 0]}) + "\n" for i in range(20)))
    for path in (one_class, two_names_one_used):
        runs = tmp_path / f"runs-{path.stem}"
        code, _, err = run_cli(capsys, "train", "--model", str(tiny_bert_dir), "--dataset", str(path),
                            "--bulk", "0", "--heldout", "0", "--runs-dir", str(runs), "--quiet")
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "class" in err and not runs.exists()


def test_train_command_runs_then_is_a_no_op(tmp_path, capsys, tiny_bert_dir):
    runs = tmp_path / "runs"
    args = ["train", "--model", str(tiny_bert_dir), *SMALL, "--runs-dir", str(runs)]
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    run_dir = out.strip()
    assert (runs / run_dir.rsplit("/", 1)[-1] / "DONE").is_file() and "snapshots" in err
    code, out2, err2 = run_cli(capsys, *args)
    assert code == 0 and out2.strip() == run_dir and "already finished" in err2


def test_nested_flags_reach_the_noise_section():
    from contested.commands.train import resolve_config

    cfg = resolve_config({"data.noise.rate": "0.3", "data.noise.pair_map": ("1,2", "0"),
                          "data.noise.kind": "pair", "data.bulk": "10"}, None)
    assert cfg.data.noise.rate == 0.3
    assert cfg.data.noise.kind == "pair"
    assert tuple(map(int, cfg.data.noise.pair_map)) == (1, 2, 0)
    assert cfg.data.bulk == 10
