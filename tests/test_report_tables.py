"""Study tables: right rows and values for known inputs; Markdown, LaTeX, HTML and CSV renderings."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import report_synth as rs
from contested.errors import ContestedError
from contested.report.tables import (
    key_table,
    noise_table,
    paired_table,
    rank_table,
    rho_table,
    unlearning_table,
)


def _stats(rhos: dict[tuple, list[float]]) -> pd.DataFrame:
    """Per-run statistics with chosen ρ per (model, method, rank) and seeds 1, 2, 3…"""
    rows = []
    for (model, method, rank), values in rhos.items():
        for seed, rho in enumerate(values, start=1):
            rows.append({"run_id": f"{model}-{method}{rank}-{seed}", "metric": "aulc", "measurement": "snapshot",
                         "n": 1000, "rho": rho, "p_value": 1e-6, "ci_low": rho - 0.05, "ci_high": rho + 0.05,
                         "partial_rho": rho - 0.01, "model": model, "method": method, "rank": rank,
                         "dataset": "snli", "seed": seed, "mean_delta_clean": -0.5 + 0.1 * seed,
                         "mean_delta_ambiguous": -0.2, "mean_delta_contested": 0.1 * seed,
                         "share_unlearned_clean": 0.1, "share_unlearned_contested": 0.4})
    df = pd.DataFrame(rows)
    df["rank"] = df["rank"].astype("Int64")
    return df


KNOWN = {("m", "lora", 4): [0.30, 0.32, 0.34], ("m", "full", None): [0.10, 0.14]}


def test_rho_table_means_stds_and_accuracy():
    st = _stats(KNOWN)
    runs = st[["run_id"]].assign(val_accuracy=np.where(st["method"] == "lora", 0.6, 0.7), heldout_accuracy=0.8,
                                 majority_rate=0.53)
    t = rho_table(st, runs)
    assert list(t.display["Method"]) == ["LoRA r=4", "full FT"]  # LoRA before full FT
    assert list(t.display["ρ(H, AULC)"]) == ["0.320 ± 0.020", "0.120 ± 0.028"]
    assert list(t.display["val. acc."]) == ["0.600 ± 0.000", "0.700 ± 0.000"]
    assert list(t.data["n_seeds"]) == [3, 2]
    # the pooled ρ is Fisher-z pooled: tanh(mean(atanh ρ)) for equal n
    assert t.data["rho_pooled"].iloc[0] == pytest.approx(math.tanh(np.mean(np.arctanh([0.30, 0.32, 0.34]))))
    assert t.data["partial_rho_mean"].iloc[1] == pytest.approx(0.11)


def test_rho_table_leaves_out_noise_runs_and_one_seed_shows_mean_only():
    st = _stats({("m", "lora", 4): [0.3]})
    noisy = st.assign(run_id="noisy", rho=0.9, noise_rate=0.3)
    t = rho_table(pd.concat([st.assign(noise_rate=0.0), noisy]))
    assert list(t.display["ρ(H, AULC)"]) == ["0.300"]
    assert list(t.display["val. acc."]) == ["—"]


def test_unlearning_table_gap_contested_minus_clean():
    t = unlearning_table(_stats(KNOWN))
    lora = t.data.iloc[0]
    # clean: -0.4, -0.3, -0.2 ; contested: 0.1, 0.2, 0.3 → gap 0.5 every seed
    assert lora["mean_delta_clean_mean"] == pytest.approx(-0.3)
    assert lora["delta_gap_mean"] == pytest.approx(0.5)
    assert t.display["Δℓ contested"].iloc[0] == "+0.200 ± 0.100"
    assert t.display["share Δℓ > 0 contested"].iloc[0] == "0.40"


def test_rank_table_spearman_over_runs():
    st = _stats({("m", "lora", 1): [0.20, 0.22], ("m", "lora", 4): [0.25, 0.24], ("m", "lora", 16): [0.31, 0.30],
                 ("m", "full", None): [0.1, 0.1]})
    t = rank_table(st)
    lora = st[st["method"] == "lora"]
    want = stats.spearmanr(lora["rank"].astype(int), lora["rho"])
    assert t.data["spearman_rank_rho"].iloc[0] == pytest.approx(want.statistic)
    assert t.data["spearman_p"].iloc[0] == pytest.approx(want.pvalue)
    assert list(t.data.columns[:4]) == ["model", "dataset", "rho_r1", "rho_r4"]
    assert list(t.display.columns) == ["Model", "Dataset", "r=1", "r=4", "r=16", "Spearman(rank, ρ)", "p"]
    assert t.display["r=16"].iloc[0] == "0.305 ± 0.007"
    with pytest.raises(ContestedError, match="no LoRA runs"):
        rank_table(_stats({("m", "full", None): [0.1]}))


def test_noise_table_rows_per_rate_with_control_rho():
    st = pd.concat([_stats({("m", "lora", 4): [0.3, 0.32]}).assign(noise_rate=0.0),
                    _stats({("m", "lora", 4): [0.2, 0.22]}).assign(noise_rate=0.3, run_id=lambda d: d["run_id"] + "n")])
    tests = pd.DataFrame({"noise_rate": [0.3], "n_pairs": [400], "mean_noisy": [0.71], "mean_control": [0.52],
                          "p_value": [3e-9], "cohens_dz": [0.62]})
    t = noise_table(tests, st)
    assert list(t.display["noise rate"]) == ["0%", "30%"]
    assert list(t.display["ρ(H, AULC)"]) == ["0.310 ± 0.014", "0.210 ± 0.014"]
    assert t.display.iloc[1]["Wilcoxon p (one-sided)"] == "3e-09"
    assert t.display.iloc[1]["Cohen's d (paired)"] == "+0.62"
    with pytest.raises(ContestedError, match="missing column"):
        noise_table(tests.drop(columns="cohens_dz"))


def test_noise_table_keeps_lora_and_full_ft_apart():
    # The CPU noise sweep has LoRA and full FT at each rate: each gets its own rows, its own control
    # row and its own ρ (pooling the two methods gave duplicate-looking rows and a mixed ρ).
    def noisy(stats, rate):
        return stats.assign(noise_rate=rate, run_id=lambda d: d["run_id"] + f"n{rate}")
    base = _stats({("m", "lora", 4): [0.20], ("m", "full", None): [0.30]})
    st = pd.concat([base.assign(noise_rate=np.nan),  # a control run recorded before noise existed
                    noisy(_stats({("m", "lora", 4): [0.18], ("m", "full", None): [0.26]}), 0.3)])
    tests = pd.DataFrame({"model": ["m", "m"], "method": ["full", "lora"], "rank": pd.array([None, 4], dtype="Int64"),
                          "dataset": ["snli", "snli"], "noise_rate": [0.3, 0.3], "n_pairs": [300, 300],
                          "mean_noisy": [0.73, 0.88], "mean_control": [0.67, 0.87], "p_value": [1e-6, 5e-4],
                          "cohens_dz": [0.22, 0.12]})
    t = noise_table(tests, st)
    shown = t.display[["Method", "noise rate", "seeds", "clean AULC (noisy)", "ρ(H, AULC)"]].values.tolist()
    assert shown == [["LoRA r=4", "0%", "1", "—", "0.200"], ["LoRA r=4", "30%", "1", "0.880", "0.180"],
                     ["full FT", "0%", "1", "—", "0.300"], ["full FT", "30%", "1", "0.730", "0.260"]]
    assert t.display.iloc[3]["Wilcoxon p (one-sided)"] == "1e-06"


def test_key_table_one_row_per_run():
    st = rs.run_stats()
    t = key_table(st)
    assert len(t.display) == len(st)
    first = st.iloc[0]
    assert t.display["ρ [95% CI]"].iloc[0] == f"{first.rho:.3f} [{first.ci_low:.3f}, {first.ci_high:.3f}]"


def test_key_table_shows_majority_rate_beside_accuracy():
    st = rs.run_stats()
    runs = pd.DataFrame({"run_id": st["run_id"].unique()}).assign(
        val_accuracy=0.55, heldout_accuracy=0.7, majority_rate=0.521)
    shown = key_table(st, runs).display
    assert (shown["majority rate"] == "0.521").all() and (shown["val. acc."] == "0.550").all()


def test_paired_table_orders_ranks_and_signs_the_difference():
    paired = pd.DataFrame({
        "model": ["m", "m"], "dataset": ["d", "d"], "rank": [16, 4], "n_items": [1211, 1211],
        "n_runs_a": [2, 2], "n_runs_b": [2, 2], "rho_a": [0.30, 0.25], "rho_b": [0.2, 0.2],
        "diff": [0.10, 0.05], "ci_low": [0.04, -0.01], "ci_high": [0.16, 0.11], "p_value": [0.002, 0.09],
    })
    t = paired_table(paired)
    assert t.display["Method"].tolist() == ["LoRA r=4", "LoRA r=16"]
    assert t.display["Δρ (LoRA − full) [95% CI]"].tolist() == ["+0.050 [-0.010, +0.110]",
                                                              "+0.100 [+0.040, +0.160]"]
    assert t.display["seeds (LoRA / full)"].iloc[0] == "2 / 2" and t.display["items"].iloc[0] == "1,211"
    with pytest.raises(ContestedError, match="missing column"):
        paired_table(paired.drop(columns="ci_low"))


def test_renderings_markdown_latex_html_csv(tmp_path):
    t = rho_table(_stats(KNOWN))
    md = t.to_markdown().splitlines()
    assert md[0].startswith("| Model") and len(md) == 2 + 2  # header, rule, two conditions
    tex = t.to_latex()
    for piece in (r"\begin{table}", r"\begin{tabular}", r"\toprule", r"\midrule", r"\bottomrule",
                  r"\end{tabular}", r"0.320 $\pm$ 0.020", r"$\rho$(H, AULC)", r"\label{tab:table1_rho}"):
        assert piece in tex
    assert "±" not in tex and "ρ" not in tex  # pdflatex-safe
    assert tex.count(r"\\") == 3  # header + two rows
    html = t.to_html()
    assert html.count("<tr") == 3 and "<table" in html
    files = t.write(tmp_path)
    assert sorted(p.name for p in files) == ["table1_rho.csv", "table1_rho.md", "table1_rho.tex"]
    back = pd.read_csv(tmp_path / "table1_rho.csv")
    assert back["rho_mean"].tolist() == pytest.approx([0.32, 0.12])


def test_latex_escapes_special_characters():
    st = _stats({("my_model&co", "lora", 4): [0.3]})
    tex = rho_table(st).to_latex()
    assert r"my\_model\&co" in tex


# --- conditions: runs that differ in learning rate or mitigation are not seeds of one condition ---


def _two_runs(change: str) -> pd.DataFrame:
    """Per-run statistics of two runs (same model, method, rank, data, seed) that differ only in
    ``change`` (``lr`` or ``mitigation``), through the config → conditions → run_statistics path."""
    import copy

    from contested.dynamics import item_metrics, simulate_dynamics
    from contested.rundir import conditions
    from contested.stats import run_statistics

    first = rs.run_config(model="m", method="lora", rank=4, seed=42)
    second = copy.deepcopy(first)
    if change == "lr":
        second["train"]["lr"] = 2e-3
    else:
        second["data"]["training_label"] = "soft"
    table = rs.items(150)
    metrics = pd.concat([item_metrics(simulate_dynamics(table, seed=1, run_id=run_id, total_steps=300, epochs=1,
                                                        inflight=False), table)
                         for run_id in ("a", "b")], ignore_index=True)
    cond = pd.DataFrame([{"run_id": "a", **conditions(first)}, {"run_id": "b", **conditions(second)}])
    return run_statistics(metrics[metrics["split"] == "tracked"], conditions=cond, n_boot=0)


@pytest.mark.parametrize(("change", "column", "shown"), [("lr", "lr", ["0.001", "0.002"]),
                                                         ("mitigation", "mitigation", ["none", "soft"])])
def test_table1_keeps_runs_differing_in_lr_or_mitigation_apart(change, column, shown):
    from contested.report.conditions import condition_labels

    st = _two_runs(change)
    assert st[column].nunique() == 2  # run_statistics carries the column from the run's config
    t = rho_table(st)
    assert list(t.data["n_seeds"]) == [1, 1]  # two conditions of one seed each, not one of two seeds
    assert list(t.display[column]) == shown
    other = {"lr": "mitigation", "mitigation": "lr"}[column]
    assert other not in t.display.columns  # a column the conditions share does not clutter the table
    labels = condition_labels(t.data)  # the report's and figures' names of the two conditions
    want = {"lr": ["m · LoRA r=4 · simulated-snli · lr 0.001", "m · LoRA r=4 · simulated-snli · lr 0.002"],
            "mitigation": ["m · LoRA r=4 · simulated-snli", "m · LoRA r=4 · simulated-snli · soft"]}
    assert labels == want[column]
    assert len(unlearning_table(st).data) == 2


def test_rank_and_paired_tables_split_by_learning_rate():
    st = pd.concat([_stats({("m", "lora", 1): [0.2], ("m", "lora", 4): [0.25]}).assign(lr=2e-4),
                    _stats({("m", "lora", 1): [0.3], ("m", "lora", 4): [0.35]}).assign(lr=2e-3,
                                                                                      run_id=lambda d: d["run_id"] + "x")])
    t = rank_table(st)
    assert list(t.data["lr"]) == [2e-4, 2e-3] and list(t.display["lr"]) == ["0.0002", "0.002"]
    assert list(t.display["r=4"]) == ["0.250", "0.350"]  # not pooled over the two learning rates
    paired = pd.DataFrame({
        "model": ["m", "m"], "dataset": ["d", "d"], "rank": [4, 4], "lr_lora": [2e-3, 2e-4], "lr_full": [1e-4, 1e-4],
        "n_items": [100, 100], "n_runs_a": [1, 1], "n_runs_b": [1, 1], "rho_a": [0.3, 0.25], "rho_b": [0.2, 0.2],
        "diff": [0.1, 0.05], "ci_low": [0.0, 0.0], "ci_high": [0.2, 0.1], "p_value": [0.05, 0.1],
    })
    assert paired_table(paired).display["lr LoRA / full"].tolist() == ["0.0002 / 0.0001", "0.002 / 0.0001"]
    assert "lr LoRA / full" not in paired_table(paired.iloc[:1]).display.columns


def test_one_ci_format_for_tables_sentences_and_the_terminal():
    from contested.report.render import ci_text, fmt_ci

    assert ci_text(0.05, 0.01, 0.09, signed=True) == "+0.050 [+0.010, +0.090]"
    assert ci_text(0.1234, 0.05, 0.2, ci_digits=2) == "0.123 [0.05, 0.20]"
    assert ci_text(0.1, np.nan, np.nan) == "0.100 [—, —]"  # an estimate without a bootstrap interval
    assert ci_text(np.nan, 0.0, 0.1) == "—"  # no estimate: no interval either
    assert fmt_ci(pd.Series([0.2, np.nan]), pd.Series([0.1, 0.0]), pd.Series([0.3, 0.1])) == ["0.200 [0.100, 0.300]", "—"]
