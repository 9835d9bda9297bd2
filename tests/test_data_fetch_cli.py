"""`contested data fetch|entropy|info`: offline failure, checksums, atomic unpack, CLI output."""

from __future__ import annotations

import time
import zipfile

import pandas as pd
import pytest

from cli_helpers import run_cli
from contested.data import load_items
from contested.data.fetch import CHAOSNLI_SHA256, fetch_chaosnli
from contested.errors import ContestedError


def _zip(path, data_dir, *, corrupt: str | None = None):
    """A zip laid out like the official one (a chaosNLI_v1.0/ folder), optionally with one file altered."""
    with zipfile.ZipFile(path, "w") as zf:
        for name in (*CHAOSNLI_SHA256, "README.txt"):
            data = (data_dir / "chaosnli_v1.0" / name).read_bytes()
            if name == corrupt:
                data = data.replace(b'"n": 70', b'"n": 71', 1)
            zf.writestr(f"chaosNLI_v1.0/{name}", data)
        zf.writestr("__MACOSX/chaosNLI_v1.0/._chaosNLI_snli.jsonl", b"junk")
    return path


def test_fetch_fails_fast_when_the_server_is_unreachable(tmp_path, capsys):
    target = tmp_path / "data"
    start = time.monotonic()
    with pytest.raises(ContestedError, match=r"could not download ChaosNLI from http://127\.0\.0\.1:9/x\.zip"):
        fetch_chaosnli(data_dir=target, url="http://127.0.0.1:9/x.zip", timeout=5)
    assert time.monotonic() - start < 10
    assert not target.exists()
    code, _, err = run_cli(capsys, "data", "fetch", "chaosnli", "--data-dir", str(target), "--url", "http://127.0.0.1:9/x.zip",
                                   "--timeout", "5")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "--url file:///" in err and not target.exists()


def test_fetch_rejects_a_bad_checksum_and_installs_nothing(tmp_path, data_dir):
    bad = _zip(tmp_path / "bad.zip", data_dir, corrupt="chaosNLI_snli.jsonl")
    target = tmp_path / "data"
    with pytest.raises(ContestedError, match=r"checksum mismatch for chaosNLI_snli\.jsonl.*nothing was installed"):
        fetch_chaosnli(data_dir=target, url=bad.as_uri())
    assert not (target / "chaosnli_v1.0").exists()


def test_fetch_rejects_html_and_incomplete_zips(tmp_path, data_dir):
    page = tmp_path / "page.zip"
    page.write_text("<!DOCTYPE html><html>Invalid link</html>")
    with pytest.raises(ContestedError, match="an HTML page"):
        fetch_chaosnli(data_dir=tmp_path / "d", url=page.as_uri())
    partial = tmp_path / "partial.zip"
    with zipfile.ZipFile(partial, "w") as zf:
        zf.writestr("chaosNLI_v1.0/chaosNLI_snli.jsonl", (data_dir / "chaosnli_v1.0" / "chaosNLI_snli.jsonl").read_bytes())
    with pytest.raises(ContestedError, match=r"the zip has no chaosNLI_mnli_m\.jsonl"):
        fetch_chaosnli(data_dir=tmp_path / "d", url=partial.as_uri())
    assert not (tmp_path / "d" / "chaosnli_v1.0").exists()


def test_fetch_installs_a_verified_copy_then_is_a_no_op(tmp_path, data_dir, capsys):
    good = _zip(tmp_path / "good.zip", data_dir)
    target = tmp_path / "data"
    code, out, _ = run_cli(capsys, "data", "fetch", "chaosnli", "--data-dir", str(target), "--url", good.as_uri())
    assert code == 0 and "verified" in out
    folder = target / "chaosnli_v1.0"
    assert sorted(p.name for p in folder.iterdir()) == sorted([*CHAOSNLI_SHA256, "README.txt"])
    assert [p.name for p in target.iterdir()] == ["chaosnli_v1.0"]  # no staging leftovers
    assert len(load_items("chaosnli-snli", data_dir=target)) == 1514
    good.unlink()  # a second fetch must not need the network (or the zip) at all
    assert fetch_chaosnli(data_dir=target, url=good.as_uri()) == folder


def test_cli_entropy_prints_bin_counts_and_shares(data_dir, capsys):
    code, out, err = run_cli(capsys, "data", "entropy", "chaosnli-snli", "--data-dir", str(data_dir))
    assert code == 0 and err == ""
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith("│")}
    assert "378" in lines["clean"] and "25.0%" in lines["clean"]
    assert "766" in lines["ambiguous"] and "50.6%" in lines["ambiguous"]
    assert "370" in lines["contested"] and "24.4%" in lines["contested"]
    assert "< 0.400" in lines["clean"] and "entropy in nats" in out


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_cli_entropy_writes_the_item_table(tmp_path, data_dir, capsys, suffix):
    out_path = tmp_path / f"alpha{suffix}"
    code, out, _ = run_cli(capsys, "data", "entropy", "chaosnli-alphanli", "--base", "2", "--out", str(out_path),
                                   "--data-dir", str(data_dir))
    assert code == 0 and "bits" in out and "0.364" in out  # 0.4 nats × ln2/ln3, in bits
    table = pd.read_parquet(out_path) if suffix == ".parquet" else pd.read_csv(out_path)
    assert len(table) == 1532 and "entropy" in table and "label_counts" in table
    assert table["entropy"].max() <= 1.0 + 1e-12


def test_cli_entropy_quantile_bins_and_bad_options(data_dir, capsys, tmp_path):
    code, out, _ = run_cli(capsys, "data", "entropy", "chaosnli-mnli", "--bins", "quantile", "--data-dir", str(data_dir))
    assert code == 0 and "33.4%" in out
    code, _, err = run_cli(capsys, "data", "entropy", "chaosnli-snli", "--base", "1", "--data-dir", str(data_dir))
    assert code == 2 and "--base" in err
    code, _, err = run_cli(capsys, "data", "entropy", "chaosnli-snli", "--out", str(tmp_path / "x.xlsx"),
                                   "--data-dir", str(data_dir))
    assert code == 2 and "unknown output format" in err and not (tmp_path / "x.xlsx").exists()


def test_cli_info_lists_sources_and_counts(data_dir, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "data", "info", "--data-dir", str(data_dir))
    assert code == 0 and f"data folder: {data_dir}" in out
    for name, n in (("chaosnli-snli", "1,514"), ("lewidi-md-agreement", "10,753"), ("snli-train-sample", "20,000"),
                    ("mnli-train-sample", "10,000")):
        assert any(name in line and n in line for line in out.splitlines()), name
    code, out, _ = run_cli(capsys, "data", "info", "--data-dir", str(tmp_path))
    assert code == 0 and "contested data fetch chaosnli" in out


def test_cli_fetch_unknown_target(capsys):
    code, _, err = run_cli(capsys, "data", "fetch", "mnli")
    assert code == 2 and "cannot fetch 'mnli'; fetchable: chaosnli" in err


def test_hf_bulk_sources_load_locally_and_fail_in_one_line_offline(tmp_path, monkeypatch):
    from contested.data import load_bulk

    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))  # effective if datasets is not imported yet
    folder = tmp_path / "nli"
    folder.mkdir()
    (folder / "train.jsonl").write_text('{"premise": "a", "hypothesis": "b", "label": 0}\n'
                                        '{"premise": "c", "hypothesis": "d", "label": -1}\n'
                                        '{"premise": "e", "hypothesis": "f", "label": 2}\n')
    bulk = load_bulk(f"hf:{folder}")
    assert bulk["label"].tolist() == [0, 2] and bulk["premise"].tolist() == ["a", "e"]  # -1 (no gold) skipped
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ContestedError, match=r"hf:no-such-org/no-such-nli: could not load the Hugging Face dataset"):
        load_bulk("hf:no-such-org/no-such-nli")
