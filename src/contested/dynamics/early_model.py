"""The early-warning predictor: fitted on some runs, applied to others; a versioned JSON artefact.

A :class:`Predictor` is a standardisation (means and scales of the features) followed by an
L2-regularised logistic regression for P(un-learnt) (final Δℓ > 0) and a ridge regression for the
item's final AULC percentile rank. Fitting uses scikit-learn; applying it is plain numpy, so the
training callback needs neither sklearn nor pickle. Artefacts are JSON (no pickle: loading one
never runs code): format name, version, every predictor's window, feature list, coefficients and
training run ids, and a sha256 of the content that :func:`load_predictor` checks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.resources
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from contested.dynamics.early import (
    ALL_FEATURES,
    DYNAMIC_FEATURES,
    ENTROPY_FEATURE,
    as_run_parts,
    check_window,
    feature_table,
)
from contested.dynamics.trajectories import MEASUREMENTS
from contested.errors import ContestedError, located
from contested.io import write_text

FORMAT = "contested-early-warning"
#: 2: features comparable across class counts K (nats features / ln K, probabilities from chance 1/K).
VERSION = 2
#: The shipped default (fitted on the project's MiniLM-L6 ChaosNLI-SNLI runs; ``docs/early/make.sh``).
DEFAULT_FILE = "early_default.json"
#: Windows of the default predictor and of the leave-one-run-out evaluation (shares of training).
WINDOWS = (0.05, 0.1, 0.2, 0.4)


@dataclasses.dataclass(frozen=True)
class Predictor:
    """A fitted early-warning model for one window (see the module docstring).

    Attributes
    ----------
    window
        Share of training (0..1] its features read.
    features
        Feature names, in coefficient order.
    measurements
        Row kinds the window features used (``snapshot``, ``inflight``).
    mean, scale
        Standardisation: ``z = (x − mean) / scale``; a missing feature value is imputed as ``mean``.
    coef, intercept
        Logistic regression on ``z``: risk = 1 / (1 + exp(−(z·coef + intercept))).
    rank_coef, rank_intercept
        Ridge regression on ``z`` for the final AULC percentile rank (0..1).
    threshold
        Risk at or above which an item is "at risk" (by default the training cutoff of highest F1).
    training_runs
        Ids of the runs it was fitted on.
    n_items, base_rate
        Training items and their share un-learnt.
    C, alpha
        Inverse L2 strength of the logistic regression; L2 strength of the ridge.
    description
        Where it comes from (e.g. which runs it was fitted on).
    """

    window: float
    features: tuple[str, ...]
    measurements: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    rank_coef: tuple[float, ...]
    rank_intercept: float
    threshold: float = 0.5
    training_runs: tuple[str, ...] = ()
    n_items: int = 0
    base_rate: float = math.nan
    C: float = 1.0
    alpha: float = 1.0
    description: str = ""

    @property
    def uses_entropy(self) -> bool:
        """Whether annotation entropy is one of its features."""
        return ENTROPY_FEATURE in self.features

    def standardise(self, table: pd.DataFrame) -> np.ndarray:
        """``(n, F)`` standardised features of ``table`` (missing values → 0, the training mean)."""
        missing = [f for f in self.features if f not in table.columns]
        if missing:
            raise ContestedError(f"early warning: the feature table lacks {', '.join(missing)}")
        x = table[list(self.features)].to_numpy(dtype=float)
        z = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        return np.where(np.isfinite(z), z, 0.0)

    def score(self, table: pd.DataFrame) -> np.ndarray:
        """Log-odds of un-learning of each row of a feature table (``risk`` before the logistic).

        Ranks the rows as :meth:`risk` does, without the ties of a probability that saturates at
        0 or 1 in floating point (features far outside the training range, e.g. on other data).
        """
        return self.standardise(table) @ np.asarray(self.coef) + self.intercept

    def risk(self, table: pd.DataFrame) -> np.ndarray:
        """P(un-learnt) of each row of a feature table, in [0, 1]."""
        return 1.0 / (1.0 + np.exp(-self.score(table)))

    def rank(self, table: pd.DataFrame) -> np.ndarray:
        """Predicted final AULC percentile rank of each row (unclipped ridge output, ≈ 0..1)."""
        return self.standardise(table) @ np.asarray(self.rank_coef) + self.rank_intercept

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples → lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "predictor") -> Predictor:
        """Inverse of :meth:`to_dict`, with the consistency checks of a loaded artefact."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise ContestedError(f"{where}: unknown key(s) {', '.join(unknown)}")
        try:
            kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
            pred = cls(**kwargs)
        except TypeError as exc:
            raise ContestedError(f"{where}: {exc}") from None
        bad = [f for f in pred.features if f not in ALL_FEATURES]
        n = len(pred.features)
        if bad or not n or any(len(v) != n for v in (pred.mean, pred.scale, pred.coef, pred.rank_coef)):
            raise ContestedError(f"{where}: inconsistent predictor (features {', '.join(pred.features)}; "
                                 f"known: {', '.join(ALL_FEATURES)}); refit it with `contested early fit`")
        check_window(pred.window)
        return pred


# ---------------------------------------------------------------------------------------------
# Fitting


def _tables(runs: Sequence[Any], *, window: float, measurements: Sequence[str],
            targets: Sequence[pd.DataFrame] | None = None) -> list[pd.DataFrame]:
    """Each run's feature table with its targets (``targets``: the runs' :func:`early_targets`, if known)."""
    if not runs:
        raise ContestedError("early warning: no runs to fit on")
    if targets is None:
        return [feature_table(run, window=window, measurements=measurements) for run in runs]
    return [feature_table(run, window=window, measurements=measurements, targets=t)
            for run, t in zip(runs, targets, strict=True)]


def _fit_table(table: pd.DataFrame, *, window: float, features: Sequence[str], measurements: Sequence[str],
               C: float, alpha: float, threshold: float | None, description: str) -> Predictor:
    """Fit on one concatenated feature + target table (the only place models are fitted)."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    features = list(features)
    x = table[features].to_numpy(dtype=float)
    empty = [f for f, ok in zip(features, np.isfinite(x).any(axis=0), strict=True) if not ok]
    if empty:
        hint = " (the item tables have no annotation entropy)" if ENTROPY_FEATURE in empty else ""
        raise ContestedError(f"early warning: feature {', '.join(empty)} is missing for every item{hint}")
    y = table["unlearned"].to_numpy(dtype=bool)
    if y.all() or not y.any():
        raise ContestedError(f"early warning: the training runs have {'only' if y.any() else 'no'} un-learnt "
                             "items (final Δℓ > 0); fit on runs where some items un-learn and some do not")
    fill = np.nanmean(x, axis=0)
    x = np.where(np.isfinite(x), x, fill)
    model = Pipeline([("scale", StandardScaler()), ("logistic", LogisticRegression(C=C, max_iter=2000))])
    model.fit(x, y)
    scaler, logistic = model.named_steps["scale"], model.named_steps["logistic"]
    ridge = Ridge(alpha=alpha).fit(scaler.transform(x), table["aulc_rank"].to_numpy(dtype=float))
    if threshold is None:
        threshold = _best_threshold(y, model.predict_proba(x)[:, 1])
    return Predictor(
        window=float(window), features=tuple(features), measurements=tuple(measurements),
        mean=tuple(map(float, scaler.mean_)), scale=tuple(map(float, scaler.scale_)),
        coef=tuple(map(float, logistic.coef_[0])), intercept=float(logistic.intercept_[0]),
        rank_coef=tuple(map(float, ridge.coef_)), rank_intercept=float(ridge.intercept_),
        threshold=float(threshold), training_runs=tuple(sorted(table["run_id"].astype(str).unique())),
        n_items=len(table), base_rate=float(y.mean()), C=float(C), alpha=float(alpha), description=description,
    )


def _best_threshold(y: np.ndarray, risk: np.ndarray) -> float:
    """The training risk cutoff with the highest F1 (un-learnt vs not), kept inside (0, 1)."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, cut = precision_recall_curve(y, risk)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.nan_to_num(2 * precision[:-1] * recall[:-1] / (precision[:-1] + recall[:-1]))
    return float(np.clip(cut[int(np.argmax(f1))], 1e-6, 1 - 1e-6))


def _features(use_entropy: bool, features: Sequence[str] | None) -> tuple[str, ...]:
    if features is None:
        return (*DYNAMIC_FEATURES, ENTROPY_FEATURE) if use_entropy else DYNAMIC_FEATURES
    bad = [f for f in features if f not in ALL_FEATURES]
    if bad or not features:
        raise ContestedError(f"early warning: unknown feature(s) {', '.join(bad) or '(none)'}; "
                             f"use some of {', '.join(ALL_FEATURES)}")
    return tuple(features)


def fit_predictor(runs: Sequence[Any], *, window: float = 0.2, use_entropy: bool = False,
                  features: Sequence[str] | None = None, measurements: Sequence[str] = MEASUREMENTS,
                  split: str | None = "tracked", C: float = 1.0, alpha: float = 1.0,
                  threshold: float | None = None, description: str = "") -> Predictor:
    """Fit the early-warning predictor on finished runs.

    Parameters
    ----------
    runs
        Finished runs (:class:`~contested.dynamics.early.RunData` or loaded
        :class:`contested.report.runs.Run`, with logits).
    window
        Share of training the features read, in (0, 1].
    use_entropy
        Add annotation entropy (nats / ln K) to the dynamics features (needs it in the item tables).
    features
        Explicit feature list (overrides ``use_entropy``; e.g. one feature for a baseline).
    measurements
        Row kinds the window features use.
    split
        Fit on the items of this split (``tracked``: the trained-on items); None for all.
    C, alpha
        Inverse L2 strength of the logistic regression; L2 strength of the AULC-rank ridge.
    threshold
        Risk at or above which an item is reported at risk, in (0, 1); None: the cutoff with the
        highest F1 on the training items.
    description
        Stored in the artefact.

    Returns
    -------
    Predictor
    """
    window = check_window(window)
    if threshold is not None and not 0 < threshold < 1:
        raise ContestedError(f"early warning: threshold must lie in (0, 1), got {threshold:g}")
    table = pd.concat(_tables(runs, window=window, measurements=measurements), ignore_index=True)
    if split is not None:
        table = table[table["split"] == split]
    return _fit_table(table, window=window, features=_features(use_entropy, features), measurements=measurements,
                      C=C, alpha=alpha, threshold=threshold, description=description)


def predict_risk(run: Any, predictor: Predictor, *, threshold: float | None = None) -> pd.DataFrame:
    """Apply a predictor to one run (or a dynamics table) using only its first ``predictor.window``.

    Parameters
    ----------
    run
        A run (with ``dynamics`` and ``items``) or a dynamics table, with logits.
    predictor
        The fitted predictor.
    threshold
        Risk cutoff of ``at_risk``; None: the predictor's own.

    Returns
    -------
    pandas.DataFrame
        ``run_id, item_id, split, risk`` (P(un-learnt), 0..1), ``at_risk`` (risk ≥ threshold),
        ``aulc_rank_pred`` (predicted final AULC percentile rank), ``n_classes`` and the features
        (nats features divided by ln K); sorted by risk, highest first.
    """
    _, items = as_run_parts(run)
    if predictor.uses_entropy and (items is None or "entropy" not in items.columns):
        raise ContestedError("early warning: this predictor uses annotation entropy, but the run's items have "
                             "none; use a predictor fitted without entropy")
    table = feature_table(run, window=predictor.window, measurements=predictor.measurements, targets=False)
    if predictor.uses_entropy and table[ENTROPY_FEATURE].isna().all():
        raise ContestedError("early warning: this predictor uses annotation entropy, but no item has one")
    risk = predictor.risk(table)
    out = table[["run_id", "item_id", "split"]].copy()
    out["risk"] = risk
    out["at_risk"] = risk >= (predictor.threshold if threshold is None else threshold)
    out["aulc_rank_pred"] = predictor.rank(table)
    out = pd.concat([out, table[[c for c in ("n_classes", *ALL_FEATURES) if c in table.columns]]], axis=1)
    return out.sort_values(["risk", "item_id"], ascending=[False, True], kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# The artefact


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def predictor_document(predictors: Sequence[Predictor], *, description: str = "") -> dict[str, Any]:
    """The artefact's JSON document: format, version, the predictors and their sha256."""
    if not predictors:
        raise ContestedError("early warning: nothing to save (no predictors)")
    windows = [p.window for p in predictors]
    if len(set(windows)) != len(windows):
        raise ContestedError("early warning: one predictor per window in a file")
    import sklearn

    from contested import __version__

    body = {"format": FORMAT, "version": VERSION, "description": description,
            "created_with": {"contested": __version__, "scikit-learn": sklearn.__version__},
            "predictors": [_finite(p.to_dict()) for p in sorted(predictors, key=lambda p: p.window)]}
    return {**body, "sha256": hashlib.sha256(_canonical(body)).hexdigest()}


def _finite(d: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN: a NaN base rate is stored as null."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def save_predictor(path: str | os.PathLike, *predictors: Predictor, description: str = "") -> Path:
    """Write one or more predictors (one per window) to a JSON artefact, atomically."""
    doc = predictor_document(predictors, description=description)
    return write_text(path, json.dumps(doc, indent=1, sort_keys=True) + "\n")


def load_predictors(path: str | os.PathLike | None = None) -> list[Predictor]:
    """Every predictor of an artefact, checksum verified; ``None`` reads the shipped default.

    Raises
    ------
    ContestedError
        Missing or unreadable file, not an early-warning artefact, an unknown version, or a
        sha256 that does not match the content (edited or damaged).
    """
    where: Any = path if path is not None else f"contested/dynamics/{DEFAULT_FILE}"
    try:
        if path is None:
            text = importlib.resources.files("contested.dynamics").joinpath(DEFAULT_FILE).read_text("utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise located(where, "does not exist; fit a predictor with `contested early fit RUN... --out FILE`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise located(where, f"cannot read it ({type(exc).__name__})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise located(where, f"not valid JSON ({exc.msg})", line=exc.lineno) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise located(where, f"not an early-warning predictor (format '{FORMAT}'); "
                             "fit one with `contested early fit`")
    if doc.get("version") != VERSION:
        raise located(where, f"predictor format version {doc.get('version')!r} is not supported (this "
                             f"contested reads version {VERSION}); refit it with `contested early fit`")
    body = {k: v for k, v in doc.items() if k != "sha256"}
    if hashlib.sha256(_canonical(body)).hexdigest() != doc.get("sha256"):
        raise located(where, "sha256 does not match the content (edited or damaged); refit it with "
                             "`contested early fit`")
    preds = doc.get("predictors")
    if not isinstance(preds, list) or not preds:
        raise located(where, "holds no predictors")
    out = []
    for i, p in enumerate(preds):
        p = dict(p)
        p["base_rate"] = math.nan if p.get("base_rate") is None else p["base_rate"]
        out.append(Predictor.from_dict(p, where=f"{where}: predictor {i + 1}"))
    return out


def load_predictor(path: str | os.PathLike | None = None, *, window: float | None = None) -> Predictor:
    """The predictor of an artefact for ``window`` (None: its only one); ``path=None``: the default.

    Raises
    ------
    ContestedError
        As :func:`load_predictors`, or no predictor for ``window`` (the message lists those present).
    """
    preds = load_predictors(path)
    where = path if path is not None else f"the default predictor ({DEFAULT_FILE})"
    if window is None:
        if len(preds) > 1:
            raise located(where, f"holds predictors for windows {', '.join(f'{p.window:g}' for p in preds)}; "
                                 "choose one (window=…, --early-window)")
        return preds[0]
    window = check_window(window)
    for p in preds:
        if abs(p.window - window) < 1e-9:
            return p
    raise located(where, f"has no predictor for window {window:g} (it has "
                         f"{', '.join(f'{p.window:g}' for p in preds)}); use one of those or refit with "
                         f"`contested early fit RUN... --window {window:g}`")


def default_predictor(window: float = 0.2) -> Predictor:
    """The shipped default for ``window`` (0.05, 0.1, 0.2 or 0.4), without annotation entropy.

    Fitted on the project's finished MiniLM-L6 runs on ChaosNLI-SNLI trained on majority labels
    (``docs/early/make.sh``; their ids are its ``training_runs``, its evaluation is in
    ``docs/early/``). Other models, data or schedules may un-learn differently: refit it on your
    own finished runs (:func:`fit_predictor`, ``contested early fit``).
    """
    return load_predictor(None, window=window)


__all__ = ["DEFAULT_FILE", "FORMAT", "VERSION", "WINDOWS", "Predictor", "default_predictor", "fit_predictor",
           "load_predictor", "load_predictors", "predict_risk", "predictor_document", "save_predictor"]
