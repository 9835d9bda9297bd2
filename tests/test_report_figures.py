"""Figure functions: the right artists at the right places, known-answer CI bands, atomic saves."""

from __future__ import annotations

import math
import struct

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PathCollection, PolyCollection
from matplotlib.figure import Figure
from scipy import stats

import report_synth as rs
from contested.dynamics import item_metrics, simulate_dynamics
from contested.errors import ContestedError
from contested.report.condition_figures import forest_figure, rank_figure
from contested.report.figures import (
    data_map_figure,
    entropy_histogram_figure,
    entropy_metric_figure,
    hero_figure,
    save_figure,
    trajectories_figure,
)
from contested.report.style import bin_thresholds
from contested.stats import seed_aggregate


@pytest.fixture(scope="module")
def sim():
    items = rs.items(150)
    dyn = simulate_dynamics(items, rho=0.3, seed=1, run_id="r1", total_steps=400, epochs=2)
    metrics = item_metrics(dyn, items)
    return items, dyn, metrics[metrics["split"] == "tracked"]


def _tiny():
    """Two items per bin, two checkpoints: the band is computable by hand."""
    items = pd.DataFrame({"item_id": list("abcdef"), "entropy": [0.1, 0.2, 0.5, 0.6, 0.8, 0.9],
                          "bin": ["clean", "clean", "ambiguous", "ambiguous", "contested", "contested"]})
    loss = {"a": (1.0, 0.2), "b": (1.2, 0.4), "c": (1.0, 0.5), "d": (1.1, 0.7), "e": (1.0, 1.1), "f": (1.1, 1.5)}
    rows = [{"run_id": "r", "item_id": i, "split": "tracked", "measurement": "snapshot", "step": s, "loss": v}
            for i, pair in loss.items() for s, v in zip((0, 100), pair, strict=True)]
    return items, pd.DataFrame(rows), loss


def test_hero_has_one_line_and_known_band_per_bin_plus_ln2():
    items, dyn, _ = _tiny()
    fig = hero_figure(dyn, items)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["clean (n = 2)", "ambiguous (n = 2)", "contested (n = 2)", "ln 2 ≈ 0.693 nats"]
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["contested (n = 2)"].get_ydata(), [1.05, 1.3])
    np.testing.assert_allclose(lines["ln 2 ≈ 0.693 nats"].get_ydata(), [math.log(2)] * 2)
    assert lines["ln 2 ≈ 0.693 nats"].get_linestyle() == "--"
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 3
    # contested at step 100: mean 1.3, sd 0.2828 (ddof 1), SEM 0.2 → band 1.3 ± 0.392
    # step 0: 1.0, 1.1 → mean 1.05, SEM 0.05; step 100: 1.1, 1.5 → mean 1.3, SEM 0.2
    ys = np.unique(np.round(bands[2].get_paths()[0].vertices[:, 1], 9))
    want = [1.05 - 1.96 * 0.05, 1.05 + 1.96 * 0.05, 1.3 - 1.96 * 0.2, 1.3 + 1.96 * 0.2]
    np.testing.assert_allclose(sorted(ys), sorted(want))
    assert ax.get_xlabel() == "training step (optimiser steps)"
    assert "nats" in ax.get_ylabel()


def test_hero_refuses_several_runs_without_run_id(sim):
    items, dyn, _ = sim
    two = pd.concat([dyn, dyn.assign(run_id="r2")])
    with pytest.raises(ContestedError, match=r"holds 2 runs.*pass run_id="):
        hero_figure(two, items)
    assert isinstance(hero_figure(two, items, run_id="r2"), Figure)


def test_trajectories_colour_each_drawn_item_by_its_entropy(sim):
    items, dyn, _ = sim
    fig = trajectories_figure(dyn, items, max_items=40, seed=3)
    ax, cbar_ax = fig.axes
    (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(lines.get_segments()) == 40
    entropies = set(np.round(items["entropy"], 12))
    assert set(np.round(lines.get_array(), 12)) <= entropies
    assert lines.norm.vmax == pytest.approx(math.log(3))
    assert "nats" in cbar_ax.get_ylabel()
    again = trajectories_figure(dyn, items, max_items=40, seed=3).axes[0].collections[0]
    np.testing.assert_array_equal(again.get_array(), lines.get_array())  # seeded sample


def _two_class_items(n: int = 90) -> pd.DataFrame:
    p = np.random.default_rng(0).uniform(0.5, 1.0, n)
    entropy = -(p * np.log(p) + (1 - p) * np.log(np.clip(1 - p, 1e-12, None)))
    low, high, _ = bin_thresholds(2)
    bins = np.where(entropy < low, "clean", np.where(entropy < high, "ambiguous", "contested"))
    return pd.DataFrame({"item_id": [f"x{i}" for i in range(n)], "entropy": entropy, "bin": bins,
                         "label_dist": [[a, 1 - a] for a in p]})


@pytest.mark.parametrize("k", [3, 2])
def test_histogram_marks_the_scaled_thresholds(sim, k):
    # K is inferred: from the simulated 3-class items, and from label_dist of length 2.
    items = sim[0] if k == 3 else _two_class_items()
    fig = entropy_histogram_figure(items)
    ax = fig.axes[0]
    xs = sorted(line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == "--")
    np.testing.assert_allclose(xs, bin_thresholds(k))
    if k == 3:
        np.testing.assert_allclose(xs, [0.4, 0.7, math.log(3)])
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    share = (items["bin"] == "clean").mean()
    assert texts[0] == f"clean: {share:.1%} of {len(items):,} items"
    assert sum(p.get_height() for p in ax.patches if p.get_height() > 0) == len(items)


def test_entropy_metric_title_has_spearman_rho(sim):
    _, _, metrics = sim
    expected = stats.spearmanr(metrics["entropy"], metrics["aulc"]).statistic
    ax = entropy_metric_figure(metrics).axes[0]
    assert f"ρ = {expected:.3f}" in ax.get_title()
    assert ax.get_ylabel() == "AULC (nats)"
    given = entropy_metric_figure(metrics, rho=0.123, ci=(0.1, 0.15)).axes[0].get_title()
    assert "ρ = 0.123, 95% CI [0.10, 0.15]" in given
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert sum(len(c.get_offsets()) for c in scatters) == len(metrics)


def test_data_map_places_items_at_variability_confidence(sim):
    _, _, metrics = sim
    fig = data_map_figure(metrics)
    ax, cbar_ax = fig.axes
    (points,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    got = {tuple(np.round(xy, 9)) for xy in points.get_offsets()}
    want = {tuple(np.round(xy, 9)) for xy in metrics[["variability", "confidence"]].to_numpy()}
    assert got == want
    assert "confidence" in ax.get_ylabel() and "variability" in ax.get_xlabel()
    assert "entropy" in cbar_ax.get_ylabel()


def test_forest_draws_every_seed_and_the_pooled_rho():
    st = rs.run_stats()
    pooled = seed_aggregate(st, by=["model", "method", "rank", "dataset"])
    ax = forest_figure(st, pooled=pooled).axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "minilm-l6 · LoRA r=1 · chaosnli-snli" and "roberta-base · full FT · chaosnli-snli" in labels
    assert len(labels) == 8
    assert len(ax.containers) == 8 * 3 + 8  # seeds + pooled diamonds
    diamonds = [c for c in ax.containers if c.lines[0].get_marker() == "D"]
    xs = sorted(float(c.lines[0].get_xdata()[0]) for c in diamonds)
    np.testing.assert_allclose(xs, sorted(pooled["rho_pooled"]))
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"seed 42", "seed 123", "seed 456", "seed-pooled"}


def test_rank_figure_ticks_ranks_and_reports_spearman():
    st = rs.run_stats()
    ax = rank_figure(st).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "4", "16"]
    sub = st[(st["model"] == "minilm-l6") & (st["method"] == "lora")]
    s = stats.spearmanr(sub["rank"], sub["rho"]).statistic
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("minilm-l6") and f"{s:+.2f}" in t for t in texts)
    assert any(t.endswith("full FT") for t in texts)


def test_save_figure_writes_png_at_dpi_and_pdf(tmp_path, sim):
    items, _, _ = sim
    fig = entropy_histogram_figure(items)
    png, pdf = save_figure(fig, tmp_path / "sub" / "hist", dpi=160)
    width, height = struct.unpack(">II", png.read_bytes()[16:24])  # PNG IHDR
    assert (width, height) == (round(7.5 * 160), round(4.2 * 160))
    assert pdf.read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["hist.pdf", "hist.png"]
    with pytest.raises(ContestedError, match="dpi must be ≥ 150"):
        save_figure(fig, tmp_path / "low", dpi=72)


def test_forest_plot_keeps_its_axes_with_a_model_given_as_a_long_folder_path():
    import io

    from contested.report.condition_figures import MAX_LABEL, forest_figure

    stats = rs.run_stats()
    stats["model"] = "/tmp/pytest-of-someone/pytest-123/test_a_rather_long_name0/models/bert-tiny-random"
    fig = forest_figure(stats, metric="aulc")  # the suite turns matplotlib's tight-layout warning into an error
    fig.savefig(io.BytesIO(), format="png")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels and all(len(t) <= MAX_LABEL for t in labels)
    assert all(t.startswith("bert-tiny-random · ") for t in labels), labels  # the folder's name, not "…" + a tail


def test_forest_plot_names_conditions_that_differ_in_lr_in_full():
    """Three conditions of one model whose learning rates differ (the MPNet rows of cpu-repro.yaml)
    keep their whole names: model, method, dataset and lr (a cut label hid the model)."""
    from contested.report.condition_figures import forest_figure

    stats = rs.run_stats()
    stats = stats[(stats["model"] == "minilm-l6") & (stats["rank"].isin([4, 16]) | (stats["method"] == "full"))].copy()
    stats["model"], stats["lr"] = "mpnet-base", np.where(stats["method"] == "full", 1e-4, 2e-3)
    fig = forest_figure(stats, metric="aulc")
    labels = {t.get_text() for t in fig.axes[0].get_yticklabels()}
    assert labels == {"mpnet-base · LoRA r=4 · chaosnli-snli · lr 0.002",
                      "mpnet-base · LoRA r=16 · chaosnli-snli · lr 0.002",
                      "mpnet-base · full FT · chaosnli-snli · lr 0.0001"}, labels
