"""The main job end to end on a tiny random BERT: runs, analysis, report and the printed summary."""

from __future__ import annotations

import pytest

from contested.cli import main
from contested.models import build_tiny_model_dir


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return build_tiny_model_dir("bert", tmp_path_factory.mktemp("tiny") / "bert")


def test_demo_trains_both_methods_and_reports(tiny_bert, tmp_path, data_dir, capsys, monkeypatch):
    monkeypatch.setenv("CONTESTED_DATA_DIR", str(data_dir))
    out = tmp_path / "demo"
    argv = ["demo", "--model", str(tiny_bert), "--bulk", "40", "--epochs", "1", "--snapshot-every", "20",
            "--n-boot", "200", "--out", str(out)]
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code in (0, None)
    printed = capsys.readouterr().out
    assert "LoRA r=4" in printed and "full FT" in printed
    assert "difference in ρ on the same 1,211 items" in printed
    # the matched-learning line follows the paired line (or says why the runs could not be compared)
    lines = printed.splitlines()
    after = lines[next(i for i, t in enumerate(lines) if "difference in ρ on the same" in t) + 1]
    assert after.startswith("LoRA") and "− full FT at matched learning" in after, after
    assert (out / "analysis" / "human_fit.parquet").exists()
    runs = sorted(p for p in (out / "runs").iterdir() if (p / "DONE").exists())
    assert len(runs) == 2
    assert (out / "report" / "report.html").stat().st_size > 10_000
    assert (out / "analysis" / "run_statistics.parquet").exists()
    # A second call reuses the finished runs (no retraining): the DONE markers are untouched.
    stamps = [(p / "DONE").stat().st_mtime_ns for p in runs]
    with pytest.raises(SystemExit):
        main(argv)
    assert [(p / "DONE").stat().st_mtime_ns for p in runs] == stamps
