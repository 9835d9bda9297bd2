"""The per-run statistics table (docs/ARCHITECTURE.md, "Per-run statistics")."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from contested.errors import ContestedError
from contested.stats.bootstrap import DEFAULT_CHUNK, bootstrap_spearman, percentile_ci
from contested.stats.correlation import (
    _pairs,
    kendall_tau,
    partial_spearman,
    require,
    spearman_ci,
)
from contested.stats.summaries import BINS, incremental_r2, unlearning_summary

#: Default covariates of the partial Spearman: whitespace token counts of the texts.
DEFAULT_COVARIATES = ("premise_len", "hypothesis_len", "total_len")
#: Base predictors of the hierarchical regression (entropy is added on top of them).
R2_BASE = ("confidence", "variability")
#: The run columns carried into every per-run row: its condition and its seed. One definition for every
#: layer (the report's tables, figures and seed aggregates use it), so runs that differ in any of these are
#: never pooled as if they were seeds of one condition; the names are those of
#: :func:`contested.rundir.conditions`.
RUN_CONDITION_COLUMNS = ("model", "method", "rank", "dataset", "seed", "noise_rate", "mitigation", "lr")
#: What defines a condition: everything about a run but its seed (seeds are replicates of a condition).
CONDITION_COLUMNS = tuple(c for c in RUN_CONDITION_COLUMNS if c != "seed")
#: Per-run statistics columns, in contract order; ``measurement`` and ``n_boot`` follow them.
RUN_STAT_COLUMNS = (
    "run_id",
    "metric",
    "n",
    "rho",
    "p_value",
    "ci_low",
    "ci_high",
    "kendall_tau",
    "kendall_p",
    "partial_rho",
    "partial_p",
    "partial_df",
    "r2_base",
    "r2_full",
    "delta_r2",
    "f_stat",
    "f_p",
    *(f"mean_delta_{b}" for b in BINS),
    *(f"share_unlearned_{b}" for b in BINS),
)


def run_statistics(
    item_metrics_df: pd.DataFrame,
    *,
    metric: str | Sequence[str] = "aulc",
    covariates: Sequence[str] = DEFAULT_COVARIATES,
    n_boot: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
    conditions: pd.DataFrame | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> pd.DataFrame:
    """Per-run statistics of annotation entropy against a dynamics metric.

    For each run (and measurement kind, when the table holds both) and each metric: Spearman
    ρ(entropy, metric) with p-value and percentile bootstrap CI; Kendall τ-b; partial Spearman
    controlling ``covariates`` (df = n − k − 2); incremental R² of entropy over cartography
    confidence + variability (F-test); and the un-learning summary per entropy bin.

    Parameters
    ----------
    item_metrics_df
        Per-item metrics (:func:`contested.dynamics.item_metrics`) of one or many runs.
    metric
        Metric column(s), e.g. ``"aulc"``, ``"aulc_trapz"``, ``"delta_loss"``.
    covariates
        Columns regressed out in the partial Spearman; ``"initial_loss"`` is also allowed.
    n_boot
        Bootstrap resamples of the CI (0 skips it).
    seed
        Seed of the bootstrap indices (the same for every run, so equal inputs give equal CIs).
    confidence
        Coverage of the bootstrap interval.
    conditions
        Optional table ``run_id`` + :data:`RUN_CONDITION_COLUMNS`; otherwise those columns are
        taken from ``item_metrics_df`` when present, else left missing.
    chunk
        Resamples per vectorised pass.

    Returns
    -------
    pandas.DataFrame
        One row per run × measurement × metric: :data:`RUN_STAT_COLUMNS`, then ``measurement``,
        ``n_boot``, then :data:`RUN_CONDITION_COLUMNS`. ρ and τ are unitless; Δℓ means in nats.
    """
    metrics = [metric] if isinstance(metric, str) else list(metric)
    covariates = list(covariates)
    require(
        item_metrics_df,
        ["run_id", "entropy", *metrics, *covariates, *R2_BASE],
        where="per-item metrics",
    )
    if item_metrics_df["entropy"].isna().all():
        raise ContestedError(
            "per-item metrics: 'entropy' is empty; pass the item table to item_metrics(dynamics, items)"
        )
    keys = ["run_id"] + (["measurement"] if "measurement" in item_metrics_df.columns else [])
    unlearn = unlearning_summary(item_metrics_df, by=keys).set_index(keys)
    rows = []
    to_boot: list[tuple[int, np.ndarray, np.ndarray]] = []  # (row, x, y) of each bootstrap CI
    for key, grp in item_metrics_df.groupby(keys, sort=True, dropna=False):
        key = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        # A fixed item order makes the bootstrap CI independent of the input's row order.
        if "item_id" in grp.columns:
            grp = grp.sort_values("item_id", kind="stable")
        x = grp["entropy"].to_numpy(dtype=float)
        for name in metrics:
            y = grp[name].to_numpy(dtype=float)
            sp = spearman_ci(x, y, n_boot=0)  # the CI is bootstrapped below, for all runs at once
            if n_boot and sp.n >= 3:
                to_boot.append((len(rows), *_pairs(x, y)))
            tau, tau_p = kendall_tau(x, y)
            part = partial_spearman(x, y, grp[covariates].to_numpy(dtype=float))
            r2 = incremental_r2(y, grp[list(R2_BASE)].to_numpy(dtype=float), x)
            row = {
                **key,
                "metric": name,
                "n": sp.n,
                "rho": sp.rho,
                "p_value": sp.p_value,
                "ci_low": sp.ci_low,
                "ci_high": sp.ci_high,
                "kendall_tau": tau,
                "kendall_p": tau_p,
                "partial_rho": part.rho,
                "partial_p": part.p_value,
                "partial_df": part.df,
                "r2_base": r2.r2_base,
                "r2_full": r2.r2_full,
                "delta_r2": r2.delta_r2,
                "f_stat": r2.f_stat,
                "f_p": r2.f_p,
                **unlearn.loc[tuple(key.values()) if len(keys) > 1 else key["run_id"]].to_dict(),
                "n_boot": n_boot,
            }
            rows.append(row)
    _bootstrap_cis(rows, to_boot, n_boot=n_boot, seed=seed, confidence=confidence, chunk=chunk)
    out = pd.DataFrame(rows)
    out = _attach_conditions(out, item_metrics_df, conditions)
    extra = ["measurement"] if "measurement" in out.columns else []
    return out[[*RUN_STAT_COLUMNS, *extra, "n_boot", *RUN_CONDITION_COLUMNS]]


def _bootstrap_cis(
    rows: list[dict], to_boot: list[tuple[int, np.ndarray, np.ndarray]], *, n_boot: int,
    seed: int, confidence: float, chunk: int,
) -> None:
    """Fill ``ci_low``/``ci_high`` of ``rows`` in place, one bootstrap call per distinct x.

    The runs of a sweep share their items (same entropies, same order after sorting by
    ``item_id``), so their resample indices, counts and x-ranks are computed once and only the
    y-side is per run. Every row gets exactly the CI :func:`spearman_ci` would give it alone
    (same seed, same indices; tested).
    """
    groups: dict[bytes, list[tuple[int, np.ndarray]]] = {}
    xs: dict[bytes, np.ndarray] = {}
    for i, x, y in to_boot:
        key = x.tobytes()
        xs.setdefault(key, x)
        groups.setdefault(key, []).append((i, y))
    for key, members in groups.items():
        dist = bootstrap_spearman(xs[key], np.stack([y for _, y in members]), n_boot=n_boot,
                                  seed=seed, chunk=chunk)
        for (i, _), row_dist in zip(members, dist, strict=True):
            rows[i]["ci_low"], rows[i]["ci_high"] = percentile_ci(row_dist, confidence=confidence)


def _attach_conditions(
    out: pd.DataFrame, metrics: pd.DataFrame, conditions: pd.DataFrame | None
) -> pd.DataFrame:
    if conditions is not None:
        require(conditions, ["run_id"], where="conditions table")
        cols = [c for c in RUN_CONDITION_COLUMNS if c in conditions.columns]
        out = out.merge(
            conditions[["run_id", *cols]].drop_duplicates("run_id"), on="run_id", how="left"
        )
    else:
        cols = [c for c in RUN_CONDITION_COLUMNS if c in metrics.columns]
        if cols:
            first = metrics.groupby("run_id", sort=False)[cols].first().reset_index()
            out = out.merge(first, on="run_id", how="left")
    for col in RUN_CONDITION_COLUMNS:
        if col not in out.columns:
            out[col] = pd.NA
    return out
