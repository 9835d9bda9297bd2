"""The CLI prints user text literally: no rich markup (``[bold]``) or emoji codes (``:train:``)."""

from __future__ import annotations

import json

from cli_helpers import run_cli


def test_a_split_suffix_is_not_an_emoji(data_dir, capsys):
    # rich would turn ":train:" into 🚋 and print "lewidi-md-agreement🚋".
    code, out, _ = run_cli(capsys, "data", "entropy", "lewidi-md-agreement:train", "--data-dir", str(data_dir))
    assert code == 0
    assert "lewidi-md-agreement:train: 6,592 items" in " ".join(out.split())
    assert "🚋" not in out


def test_error_messages_are_printed_literally(capsys):
    code, _, err = run_cli(capsys, "data", "entropy", "x[bold]y:train:", "--base", "[bold]two:train:[/bold]")
    assert code == 2
    assert "error: --base: expected e, 2, 10" in err
    assert "got '[bold]two:train:[/bold]'" in err and "🚋" not in err


def test_unknown_names_in_errors_keep_their_brackets(capsys):
    code, _, err = run_cli(capsys, "data", "entropy", "nope[bold]:train:")
    assert code == 2 and "unknown dataset 'nope[bold]:train:'" in err


def test_labels_and_paths_from_a_file_are_literal(tmp_path, capsys):
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": "t", "labels": labels}) + "\n"
                            for i, labels in enumerate([[":smile:", "[red]b[/red]"], [":smile:"]])))
    out_file = tmp_path / "[bold]items.csv"
    code, out, _ = run_cli(capsys, "data", "entropy", str(path), "--out", str(out_file))
    text = " ".join(out.split())
    assert code == 0 and out_file.is_file()
    assert "classes: :smile:, [red]b[/red];" in text and "😄" not in text
    assert "[bold]items.csv" in text


def test_model_info_prints_the_folder_name_literally(tmp_path, monkeypatch, capsys):
    from contested.models import build_tiny_model_dir

    monkeypatch.chdir(tmp_path)
    build_tiny_model_dir("bert", tmp_path / "[bold]m:train:")
    code, out, _ = run_cli(capsys, "models", "info", "[bold]m:train:")
    assert code == 0 and "model [bold]m:train:" in out and "🚋" not in out
