"""The human-fit and learning-matched parts of ``contested analyze`` (called from :func:`analyze`).

From loaded runs to five tables (columns in ``docs/report.md``):

* ``human_fit``: ChaosNLI's scores (mean JSD, mean KL, accuracy vs the 100-vote majority and vs
  the old label) per run × split × checkpoint (:func:`contested.dynamics.summarise`, the function
  behind :func:`contested.dynamics.chaosnli_scores`);
* ``fit_items``: per run × item the initial / final / change of JSD, KL and prediction entropy
  (:func:`contested.dynamics.human_fit_items`), merged into ``item_metrics``;
* ``decomposition``: of the items whose loss rose, the share moving toward / away from their
  human distribution, per run × bin (:func:`contested.dynamics.unlearning_decomposition`);
* ``learning_curves``: the learning coordinate and the un-learning coordinates of every run at
  every checkpoint (:func:`contested.dynamics.matched.curve_table`);
* ``matched``: LoRA − full FT at matched learning for every LoRA run and each full-FT partner of
  the same model, data config, noise rate and seed (:func:`contested.dynamics.matched.compare_runs`).

The first three need the dynamics' ``logits`` (load runs with ``logits=True``); without them they
are empty. The last two need only the losses (``share_away`` needs logits and is left out without).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

import numpy as np
import pandas as pd

from contested.dynamics import human_fit_items, human_fit_table, summarise, unlearning_decomposition
from contested.dynamics.human_scores import SUMMARY_COLUMNS
from contested.dynamics.matched import (
    RunMatrices,
    compare_runs,
    curve_table,
    run_matrices,
)
from contested.errors import ContestedError
from contested.report.conditions import RUN_CONDITION_COLUMNS
from contested.report.runs import Run

#: Run columns copied onto every row of the human-fit and matched tables.
RUN_COLUMNS = RUN_CONDITION_COLUMNS
#: Per-item human-fit columns merged into ``item_metrics`` (snapshot rows): JSD in √nats, KL and
#: prediction entropy in nats, correctness vs the majority label (1/0), at the first and last
#: checkpoint and their change (last − first).
FIT_ITEM_COLUMNS = tuple(f"{part}_{q}" for q in ("jsd", "kl", "pred_entropy", "correct")
                         for part in ("initial", "final", "delta"))
#: Columns of ``human_fit`` (before the run columns).
HUMAN_FIT_COLUMNS = ("run_id", "split", "step", "progress", *SUMMARY_COLUMNS)
#: Columns of ``matched`` (one row per LoRA / full-FT pair × metric).
MATCHED_COLUMNS = ("run_id_lora", "run_id_full", "model", "dataset", "rank", "seed", "noise_rate", "mitigation",
                   "lr_lora", "lr_full", "metric", "n_items", "common_learning", "diff_at_max", "ci_low_at_max",
                   "ci_high_at_max", "diff_mean", "ci_low_mean", "ci_high_mean", "p_mean", "n_boot")
#: Most item resamples of a matched comparison (each costs a ranking per checkpoint for ``rho_loss``).
MATCHED_MAX_BOOT = 1000


@dataclasses.dataclass(frozen=True)
class HumanResults:
    """The human-fit and learning-matched tables of a set of runs (see the module docstring).

    Attributes
    ----------
    human_fit, fit_items, decomposition, learning_curves, matched
        The tables; empty frames where the runs do not allow them.
    has_logits
        Whether every run's dynamics carried logits (the human-fit tables need them).
    notes
        Plain sentences about what could not be computed and why (shown in the report).
    """

    human_fit: pd.DataFrame
    fit_items: pd.DataFrame
    decomposition: pd.DataFrame
    learning_curves: pd.DataFrame
    matched: pd.DataFrame
    has_logits: bool
    notes: tuple[str, ...] = ()


def has_logits(run: Run) -> bool:
    """Whether the run's dynamics were loaded with their ``logits`` column."""
    return "logits" in run.dynamics.columns


def _snapshots(run: Run) -> pd.DataFrame:
    dyn = run.dynamics
    return dyn.loc[dyn["measurement"] == "snapshot"]


def _with_runs(frame: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in RUN_COLUMNS if c in table.columns and c not in frame.columns]
    return frame.merge(table[["run_id", *cols]], on="run_id", how="left") if len(frame) else frame


def _concat(frames: Sequence[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(columns))


def _fit(run: Run, total_steps: object, table: pd.DataFrame,
         metrics: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One run's ChaosNLI scores per split × step, per-item fit and un-learning decomposition, from its
    :func:`~contested.dynamics.human_fit_table` (and its item metrics where the caller has them)."""
    snap = _snapshots(run)
    scores = summarise(table, by=["run_id", "split", "step"])
    total = pd.to_numeric(pd.Series([total_steps]), errors="coerce").iloc[0]
    scores.insert(3, "progress", scores["step"] / total if total and total > 0 else np.nan)
    fit_items = human_fit_items(snap, run.items, table=table)
    decomposition = unlearning_decomposition(snap, run.items, fit_items=fit_items, metrics=metrics)
    return scores, fit_items[["run_id", "item_id", *FIT_ITEM_COLUMNS]], decomposition


def _matrices(run: Run, fit_table: pd.DataFrame | None, notes: list[str]) -> dict[str, RunMatrices]:
    try:
        return run_matrices(_snapshots(run), run.items, fit_table=fit_table)
    except ContestedError as exc:  # e.g. no step-0 snapshot: nothing to measure learning from
        notes.append(f"run {run.run_id} left out of the learning curves: {exc}")
        return {}


def _partner_key(run: Run, row: dict) -> tuple:
    """What a LoRA run and its full-FT partner share: model, data config (so the tracked items and
    the noise), and seed."""
    data = json.dumps(run.config.get("data", {}), sort_keys=True, default=str)
    return (str(row.get("model")), str(row.get("dataset")), data, float(row.get("noise_rate") or 0.0),
            str(row.get("mitigation") or "none"), row.get("seed"))


def matched_pairs(runs: Sequence[Run], table: pd.DataFrame) -> list[tuple[Run, Run]]:
    """Every (LoRA run, full-FT run) pair with the same model, dataset, data config, noise rate and seed.

    A LoRA run with several full-FT partners (e.g. a learning-rate ladder) gives one pair each.
    Pairs come in the runs table's order.
    """
    rows = table.set_index("run_id").to_dict("index")
    by_id = {r.run_id: r for r in runs}
    ordered = [by_id[i] for i in table["run_id"] if i in by_id]
    full: dict[tuple, list[Run]] = {}
    for run in ordered:
        if rows[run.run_id].get("method") == "full":
            full.setdefault(_partner_key(run, rows[run.run_id]), []).append(run)
    return [(run, partner) for run in ordered if rows[run.run_id].get("method") == "lora"
            for partner in full.get(_partner_key(run, rows[run.run_id]), [])]


def _matched(runs: Sequence[Run], table: pd.DataFrame, matrices: dict[str, RunMatrices], *, n_boot: int,
             seed: int, notes: list[str]) -> pd.DataFrame:
    rows = table.set_index("run_id").to_dict("index")
    boot = min(n_boot, MATCHED_MAX_BOOT)
    frames = []
    for lora, full in matched_pairs(runs, table):
        a, b = matrices.get(lora.run_id), matrices.get(full.run_id)
        if a is None or b is None:
            continue
        if not np.array_equal(a.item_id, b.item_id):
            notes.append(f"LoRA run {lora.run_id} and full-FT run {full.run_id} track different items; not compared")
            continue
        res = compare_runs(a, b, n_boot=boot, seed=seed)
        if res.empty:
            notes.append(f"LoRA run {lora.run_id} and full-FT run {full.run_id} share no learning range "
                         "(the clean items' loss never fell in one of them); not compared")
            continue
        ra, rb = rows[lora.run_id], rows[full.run_id]
        frames.append(res.assign(
            run_id_lora=lora.run_id, run_id_full=full.run_id, model=ra.get("model"), dataset=ra.get("dataset"),
            rank=ra.get("rank"), seed=ra.get("seed"), noise_rate=ra.get("noise_rate"),
            mitigation=ra.get("mitigation"), lr_lora=ra.get("lr"),
            lr_full=rb.get("lr"), n_boot=boot))
    out = _concat(frames, MATCHED_COLUMNS)
    return out[list(MATCHED_COLUMNS)]


def human_results(runs: Sequence[Run], table: pd.DataFrame, *, n_boot: int, seed: int,
                  item_metrics: pd.DataFrame | None = None) -> HumanResults:
    """Every human-fit and learning-matched table of ``runs`` (see the module docstring).

    Each run's logits are decoded once (one :func:`~contested.dynamics.human_fit_table` per run,
    shared by its scores, per-item fit, decomposition and JSD curves).

    Parameters
    ----------
    runs
        Loaded runs; the human-fit tables use the runs that carry logits.
    table
        Their runs table (:func:`contested.report.runs.runs_table`).
    n_boot
        Bootstrap resamples; the matched comparisons use at most :data:`MATCHED_MAX_BOOT`.
    seed
        Seed of the item bootstrap.
    item_metrics
        Per-item metrics of the runs (:func:`contested.dynamics.item_metrics`, e.g. ``analyze``'s),
        reused by the decomposition instead of recomputed.
    """
    notes: list[str] = []
    steps = dict(zip(table["run_id"], table["total_steps"], strict=True)) if "total_steps" in table else {}
    with_logits = [r for r in runs if has_logits(r)]
    if len(with_logits) < len(runs):
        notes.append(f"{len(runs) - len(with_logits)} of {len(runs)} run(s) were loaded without logits, so their "
                     "fit to the annotators (JSD, KL) and its un-learning decomposition are not computed; "
                     "load them with logits")
    by_run = dict(tuple(item_metrics.groupby("run_id", sort=False))) if item_metrics is not None else {}
    parts, matrices = [], {}
    for run in runs:  # one run at a time: a run's fit table is large (items × checkpoints)
        fit_table = human_fit_table(_snapshots(run), run.items) if has_logits(run) else None
        if fit_table is not None:
            parts.append(_fit(run, steps.get(run.run_id), fit_table, by_run.get(run.run_id)))
        matrices.update(_matrices(run, fit_table, notes))
    curves_table = curve_table(matrices)
    return HumanResults(
        human_fit=_with_runs(_concat([p[0] for p in parts], HUMAN_FIT_COLUMNS), table),
        fit_items=_concat([p[1] for p in parts], ("run_id", "item_id", *FIT_ITEM_COLUMNS)),
        decomposition=_with_runs(_concat([p[2] for p in parts], ("run_id", "bin")), table),
        learning_curves=_with_runs(curves_table, table),
        matched=_matched(runs, table, matrices, n_boot=n_boot, seed=seed, notes=notes),
        has_logits=len(with_logits) == len(runs), notes=tuple(notes),
    )


def merge_fit_items(item_metrics: pd.DataFrame, fit_items: pd.DataFrame) -> pd.DataFrame:
    """Add :data:`FIT_ITEM_COLUMNS` to the snapshot rows of ``item_metrics`` (NaN on in-flight rows)."""
    if fit_items.empty:
        return item_metrics
    fit = fit_items.assign(measurement="snapshot")
    return item_metrics.merge(fit, on=["run_id", "item_id", "measurement"], how="left", validate="many_to_one")
