"""Leave-one-run-out evaluation of the early warning: AUROC and average precision vs window.

For each window and each run, the predictor and three single-feature baselines are fitted on the
other runs only (through :func:`contested.dynamics.early_model._fit_table`, the one place models
are fitted) and scored on the held-out run (``docs/early_warning.md``, "Evaluation protocol").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from contested.dynamics import early_model as _model
from contested.dynamics.early import ENTROPY_FEATURE, check_window
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


def evaluate_loro(runs: Sequence[Any], windows: Sequence[float] = WINDOWS, *, use_entropy: bool = False,
                  measurements: Sequence[str] = MEASUREMENTS, split: str | None = "tracked",
                  C: float = 1.0, alpha: float = 1.0) -> pd.DataFrame:
    """Leave-one-run-out AUROC and average precision of the predictor and three baselines.

    For each window and each run, the predictor and every single-feature baseline (annotation
    entropy, step-0 loss, window loss slope; each a one-feature logistic regression, so its sign
    is learnt) are fitted on the OTHER runs and scored on the held-out run's un-learnt items.

    Returns
    -------
    pandas.DataFrame
        One row per window × held-out run × model (``predictor``, ``entropy``, ``loss0``,
        ``slope``): ``window, held_out, model, n_items, n_unlearned, auroc, average_precision,
        spearman_aulc`` (predictor only: Spearman of predicted vs final AULC rank),
        ``trained_on`` (comma-joined run ids). AUROC is NaN when the held-out run has one class
        only; the entropy baseline is NaN without entropies.
    """
    from scipy.stats import spearmanr

    if len(runs) < 2:
        raise ContestedError("early warning: leave-one-run-out needs at least two runs")
    rows = []
    for window in map(check_window, windows):
        tables = _model._tables(runs, window=window, measurements=measurements)
        if split is not None:
            tables = [t[t["split"] == split] for t in tables]
        has_entropy = all(t[ENTROPY_FEATURE].notna().any() for t in tables)
        models = {"predictor": _model._features(use_entropy, None), **{k: (f,) for k, f in BASELINES.items()}}
        for i, held in enumerate(tables):
            train = pd.concat([t for j, t in enumerate(tables) if j != i], ignore_index=True)
            y = held["unlearned"].to_numpy(dtype=bool)
            for name, feats in models.items():
                row = {"window": window, "held_out": str(held["run_id"].iloc[0]), "model": name,
                       "n_items": len(held), "n_unlearned": int(y.sum()), "auroc": math.nan,
                       "average_precision": math.nan, "spearman_aulc": math.nan,
                       "trained_on": ",".join(sorted(train["run_id"].astype(str).unique()))}
                if ENTROPY_FEATURE in feats and not has_entropy:
                    rows.append(row)
                    continue
                pred = _model._fit_table(train, window=window, features=feats, measurements=measurements, C=C,
                                  alpha=alpha, threshold=0.5, description="leave-one-run-out")
                row["auroc"], row["average_precision"] = _scores(y, pred.risk(held))
                if name == "predictor":
                    row["spearman_aulc"] = float(spearmanr(pred.rank(held), held["aulc_rank"]).statistic)
                rows.append(row)
    return pd.DataFrame(rows)


def summarise_loro(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and std (ddof 1) over held-out runs of AUROC and AP, per window × model."""
    grouped = results.groupby(["window", "model"], sort=True)
    out = grouped.agg(n_runs=("auroc", "count"), auroc_mean=("auroc", "mean"), auroc_std=("auroc", "std"),
                      ap_mean=("average_precision", "mean"), ap_std=("average_precision", "std"),
                      base_rate=("n_unlearned", "sum"), n_items=("n_items", "sum")).reset_index()
    out["base_rate"] = out["base_rate"] / out["n_items"]
    return out.drop(columns="n_items")


__all__ = ["BASELINES", "evaluate_loro", "summarise_loro"]
