"""What each mitigation does, against its majority-label control (the "what to change" analysis).

Runs differ in a ``mitigation`` (``none`` = the control: majority-label cross-entropy; ``soft``,
``soft-contested``, ``entropy-weighted``, ``ls0.1``, …; see ``docs/training.md``). A *mitigation
condition* is model × dataset × method × rank × lr × mitigation; its seeds are replicates. From the
per-item metrics of ``contested analyze`` this module computes:

* :func:`mitigation_summary`: per condition, the quantities of :data:`QUANTITIES` (the fit to the
  annotators on the validation items, validation and held-out accuracy, the contested items'
  share moving away from their human distribution, mean Δℓ of clean and contested items) and
  ρ(H, AULC), each with a 95 % CI over items and seeds (:mod:`contested.stats.means`,
  :func:`contested.stats.hierarchical_bootstrap`);
* :func:`mitigation_effects`: each mitigation minus its control (same model, data, method, rank,
  lr), paired by seed and item, with the relative change of validation JSD;
* :func:`what_to_change`: plain sentences from the effects: which mitigations improved the fit to
  the annotators without losing more than a point of held-out accuracy, and which did not.

Soft-label training moves an item's loss against its *majority* label up by design, so a mitigation
is judged on the fit to the annotators (JSD, KL, share moving away) and on accuracy, not on Δℓ.
Pure pandas/numpy; no torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from contested.report.conditions import CONDITION_COLUMNS, method_label
from contested.stats import (
    binomial_mean_draws,
    hierarchical_bootstrap,
    hierarchical_mean_draws,
    mean_ci,
    paired_rho_difference,
    percentile_ci,
)

#: The control's mitigation label.
CONTROL = "none"
#: What a mitigation condition is, besides its mitigation (seeds are replicates; noise runs are left out).
KEYS = tuple(c for c in CONDITION_COLUMNS if c not in ("mitigation", "noise_rate"))
#: Per-item quantities: name → (split, entropy bin or None for all, item_metrics column, description).
QUANTITIES: dict[str, tuple[str, str | None, str, str]] = {
    "val_jsd": ("validation", None, "final_jsd", "validation JSD to the annotators (√nats, ChaosNLI convention)"),
    "val_kl": ("validation", None, "final_kl", "validation KL from the annotators (nats)"),
    "val_accuracy": ("validation", None, "final_correct", "validation accuracy vs the 100-vote majority"),
    "share_away": ("tracked", "contested", "moved_away",
                   "share of contested tracked items whose JSD to the annotators rose"),
    "delta_clean": ("tracked", "clean", "delta_loss", "mean Δℓ of clean tracked items (nats)"),
    "delta_contested": ("tracked", "contested", "delta_loss", "mean Δℓ of contested tracked items (nats)"),
}
#: Most held-out accuracy a mitigation may lose and still count as "keeps accuracy" (proportion).
MAX_ACCURACY_LOSS = 0.01
#: The goal reported against: validation JSD at least 10 % lower than the control's.
GOAL_RELATIVE_JSD = -0.10


def _runs_of(runs_table: pd.DataFrame) -> pd.DataFrame:
    """Noise-free runs with a mitigation column (noise injection answers another question)."""
    runs = runs_table.copy()
    if "mitigation" not in runs.columns:
        runs["mitigation"] = CONTROL
    runs["mitigation"] = runs["mitigation"].fillna(CONTROL).astype(str)
    if "noise_rate" in runs.columns:
        runs = runs[runs["noise_rate"].fillna(0) == 0]
    for col in KEYS:
        if col not in runs.columns:
            runs[col] = None
    return runs


def _key(row: dict | pd.Series) -> tuple:
    return tuple(None if pd.isna(row[c]) else row[c] for c in KEYS)


def _groups(runs: pd.DataFrame) -> dict[tuple, pd.DataFrame]:
    """Runs per (KEYS…, mitigation), for the keys that have at least one non-control mitigation."""
    with_mitigation = {_key(r) for r in runs.to_dict("records") if r["mitigation"] != CONTROL}
    out: dict[tuple, pd.DataFrame] = {}
    for row in runs.to_dict("records"):
        key = _key(row)
        if key in with_mitigation:
            out.setdefault((*key, row["mitigation"]), []).append(row)  # type: ignore[arg-type]
    return {k: pd.DataFrame(v).sort_values("seed") for k, v in out.items()}


def _item_frame(item_metrics: pd.DataFrame) -> pd.DataFrame:
    snap = item_metrics[item_metrics["measurement"] == "snapshot"]
    if "delta_jsd" in snap.columns:
        snap = snap.assign(moved_away=(snap["delta_jsd"] > 0).astype(float).where(snap["delta_jsd"].notna()))
    return snap


def _matrix(items: pd.DataFrame, run_ids: Sequence[str], quantity: str) -> np.ndarray | None:
    """(S, n) values of ``quantity`` for ``run_ids`` on the items all of them have; None without any."""
    split, bin_, column, _ = QUANTITIES[quantity]
    if column not in items.columns:
        return None
    rows = items[(items["split"] == split) & items["run_id"].isin(run_ids)]
    if bin_ is not None:
        rows = rows[rows["bin"] == bin_]
    wide = rows.pivot_table(index="item_id", columns="run_id", values=column, aggfunc="first").reindex(
        columns=list(run_ids)).dropna()
    return wide.to_numpy().T if len(wide) else None


def _heldout(runs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    if "heldout_accuracy" not in runs.columns or "n_heldout" not in runs.columns:
        return None
    acc = pd.to_numeric(runs["heldout_accuracy"], errors="coerce").to_numpy(float)
    n = pd.to_numeric(runs["n_heldout"], errors="coerce").to_numpy(float)
    if np.isnan(acc).any() or np.isnan(n).any() or (n < 1).any():
        return None
    return acc, n.astype(int)


def _ci_columns(name: str, point: float, draws: np.ndarray) -> dict:
    res = mean_ci(point, draws)
    return {name: res["value"], f"{name}_ci_low": res["ci_low"], f"{name}_ci_high": res["ci_high"]}


def _nan_columns(name: str) -> dict:
    return {name: np.nan, f"{name}_ci_low": np.nan, f"{name}_ci_high": np.nan}


def mitigation_summary(item_metrics: pd.DataFrame, runs_table: pd.DataFrame, *, n_boot: int = 2000,
                       seed: int = 0) -> pd.DataFrame:
    """Per mitigation condition: every quantity of :data:`QUANTITIES`, held-out accuracy and ρ(H, AULC).

    Parameters
    ----------
    item_metrics
        Per-item metrics of ``contested analyze`` (snapshot rows with ``final_jsd``, ``final_kl``,
        ``final_correct``, ``delta_jsd``, ``delta_loss``, ``aulc``, ``entropy``, ``bin``, ``split``).
    runs_table
        The runs table (condition columns, ``heldout_accuracy``, ``n_heldout``).
    n_boot, seed
        Resamples and seed of the two-level (seeds × items) bootstrap; 0 resamples gives the
        point estimates with NaN CIs.

    Returns
    -------
    pandas.DataFrame
        One row per condition (only conditions whose model/data/method/rank/lr has at least one
        mitigation besides the control): :data:`KEYS`, ``mitigation, n_seeds, run_ids`` and, for
        each quantity ``q`` in :data:`QUANTITIES` plus ``heldout_accuracy`` and ``rho``: ``q``,
        ``q_ci_low``, ``q_ci_high`` (95 % percentile CIs; NaN where the runs lack the column).
        Empty when no run has a mitigation.
    """
    runs = _runs_of(runs_table)
    items = _item_frame(item_metrics)
    rows = []
    for key, grp in _groups(runs).items():
        ids = grp["run_id"].tolist()
        rec = {**dict(zip((*KEYS, "mitigation"), key, strict=True)), "n_seeds": len(ids), "run_ids": " ".join(ids)}
        for q in QUANTITIES:
            m = _matrix(items, ids, q)
            rec |= _nan_columns(q) if m is None else _ci_columns(q, *_flat(hierarchical_mean_draws(
                m, n_boot=n_boot, seed=seed)))
        held = _heldout(grp)
        rec |= _nan_columns("heldout_accuracy") if held is None else _ci_columns(
            "heldout_accuracy", *_flat(binomial_mean_draws(held[0], held[1], n_boot=n_boot, seed=seed)))
        tracked = items[(items["split"] == "tracked") & items["run_id"].isin(ids)]
        if n_boot > 0:
            hb = hierarchical_bootstrap(tracked, metric="aulc", n_boot=n_boot, seed=seed)
            rec |= {"rho": hb["rho_mean"], "rho_ci_low": hb["ci_low"], "rho_ci_high": hb["ci_high"]}
        else:
            rec |= {"rho": _mean_rho(tracked), "rho_ci_low": np.nan, "rho_ci_high": np.nan}
        rows.append(rec)
    return _sorted(pd.DataFrame(rows))


def _mean_rho(tracked: pd.DataFrame) -> float:
    """Mean over runs of Spearman ρ(H, AULC) (the point estimate when no CI is asked for)."""
    return float(np.mean([stats.spearmanr(g["entropy"], g["aulc"], nan_policy="omit").statistic
                          for _, g in tracked.groupby("run_id")]))


def _flat(result: tuple[np.ndarray, np.ndarray]) -> tuple[float, np.ndarray]:
    point, draws = result
    return float(point[0]), draws[:, 0]


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return df
    order = {m: i for i, m in enumerate(("lora", "ia3", "full"))}
    out = df.assign(_m=df["method"].map(order).fillna(9), _c=df["mitigation"].ne(CONTROL))
    keys = ["model", "dataset", "_m", "rank", "lr", "_c", "mitigation"]
    return out.sort_values(keys, na_position="last").drop(columns=["_m", "_c"]).reset_index(drop=True)


def _paired_diff(name: str, pair: tuple[np.ndarray, np.ndarray]) -> dict:
    point, draws = pair
    return _ci_columns(f"{name}_diff", point[0] - point[1], draws[:, 0] - draws[:, 1])


def mitigation_effects(item_metrics: pd.DataFrame, runs_table: pd.DataFrame, *, n_boot: int = 2000,
                       seed: int = 0) -> pd.DataFrame:
    """Each mitigation minus its majority-label control, paired by seed and item.

    A mitigation's control has the same model, dataset, method, rank and lr and ``mitigation ==
    "none"``; only seeds both have are compared, on the items both runs of a seed have. Seeds and
    items are resampled together for both arms (the same draws), so the CI is of the paired
    difference. ρ's difference uses :func:`contested.stats.paired_rho_difference` (items resampled,
    seeds fixed).

    Returns
    -------
    pandas.DataFrame
        One row per mitigation with a control: :data:`KEYS`, ``mitigation, n_seeds, seeds``; for
        each quantity ``q`` (and ``heldout_accuracy``, ``rho``): ``q_diff, q_diff_ci_low,
        q_diff_ci_high`` (mitigation − control, in the quantity's units); ``val_jsd_control`` and
        ``val_jsd_relative`` (+ CI): the relative change of validation JSD (−0.10 = 10 % lower);
        ``improves_fit`` (the JSD difference's CI lies below 0), ``keeps_accuracy`` (held-out
        accuracy lost ≤ :data:`MAX_ACCURACY_LOSS`) and ``meets_goal`` (both, with a relative JSD
        change ≤ :data:`GOAL_RELATIVE_JSD`). Empty without mitigations.
    """
    runs = _runs_of(runs_table)
    items = _item_frame(item_metrics)
    groups = _groups(runs)
    rows = []
    for key, grp in groups.items():
        *base, mitigation = key
        control = groups.get((*base, CONTROL))
        if mitigation == CONTROL or control is None:
            continue
        pairs = grp.merge(control, on="seed", suffixes=("", "_control"))
        if pairs.empty:
            continue
        mit_ids, ctl_ids = pairs["run_id"].tolist(), pairs["run_id_control"].tolist()
        rec = {**dict(zip((*KEYS, "mitigation"), key, strict=True)), "n_seeds": len(pairs),
               "seeds": " ".join(str(s) for s in pairs["seed"])}
        for q in QUANTITIES:
            both = _matrix(items, [*mit_ids, *ctl_ids], q)  # one item alignment for both arms
            if both is None:
                rec |= _nan_columns(f"{q}_diff")
                continue
            arms = np.stack([both[:len(mit_ids)], both[len(mit_ids):]])
            point, draws = hierarchical_mean_draws(arms, n_boot=n_boot, seed=seed)
            rec |= _paired_diff(q, (point, draws))
            if q == "val_jsd":
                rel = draws[:, 0] / draws[:, 1] - 1
                lo, hi = percentile_ci(rel)
                rec |= {"val_jsd_control": point[1], "val_jsd_relative": point[0] / point[1] - 1,
                        "val_jsd_relative_ci_low": lo, "val_jsd_relative_ci_high": hi}
        held_m, held_c = _heldout(pairs), _control_columns(pairs)
        if held_m is None or held_c is None:
            rec |= _nan_columns("heldout_accuracy_diff")
        else:
            rec |= _paired_diff("heldout_accuracy", binomial_mean_draws(
                np.stack([held_m[0], held_c[0]]), np.stack([held_m[1], held_c[1]]), n_boot=n_boot, seed=seed))
        tracked = items[items["split"] == "tracked"]
        arm_m, arm_c = tracked[tracked["run_id"].isin(mit_ids)], tracked[tracked["run_id"].isin(ctl_ids)]
        if n_boot > 0:
            res = paired_rho_difference(arm_m, arm_c, metric="aulc", n_boot=n_boot, seed=seed)
            rec |= {"rho_diff": res["diff"], "rho_diff_ci_low": res["ci_low"], "rho_diff_ci_high": res["ci_high"]}
        else:
            rec |= {"rho_diff": _mean_rho(arm_m) - _mean_rho(arm_c), "rho_diff_ci_low": np.nan,
                    "rho_diff_ci_high": np.nan}
        rows.append(rec)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["improves_fit"] = out["val_jsd_diff_ci_high"] < 0
    out["keeps_accuracy"] = out["heldout_accuracy_diff"] >= -MAX_ACCURACY_LOSS
    out["meets_goal"] = out["keeps_accuracy"] & (out["val_jsd_relative"] <= GOAL_RELATIVE_JSD)
    return _sorted(out)


def _control_columns(pairs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """The control arm's held-out accuracy and counts from a seed-merged frame."""
    ctl = pairs[[c for c in pairs.columns if c.endswith("_control")]]
    return _heldout(ctl.rename(columns=lambda c: c.removesuffix("_control")))


def condition_name(row: dict | pd.Series) -> str:
    """``LoRA r=4 (lr 0.002) · soft``: how a mitigation condition is named in sentences and legends."""
    lr = row.get("lr")
    lr_text = "" if lr is None or pd.isna(lr) else f" (lr {float(lr):g})"
    return f"{method_label(row.get('method'), row.get('rank'))}{lr_text} · {row.get('mitigation')}"


def what_to_change(effects: pd.DataFrame) -> list[str]:
    """Plain sentences from :func:`mitigation_effects`: what improved the fit to the annotators at what cost.

    One sentence per mitigation (in the effects' order), then one on the goal: a mitigation under
    LoRA with validation JSD ≥ 10 % below its control at ≤ 1 point of held-out accuracy lost.
    """
    if effects.empty:
        return []
    lines = []
    for row in effects.to_dict("records"):
        jsd = (f"validation JSD {row['val_jsd_relative']:+.1%} [{row['val_jsd_relative_ci_low']:+.1%}, "
               f"{row['val_jsd_relative_ci_high']:+.1%}] vs its control")
        acc = (f"held-out accuracy {100 * row['heldout_accuracy_diff']:+.1f} points "
               f"[{100 * row['heldout_accuracy_diff_ci_low']:+.1f}, {100 * row['heldout_accuracy_diff_ci_high']:+.1f}]")
        away = (f"contested items moving away from the annotators {100 * row['share_away_diff']:+.1f} points"
                if not pd.isna(row.get("share_away_diff")) else "")
        if row["improves_fit"] and row["keeps_accuracy"]:
            verdict = "improved the fit to the annotators without losing more than 1 point of held-out accuracy"
        elif row["improves_fit"]:
            verdict = "improved the fit to the annotators but cost more than 1 point of held-out accuracy"
        else:
            verdict = "did not improve the fit to the annotators (the JSD difference's CI reaches 0 or above)"
        parts = ", ".join(p for p in (jsd, acc, away) if p)
        lines.append(f"{condition_name(row)} ({int(row['n_seeds'])} seed(s)): {verdict}; {parts}.")
    lora = effects[effects["method"] == "lora"]
    met = lora[lora["meets_goal"]]
    if met.empty:
        measured = lora["val_jsd_relative"].dropna()  # runs without logits have no JSD
        best = lora.loc[measured.idxmin()] if len(measured) else None
        tail = (f" The largest LoRA reduction was {condition_name(best)} at {best['val_jsd_relative']:+.1%}."
                if best is not None else " No LoRA mitigation with a measured JSD was run.")
        lines.append("Goal (a LoRA mitigation lowering validation JSD by ≥ 10 % with ≤ 1 point of held-out accuracy "
                     f"lost): not reached.{tail}")
    else:
        names = "; ".join(f"{condition_name(r)} ({r['val_jsd_relative']:+.1%})" for r in met.to_dict("records"))
        lines.append(f"Goal (a LoRA mitigation lowering validation JSD by ≥ 10 % with ≤ 1 point of held-out accuracy "
                     f"lost): reached by {names}.")
    return lines
