"""Leave-one-run-out evaluation of the early warning: AUROC and average precision vs window.

For each window and each run, the predictor and three single-feature baselines are fitted on the
other runs only (through :func:`contested.dynamics.early_model._fit_table`, the one place models
are fitted) and scored on the held-out run (``docs/early_warning.md``, "Evaluation protocol").
:func:`evaluate_transfer` fits the same models on one set of runs and scores them on others (e.g.
fitted on ChaosNLI-SNLI runs, applied to a run on another data set).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from contested.dynamics import early_model as _model
from contested.dynamics.early import ENTROPY_FEATURE, as_run_parts, check_window, early_targets
from contested.dynamics.early_model import WINDOWS
from contested.dynamics.trajectories import MEASUREMENTS
from contested.errors import ContestedError

#: The single-feature baselines: name → feature.
BASELINES = {"entropy": ENTROPY_FEATURE, "loss0": "loss0", "slope": "slope"}


def _scores(y: np.ndarray, risk: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    if y.all() or not y.any():
        return math.nan, math.nan
    return float(roc_auc_score(y, risk)), float(average_precision_score(y, risk))


def _window_tables(runs: Sequence[Any], windows: Sequence[float], *, measurements: Sequence[str],
                   split: str | None) -> Iterator[tuple[float, list[pd.DataFrame]]]:
    """Per window, each run's feature + target table; the targets are computed once per run."""
    targets = [early_targets(as_run_parts(run)[0]) for run in runs]
    for window in map(check_window, windows):
        tables = _model._tables(runs, window=window, measurements=measurements, targets=targets)
        if split is not None:
            tables = [t[t["split"] == split] for t in tables]
        yield window, tables


def _score_models(train: pd.DataFrame, held: pd.DataFrame, *, window: float, use_entropy: bool,
                  has_entropy: bool, measurements: Sequence[str], C: float, alpha: float) -> list[dict[str, Any]]:
    """Fit the predictor and every baseline on ``train``; AUROC / AP / Spearman on ``held`` (one run)."""
    from scipy.stats import spearmanr

    models = {"predictor": _model._features(use_entropy, None), **{k: (f,) for k, f in BASELINES.items()}}
    y = held["unlearned"].to_numpy(dtype=bool)
    rows = []
    for name, feats in models.items():
        row = {"window": window, "held_out": str(held["run_id"].iloc[0]), "model": name,
               "n_items": len(held), "n_unlearned": int(y.sum()), "auroc": math.nan,
               "average_precision": math.nan, "spearman_aulc": math.nan,
               "trained_on": ",".join(sorted(train["run_id"].astype(str).unique()))}
        if ENTROPY_FEATURE in feats and not has_entropy:
            rows.append(row)
            continue
        pred = _model._fit_table(train, window=window, features=feats, measurements=measurements, C=C,
                                 alpha=alpha, threshold=0.5, description="early-warning evaluation")
        row["auroc"], row["average_precision"] = _scores(y, pred.score(held))  # log-odds: no saturated ties
        if name == "predictor":
            row["spearman_aulc"] = float(spearmanr(pred.rank(held), held["aulc_rank"]).statistic)
        rows.append(row)
    return rows


def _has_entropy(tables: Sequence[pd.DataFrame]) -> bool:
    return all(t[ENTROPY_FEATURE].notna().any() for t in tables)


def evaluate_loro(runs: Sequence[Any], windows: Sequence[float] = WINDOWS, *, use_entropy: bool = False,
                  measurements: Sequence[str] = MEASUREMENTS, split: str | None = "tracked",
                  C: float = 1.0, alpha: float = 1.0) -> pd.DataFrame:
    """Leave-one-run-out AUROC and average precision of the predictor and three baselines.

    For each window and each run, the predictor and every single-feature baseline (annotation
    entropy, step-0 loss, window loss slope; each a one-feature logistic regression, so its sign
    is learnt) are fitted on the OTHER runs and scored on the held-out run's un-learnt items. The
    scores rank the items by each model's log-odds (:meth:`Predictor.score`), the same order as its
    risk but without the ties of a probability saturated at 0 or 1.

    Returns
    -------
    pandas.DataFrame
        One row per window × held-out run × model (``predictor``, ``entropy``, ``loss0``,
        ``slope``): ``window, held_out, model, n_items, n_unlearned, auroc, average_precision,
        spearman_aulc`` (predictor only: Spearman of predicted vs final AULC rank),
        ``trained_on`` (comma-joined run ids). AUROC is NaN when the held-out run has one class
        only; the entropy baseline is NaN without entropies.
    """
    if len(runs) < 2:
        raise ContestedError("early warning: leave-one-run-out needs at least two runs")
    rows = []
    for window, tables in _window_tables(runs, windows, measurements=measurements, split=split):
        has_entropy = _has_entropy(tables)
        for i, held in enumerate(tables):
            train = pd.concat([t for j, t in enumerate(tables) if j != i], ignore_index=True)
            rows += _score_models(train, held, window=window, use_entropy=use_entropy, has_entropy=has_entropy,
                                  measurements=measurements, C=C, alpha=alpha)
    return pd.DataFrame(rows)


def evaluate_transfer(train_runs: Sequence[Any], test_runs: Sequence[Any], windows: Sequence[float] = WINDOWS, *,
                      use_entropy: bool = False, measurements: Sequence[str] = MEASUREMENTS,
                      split: str | None = "tracked", C: float = 1.0, alpha: float = 1.0) -> pd.DataFrame:
    """Fit on ``train_runs`` (all of them), score on each of ``test_runs``: the transfer test.

    The same models, scores and columns as :func:`evaluate_loro` (``held_out``: the test run),
    e.g. fitted on ChaosNLI-SNLI runs and applied to a run on other data. The entropy baseline
    is fitted on the training runs' annotation entropies and applied to the test run's own.
    """
    ids = {str(t) for t in (getattr(r, "run_id", None) for r in train_runs) if t is not None}
    clash = sorted(ids & {str(getattr(r, "run_id", None)) for r in test_runs})
    if clash:
        raise ContestedError(f"early warning: run {clash[0]} is both a training and a test run")
    if not test_runs:
        raise ContestedError("early warning: no test runs to score")
    runs = [*train_runs, *test_runs]
    rows = []
    for window, tables in _window_tables(runs, windows, measurements=measurements, split=split):
        train_tables, test_tables = tables[: len(train_runs)], tables[len(train_runs):]
        train = pd.concat(train_tables, ignore_index=True)
        for held in test_tables:
            rows += _score_models(train, held, window=window, use_entropy=use_entropy,
                                  has_entropy=_has_entropy([*train_tables, held]), measurements=measurements,
                                  C=C, alpha=alpha)
    return pd.DataFrame(rows)


def summarise_loro(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and std (ddof 1) over held-out runs of AUROC and AP, per window × model."""
    grouped = results.groupby(["window", "model"], sort=True)
    out = grouped.agg(n_runs=("auroc", "count"), auroc_mean=("auroc", "mean"), auroc_std=("auroc", "std"),
                      ap_mean=("average_precision", "mean"), ap_std=("average_precision", "std"),
                      base_rate=("n_unlearned", "sum"), n_items=("n_items", "sum")).reset_index()
    out["base_rate"] = out["base_rate"] / out["n_items"]
    return out.drop(columns="n_items")


__all__ = ["BASELINES", "evaluate_loro", "evaluate_transfer", "summarise_loro"]
