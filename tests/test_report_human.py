"""Human fit and LoRA vs full FT at matched learning in `analyze`, the report and the demo's printout."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from scipy.spatial.distance import jensenshannon

import report_synth as rs
from contested.dynamics import chaosnli_scores, human_fit_items, unlearning_decomposition
from contested.dynamics.matched import compare_runs, curve_table, run_matrices
from contested.report.analysis import analyze, write_analysis
from contested.report.html import render_html
from contested.report.human import (
    FIT_ITEM_COLUMNS,
    HUMAN_FIT_COLUMNS,
    MATCHED_COLUMNS,
    matched_pairs,
)
from contested.report.human_figures import jsd_by_bin_figure, learning_curves_figure
from contested.report.human_tables import (
    CHAOSNLI_BASELINES,
    annotator_fit_table,
    decomposition_table,
    matched_table,
)
from contested.report.runs import Run, load_runs, runs_table

N_BOOT = 100


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("human") / "runs"
    rs.sweep(root, n=100, seeds=(1, 2), ranks=(4,), full=True, noise=(0.3,))
    return root


@pytest.fixture(scope="module")
def analysis(runs_dir):
    return analyze(load_runs([runs_dir]), n_boot=N_BOOT, seed=0)


def _run(analysis, run_id):
    return next(r for r in analysis.runs if r.run_id == run_id)


def test_human_fit_per_run_split_checkpoint_is_chaosnli_scores(analysis):
    fit = analysis.human_fit
    assert list(fit.columns[:len(HUMAN_FIT_COLUMNS)]) == list(HUMAN_FIT_COLUMNS)
    assert {"model", "method", "rank", "dataset", "seed", "noise_rate", "lr"} <= set(fit.columns)
    assert set(fit["split"]) == {"tracked", "validation"}
    assert set(fit["run_id"]) == set(analysis.runs_table["run_id"])
    # 100 items: every 5th validates
    assert set(fit.loc[fit["split"] == "validation", "n"]) == {20}
    assert set(fit.loc[fit["split"] == "tracked", "n"]) == {80}
    run = _run(analysis, "sim-model-lora4-s1-n0")
    mine = fit[fit["run_id"] == run.run_id]
    for split in ("validation", "tracked"):
        want = chaosnli_scores(run.dynamics, run.items, split=split)
        got = mine[mine["split"] == split].reset_index(drop=True)
        pd.testing.assert_frame_equal(got[list(want.columns)], want, check_dtype=False)
    assert mine["progress"].min() == 0 and mine["progress"].max() == pytest.approx(1.0)


def test_item_metrics_get_initial_final_change_of_jsd_kl_entropy_on_snapshot_rows(analysis):
    m = analysis.item_metrics
    assert set(FIT_ITEM_COLUMNS) <= set(m.columns)
    snap, inflight = m[m["measurement"] == "snapshot"], m[m["measurement"] == "inflight"]
    assert snap[list(FIT_ITEM_COLUMNS)].notna().all().all()
    assert inflight[list(FIT_ITEM_COLUMNS)].isna().all().all()
    np.testing.assert_allclose(snap["delta_kl"], snap["final_kl"] - snap["initial_kl"])
    run = _run(analysis, "sim-model-full-s2-n0")
    want = human_fit_items(run.dynamics, run.items).set_index("item_id")
    got = snap[snap["run_id"] == run.run_id].set_index("item_id").loc[want.index]
    np.testing.assert_allclose(got["final_jsd"], want["final_jsd"])
    np.testing.assert_allclose(got["delta_pred_entropy"], want["delta_pred_entropy"])


def test_decomposition_learning_curves_and_matched(analysis):
    dec = analysis.decomposition
    assert len(dec) == 6 * 4 and set(dec["bin"]) == {"clean", "ambiguous", "contested", "all"}
    assert {"n_items", "n_unlearned", "share_toward", "share_away", "method", "seed"} <= set(dec.columns)
    run = _run(analysis, "sim-model-lora4-s2-n0")
    want = unlearning_decomposition(run.dynamics, run.items)
    got = dec[dec["run_id"] == run.run_id].reset_index(drop=True)
    pd.testing.assert_frame_equal(got[list(want.columns)], want)

    curves = analysis.learning_curves
    assert {"run_id", "step", "learning", "delta_contested", "share_above", "share_away", "rho_loss",
            "method"} <= set(curves.columns)
    want = curve_table(run_matrices(run.dynamics, run.items))
    got = curves[curves["run_id"] == run.run_id].reset_index(drop=True)
    pd.testing.assert_frame_equal(got[list(want.columns)], want)

    matched = analysis.matched
    assert list(matched.columns) == list(MATCHED_COLUMNS)
    # the noise runs have no full-FT partner at their noise rate: two pairs (one per seed) × 4 metrics
    assert sorted(set(zip(matched["run_id_lora"], matched["run_id_full"], strict=True))) == [
        ("sim-model-lora4-s1-n0", "sim-model-full-s1-n0"), ("sim-model-lora4-s2-n0", "sim-model-full-s2-n0")]
    assert set(matched["metric"]) == {"delta_contested", "share_above", "share_away", "rho_loss"}
    assert set(matched["lr_lora"]) == {1e-3} and set(matched["lr_full"]) == {1e-4}
    assert set(matched["n_boot"]) == {N_BOOT} and set(matched["n_items"]) == {80}
    a, b = (run_matrices(_run(analysis, r).dynamics, _run(analysis, r).items)[r]
            for r in ("sim-model-lora4-s2-n0", "sim-model-full-s2-n0"))
    want = compare_runs(a, b, n_boot=N_BOOT, seed=0)
    got = matched[matched["run_id_lora"] == "sim-model-lora4-s2-n0"].reset_index(drop=True)
    pd.testing.assert_frame_equal(got[list(want.columns)], want)


def test_analyze_decodes_each_runs_logits_once_and_reuses_its_item_metrics(runs_dir, monkeypatch):
    import contested.dynamics.human_fit as human_fit
    import contested.dynamics.metrics as metrics

    decoded, recomputed = [], []
    logits_matrix, item_metrics = human_fit.logits_matrix, metrics.item_metrics
    monkeypatch.setattr(human_fit, "logits_matrix", lambda v: decoded.append(len(v)) or logits_matrix(v))
    monkeypatch.setattr(metrics, "item_metrics", lambda *a, **k: recomputed.append(1) or item_metrics(*a, **k))
    runs = load_runs([runs_dir])
    result = analyze(runs, n_boot=0)
    assert len(decoded) == len(runs) == 6  # the scores, per-item fit, decomposition and JSD curves share one
    assert not recomputed  # the decomposition reads analyze's per-item metrics
    assert len(result.decomposition) == 6 * 4 and result.learning_curves["share_away"].notna().any()


def test_write_analysis_writes_the_new_tables(analysis, tmp_path):
    write_analysis(analysis, tmp_path)
    for stem in ("human_fit", "unlearning_decomposition", "learning_curves", "matched"):
        back = pd.read_parquet(tmp_path / f"{stem}.parquet")
        assert len(back) > 0 and (tmp_path / f"{stem}.csv").exists()
    for stem in ("table_annotator_fit", "table_unlearning_decomposed", "table_matched_learning"):
        assert {p.name for p in (tmp_path / "tables").glob(f"{stem}.*")} == {f"{stem}.{e}" for e in ("csv", "md", "tex")}


def test_without_logits_the_human_fit_is_empty_and_said_so(runs_dir, tmp_path):
    lean = analyze(load_runs([runs_dir], logits=False), n_boot=20, seed=0)
    assert lean.human_fit.empty and lean.decomposition.empty and not lean.has_logits
    assert not set(FIT_ITEM_COLUMNS) & set(lean.item_metrics.columns)
    assert lean.notes and "without logits" in lean.notes[0]
    # learning and the loss-based coordinates need no logits
    assert not lean.learning_curves.empty and lean.learning_curves["share_away"].isna().all()
    assert set(lean.matched["metric"]) == {"delta_contested", "share_above", "rho_loss"}
    assert lean.matched["diff_mean"].notna().all()
    names = [t.name for t in lean.tables]
    assert "table_annotator_fit" not in names and "table_matched_learning" in names
    write_analysis(lean, tmp_path)
    assert not (tmp_path / "human_fit.csv").exists() and (tmp_path / "matched.csv").exists()
    html = render_html(lean, [])
    assert "Not computed" in html and "loaded without logits" in html


def test_compare_runs_without_resamples_gives_the_observed_differences(analysis):
    runs = {r: run_matrices(_run(analysis, r).dynamics, _run(analysis, r).items)[r]
            for r in ("sim-model-lora4-s1-n0", "sim-model-full-s1-n0")}
    a, b = runs.values()
    plain, boot = compare_runs(a, b, n_boot=0, seed=0), compare_runs(a, b, n_boot=20, seed=0)
    np.testing.assert_allclose(plain["diff_mean"], boot["diff_mean"])
    np.testing.assert_allclose(plain["common_learning"], boot["common_learning"])
    assert plain["ci_low_at_max"].isna().all()


def _fake_run(run_id: str, *, method: str, seed: int, lr: float, bulk: int = 2000) -> Run:
    config = rs.run_config(model="m", method=method, rank=4, seed=seed)
    config["train"]["lr"] = lr
    config["data"]["bulk"] = bulk
    return Run(path=Path(run_id), run_id=run_id, config=config, env={}, metrics={}, items=pd.DataFrame(),
               dynamics=pd.DataFrame())


def test_matched_pairs_need_model_data_noise_and_seed_and_take_every_lr():
    runs = [_fake_run("lora", method="lora", seed=1, lr=1e-3), _fake_run("full-a", method="full", seed=1, lr=1e-5),
            _fake_run("full-b", method="full", seed=1, lr=1e-4), _fake_run("other-seed", method="full", seed=2, lr=1e-4),
            _fake_run("other-data", method="full", seed=1, lr=1e-4, bulk=500)]
    table = runs_table(runs)
    pairs = [(a.run_id, b.run_id) for a, b in matched_pairs(runs, table)]
    assert sorted(pairs) == [("lora", "full-a"), ("lora", "full-b")]


def test_annotator_fit_table_final_checkpoint_beside_the_published_baselines(analysis):
    t = annotator_fit_table(analysis.human_fit)
    runs = t.data[t.data["source"] == "this study"]
    assert len(runs) == 6 and set(runs["n"]) == {20}
    last = analysis.human_fit.groupby("run_id")["step"].max()
    assert (runs.set_index("run_id")["step"] == last.loc[runs["run_id"]]).all()
    published = t.data[t.data["source"] != "this study"]
    snli = CHAOSNLI_BASELINES[CHAOSNLI_BASELINES["dataset"] == "chaosnli-snli"]
    assert published["jsd"].tolist() == snli["jsd"].tolist()  # simulated data: the SNLI rows for scale
    assert "roberta-large (Nie, Zhou & Bansal 2020)" in t.display["Model"].tolist()
    assert t.display.loc[t.display["Model"].str.startswith("bert-base"), "JSD"].iloc[0] == "0.2345"
    md = t.to_markdown()
    assert md.count("\n") == 1 + 6 + 5  # header rule, 6 runs, 5 published
    tex = t.to_latex()
    assert r"\begin{tabular}" in tex and r"\label{tab:table_annotator_fit}" in tex
    assert all(ord(ch) < 128 for ch in tex)  # pdflatex-safe
    assert "1,514" in t.caption and "validation items" in t.caption
    # A ChaosNLI set without published rows here (αNLI, K = 2) gets none, not SNLI's.
    alpha = annotator_fit_table(analysis.human_fit.assign(dataset="chaosnli-alphanli"))
    assert set(alpha.data["source"]) == {"this study"}


def test_decomposition_and_matched_tables_render(analysis):
    d = decomposition_table(analysis.decomposition)
    assert len(d.display) == 24 and d.display["bin"].tolist()[:4] == ["clean", "ambiguous", "contested", "all"]
    row = d.data.iloc[2]
    assert d.display["share Δℓ > 0"].iloc[2] == f"{row['n_unlearned'] / row['n_items']:.2f} ({int(row['n_unlearned'])})"
    m = matched_table(analysis.matched)
    assert m.display["metric"].tolist()[:4] == ["mean Δℓ contested (nats)", "share contested with Δℓ > 0",
                                               "share contested moving away (JSD rose)", "ρ(H, loss)"]
    assert m.display["lr LoRA / full"].iloc[0] == "0.001 / 0.0001"
    for table in (d, m):
        tex = table.to_latex()
        assert r"\toprule" in tex and all(ord(ch) < 128 for ch in tex)
        assert table.to_html().count("<tr") == len(table.display) + 1
    nan = analysis.matched.assign(diff_at_max=np.nan)
    assert set(matched_table(nan).display["LoRA − full at L* [95% CI]"]) == {"—"}


def test_learning_curves_figure_one_line_per_run_and_a_share_away_panel(analysis):
    curves = analysis.learning_curves
    fig = learning_curves_figure(curves)
    assert len(fig.axes) == 2
    n_runs = curves["run_id"].nunique()
    for ax in fig.axes:
        lines = ax.get_lines()
        assert len(lines) == n_runs + 1 and lines[-1].get_linestyle() == "--"  # y = 0
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["LoRA r=4 (4 runs)", "full FT (2 runs)"]
    one = fig.axes[0].get_lines()[0]
    first = curves.sort_values(["run_id", "step"]).groupby("run_id").head(len(one.get_xdata()))
    assert one.get_marker() != "None" and len(one.get_xdata()) == first["run_id"].value_counts().iloc[0]
    assert len(learning_curves_figure(curves.assign(share_away=np.nan)).axes) == 1


def test_jsd_by_bin_figure_known_means():
    items = pd.DataFrame({"item_id": ["a", "b", "c"], "entropy": [0.1, 0.2, 0.9], "bin": ["clean", "clean", "contested"],
                          "label_dist": [[0.9, 0.05, 0.05], [0.8, 0.1, 0.1], [0.4, 0.3, 0.3]],
                          "majority_label": [0, 0, 0]})
    probs = {0: [1 / 3, 1 / 3, 1 / 3], 100: [0.7, 0.2, 0.1]}
    rows = [{"run_id": "r", "item_id": i, "split": "tracked", "measurement": "snapshot", "step": s,
             "logits": list(np.log(p))} for i in "abc" for s, p in probs.items()]
    fig = jsd_by_bin_figure(pd.DataFrame(rows), items)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"clean (n = 2)", "contested (n = 1)"}
    want = [np.mean([jensenshannon(items["label_dist"][i], p) for i in (0, 1)]) for p in probs.values()]
    np.testing.assert_allclose(lines["clean (n = 2)"].get_ydata(), want, rtol=1e-9)
    assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 2


def test_report_page_has_the_new_sections(analysis):
    html = render_html(analysis, [])
    for title in ("Fit to the annotators (validation items)", "Un-learning decomposed",
                  "LoRA vs full FT at matched learning", "Nie, Zhou &amp; Bansal 2020"):
        assert title in html
    assert "at matched learning (L* = " in html and "Not computed" not in html


def test_demo_prints_the_matched_line_after_the_paired_line(capsys):
    from contested.commands.demo import _print_summary

    summary = pd.DataFrame([{"method": "lora", "rank": 4, "lr": 2e-3, "heldout_accuracy": 0.7, "val_accuracy": 0.6,
                             "majority_rate": 0.53, "rho": 0.2, "ci_low": 0.1, "ci_high": 0.3,
                             "mean_delta_clean": -0.4, "mean_delta_contested": 0.05,
                             "share_unlearned_clean": 0.1, "share_unlearned_contested": 0.4}])
    paired = pd.DataFrame([{"rank": 4, "n_items": 1211, "diff": 0.1, "ci_low": 0.02, "ci_high": 0.18,
                            "p_value": 0.01}])
    matched = pd.DataFrame([
        {"rank": 4, "metric": "delta_contested", "common_learning": 0.412, "diff_at_max": 0.0521,
         "ci_low_at_max": 0.0214, "ci_high_at_max": 0.0826},
        {"rank": 4, "metric": "rho_loss", "common_learning": 0.412, "diff_at_max": 0.2, "ci_low_at_max": 0.1,
         "ci_high_at_max": 0.3}])
    _print_summary(summary, paired, "report.html")
    before = capsys.readouterr().out.splitlines()
    _print_summary(summary, paired, "report.html", matched)
    after = capsys.readouterr().out.splitlines()
    line = ("LoRA r=4 − full FT at matched learning (L* = 0.41 nats of clean-item loss drop): contested Δℓ "
            "+0.052 [+0.021, +0.083] nats")
    paired_at = next(i for i, t in enumerate(after) if "difference in ρ on the same 1,211 items" in t)
    assert after[paired_at + 1] == line
    assert after[:paired_at + 1] + after[paired_at + 2:] == before  # every other line unchanged
    _print_summary(summary, paired, "report.html", matched.iloc[:0])
    assert "not compared" in capsys.readouterr().out


def test_demo_result_has_a_matched_frame():
    from contested.experiments.demo import DemoResult

    assert "matched" in {f.name for f in dataclasses.fields(DemoResult)}
