"""`contested analyze` / `contested report` on fake run dirs; the page is self-contained and renders."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

import report_synth as rs
from cli_helpers import run_cli
from contested.cli import main
from contested.dynamics import METRIC_COLUMNS
from contested.stats import RUN_STAT_COLUMNS

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    rs.sweep(root / "runs", n=100, seeds=(1, 2), ranks=(4,), full=True, noise=(0.3,))
    return root / "runs"


@pytest.fixture(scope="module")
def report_dir(sweep_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    with pytest.raises(SystemExit) as info:
        main(["report", str(sweep_dir), "--out", str(out), "--n-boot", "200", "--max-conditions", "1"])
    assert info.value.code in (0, None)
    return out


def test_analyze_writes_documented_files(sweep_dir, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "analyze", str(sweep_dir), "--out", str(tmp_path), "--n-boot", "200")
    assert code in (0, None)
    assert "ρ(annotation entropy, aulc) per run" in out and "LoRA r=4" in out and "full FT" in out
    names = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    for stem in ("runs", "item_metrics", "run_statistics", "conditions", "rho_by_label", "bin_means",
                 "paired_lora_vs_full", "noise_tests", "human_fit", "unlearning_decomposition", "learning_curves",
                 "matched"):
        assert {f"{stem}.csv", f"{stem}.parquet"} <= names
    for stem in ("key_results", "table1_rho", "table2_unlearning", "table_paired", "table_noise",
                 "table_annotator_fit", "table_unlearning_decomposed", "table_matched_learning"):
        assert {f"tables/{stem}.{ext}" for ext in ("csv", "md", "tex")} <= names
    assert "tables/table3_rank_sweep.csv" not in names  # one rank: no sweep table

    items = pd.read_parquet(tmp_path / "item_metrics.parquet")
    assert set(METRIC_COLUMNS) <= set(items.columns)
    assert {"model", "method", "rank", "seed", "noise_rate"} <= set(items.columns)
    # 6 runs × 100 items (tracked + validation) × 2 measurement kinds
    assert len(items) == 6 * 100 * 2
    st = pd.read_parquet(tmp_path / "run_statistics.parquet")
    assert set(RUN_STAT_COLUMNS) <= set(st.columns)
    assert (st.groupby(["run_id", "measurement"])["n"].first() == 80).all()  # tracked items only
    noise = pd.read_csv(tmp_path / "noise_tests.csv")
    assert noise["noise_rate"].tolist() == [0.3] and noise["n_pairs"].iloc[0] > 0
    paired = pd.read_csv(tmp_path / "paired_lora_vs_full.csv")
    assert paired["rank"].tolist() == [4]
    shown = pd.read_csv(tmp_path / "tables" / "table_paired.csv")
    assert shown["diff"].tolist() == pytest.approx(paired["diff"].tolist())
    by_label = pd.read_parquet(tmp_path / "rho_by_label.parquet")
    # every run × measurement splits its 80 tracked items over the training labels
    assert (by_label.groupby(["run_id", "measurement"])["n"].sum() == 80).all()
    means = pd.read_parquet(tmp_path / "bin_means.parquet")
    assert set(means["value"]) == {"aulc", "delta_loss"}
    one = means[(means["value"] == "aulc") & (means["measurement"] == "snapshot")]
    assert (one.groupby("run_id")["n"].sum() == 80).all()
    assert (one["ci_low"] <= one["mean"]).all() and (one["mean"] <= one["ci_high"]).all()


def test_analyze_without_runs_fails_with_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(capsys, "analyze", str(tmp_path / "empty"), "--out", str(tmp_path / "o"))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "no finished runs" in lines[0] and "empty" in lines[0]
    assert not (tmp_path / "o").exists()


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.tags: dict[str, int] = {}

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self.refs += [(tag, k, v or "") for k, v in attrs if k in ("src", "href", "srcset", "action", "data")]


def test_report_page_is_self_contained(report_dir, sweep_dir):
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    parser = _Refs()
    parser.feed(html)
    assert parser.tags.get("script", 0) == 0 and parser.tags.get("link", 0) == 0
    for tag, attr, value in parser.refs:
        if tag == "img":
            assert value.startswith("data:image/png;base64,")
            assert base64.b64decode(value.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
        else:
            assert attr == "href" and value.startswith("#"), (tag, attr, value)
    # CSS could fetch too: no url(...) and no @import
    assert "url(" not in html and "@import" not in html
    pngs = sorted((report_dir / "figures").glob("*.png"))
    # histogram, forest, un-learning vs learning + one condition × 5 (hero, JSD by bin, trajectories, …)
    assert len(pngs) == parser.tags["img"] == 3 + 5
    assert len(list((report_dir / "figures").glob("*.pdf"))) == len(pngs)
    for title in ("Table 1: entropy–AULC correlation by condition", "Table 2: un-learning", "Noise injection",
                  "Fit to the annotators (validation items)", "Un-learning decomposed",
                  "LoRA vs full FT at matched learning", "Un-learning against learning",
                  "Fit to the annotators by entropy bin"):
        assert title in html
    assert parser.tags["details"] == 6  # one per run, with its config/env/metrics
    assert '"git_commit": &#34;abc123&#34;' in html or '&#34;git_commit&#34;: &#34;abc123&#34;' in html


def _chromium(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp(prefix="chromium-")
    try:
        return subprocess.run(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-logging=stderr",
             "--v=0", f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=timeout, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


# Chromium in a container complains about the missing system bus and GPU; none of it is the page's.
_NOISE = re.compile(r"dbus|D-Bus|Failed to connect to the bus|unexpected operator|vaapi|drmGetDevices|"
                    r"sandbox_linux|gpu_init|viz_main|command_buffer|Fontconfig")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="headless check needs Debian's chromium (/usr/bin/chromium)")
def test_report_renders_in_headless_chromium(report_dir, tmp_path):
    page = (report_dir / "report.html").resolve().as_uri()
    dom = _chromium("--dump-dom", page)
    assert dom.returncode == 0, dom.stderr[-2000:]
    problems = [line for line in dom.stderr.splitlines()
                if (":ERROR:" in line or "CONSOLE" in line or "FATAL" in line) and not _NOISE.search(line)]
    assert problems == []
    assert dom.stdout.count("<img ") == len(list((report_dir / "figures").glob("*.png")))
    # key results, Table 1, Table 2 and the noise table, parsed into the live DOM
    # key, Table 1, Table 2, paired, noise, fit to the annotators, un-learning decomposed, matched learning
    assert dom.stdout.count('<table class="dataframe data">') == 8
    assert "Table 1: entropy–AULC correlation by condition" in dom.stdout
    shot = tmp_path / "report.png"
    res = _chromium(f"--screenshot={shot}", "--window-size=1400,2000", page)
    assert res.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
