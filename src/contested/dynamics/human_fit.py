"""A run's fit to the annotators over training: dynamics and item tables in, per-checkpoint tables out (no torch).

Every score comes from :func:`contested.dynamics.human_scores.item_scores` (ChaosNLI's JSD and KL,
LeWiDi 2023's cross-entropy; definitions there) and :func:`~contested.dynamics.human_scores.summarise`:
:func:`human_fit_table` scores each item at each checkpoint from the logits of the recorded
snapshots, :func:`human_fit_items` compares an item's first and last checkpoint,
:func:`unlearning_decomposition` asks which un-learned items moved toward or away from their human
distribution, and :func:`chaosnli_scores` averages per checkpoint as ChaosNLI reports it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from contested.dynamics.human_scores import item_scores, softmax, summarise
from contested.errors import ContestedError

_QUANTITIES = ("jsd", "kl", "pred_entropy", "correct")


def logits_matrix(values: pd.Series | Sequence) -> np.ndarray:
    """A column of equal-length logit lists (Arrow list or object) as a float64 ``(n, K)`` array."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(values) if not isinstance(values, pa.Array | pa.ChunkedArray) else values
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type) or pa.types.is_fixed_size_list(arr.type)):
        raise ContestedError(f"dynamics table: field 'logits' must hold lists of K numbers, got {arr.type}")
    if len(arr) == 0:
        return np.zeros((0, 0))
    if arr.null_count:
        raise ContestedError(f"dynamics table: field 'logits' is missing in {arr.null_count} row(s); re-record the run")
    lengths = np.unique(pc.list_value_length(arr).to_numpy(zero_copy_only=False))
    if len(lengths) != 1:
        raise ContestedError(f"dynamics table: field 'logits' has rows of lengths {lengths.tolist()}; all need K entries")
    flat = arr.flatten().to_numpy(zero_copy_only=False).astype(np.float64)
    return flat.reshape(len(arr), int(lengths[0]))


def human_fit_table(dynamics: pd.DataFrame, items: pd.DataFrame, *, measurement: str = "snapshot") -> pd.DataFrame:
    """Per item × checkpoint: distance of the model's distribution from the human one.

    Parameters
    ----------
    dynamics
        Long-form dynamics table (docs/ARCHITECTURE.md) with its ``logits`` column (load runs with
        ``logits=True``); one or many runs.
    items
        Item table with ``item_id``, ``label_dist`` and ``majority_label`` (``bin``, ``entropy``,
        ``old_label`` used when present). With a ``run_id`` column it is joined per run.
    measurement
        ``"snapshot"`` (eval mode, default) or ``"inflight"``.

    Returns
    -------
    pandas.DataFrame
        One row per run × item × checkpoint, sorted by run, item, step: ``run_id, item_id, split,
        step, progress, bin, entropy`` (nats) ``, majority_label, old_label``, then
        :data:`~contested.dynamics.human_scores.SCORE_COLUMNS` (see
        :func:`~contested.dynamics.human_scores.item_scores`).

    Raises
    ------
    ContestedError
        Missing columns (``logits`` included), logits of a length other than the items' K, or
        dynamics items the item table lacks.
    """
    need = ("run_id", "item_id", "step", "measurement", "logits")
    missing = [c for c in need if c not in dynamics.columns]
    if missing:
        raise ContestedError(f"dynamics table: missing column(s) {', '.join(missing)}; load the run with "
                             "logits=True (docs/ARCHITECTURE.md, 'Dynamics table')")
    dyn = dynamics.loc[dynamics["measurement"] == measurement]
    if dyn.empty:
        raise ContestedError(f"dynamics table: no '{measurement}' rows; use measurement='snapshot' or 'inflight'")
    keep = [c for c in ("run_id", "item_id", "split", "step", "progress") if c in dyn.columns]
    frame = _join(dyn[keep].reset_index(drop=True), items)
    p_h = np.stack(frame["label_dist"].map(lambda v: np.asarray(v, dtype=np.float64)).to_numpy())
    probs = softmax(logits_matrix(dyn["logits"]))
    if probs.shape[1] != p_h.shape[1]:
        raise ContestedError(f"dynamics table: logits have {probs.shape[1]} entries but the items have "
                             f"{p_h.shape[1]} classes; pass the items.parquet of the same run")
    old = frame["old_label"] if "old_label" in frame.columns else None
    scores = item_scores(p_h, probs, majority=frame["majority_label"], old_label=old)
    cols = [c for c in ("run_id", "item_id", "split", "step", "progress", "bin", "entropy", "majority_label",
                        "old_label") if c in frame.columns]
    out = pd.concat([frame[cols], scores], axis=1)
    return out.sort_values(["run_id", "item_id", "step"], kind="stable").reset_index(drop=True)


def human_fit_items(dynamics: pd.DataFrame, items: pd.DataFrame, *, measurement: str = "snapshot",
                    table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per run × item: JSD, KL, prediction entropy and correctness at the first and last checkpoint.

    Parameters
    ----------
    dynamics, items, measurement
        As for :func:`human_fit_table`.
    table
        Their :func:`human_fit_table`, where the caller has it already (the logits are not decoded
        again; ``dynamics`` and ``items`` are then not read).

    Returns
    -------
    pandas.DataFrame
        ``run_id, item_id, split, bin, entropy, n_checkpoints`` and, for each of ``jsd`` (√nats),
        ``kl``, ``pred_entropy`` (nats) and ``correct`` (vs the majority label, 1/0):
        ``initial_<x>``, ``final_<x>`` and ``delta_<x>`` = final − initial. A negative
        ``delta_jsd`` means the item moved toward its human distribution.
    """
    if table is None:
        table = human_fit_table(dynamics, items, measurement=measurement)
    table = table.assign(correct=table["correct"].astype(float))
    keys = ["run_id", "item_id"]
    grouped = table.groupby(keys, sort=True)
    first, last = grouped.head(1).set_index(keys), grouped.tail(1).set_index(keys)
    meta = [c for c in ("split", "bin", "entropy") if c in table.columns]
    out = first[meta].copy()
    out["n_checkpoints"] = grouped.size()
    for q in _QUANTITIES:
        out[f"initial_{q}"] = first[q]
        out[f"final_{q}"] = last[q]
        out[f"delta_{q}"] = last[q] - first[q]
    return out.reset_index()


def unlearning_decomposition(dynamics: pd.DataFrame, items: pd.DataFrame, *, split: str | None = "tracked",
                             measurement: str = "snapshot", fit_items: pd.DataFrame | None = None,
                             metrics: pd.DataFrame | None = None) -> pd.DataFrame:
    """Of the items whose training-label loss rose (Δℓ > 0), how many moved toward / away from humans.

    Δℓ and the bins come from :func:`contested.dynamics.item_metrics` (loss against the label the run
    tracked, the 100-vote majority in the study); the JSD change from :func:`human_fit_items`.
    "Toward" = the final JSD to the item's human distribution is below the initial one.

    Parameters
    ----------
    split
        ``"tracked"`` (default), ``"validation"`` or ``None`` (all items).
    fit_items
        :func:`human_fit_items` of these dynamics and items where the caller has it already (the
        logits are not decoded again).
    metrics
        :func:`contested.dynamics.item_metrics` of these dynamics and items where the caller has it
        already (rows of other measurement kinds are ignored).

    Returns
    -------
    pandas.DataFrame
        One row per run × bin (``clean, ambiguous, contested`` and ``all``): ``n_items``,
        ``n_unlearned`` (Δℓ > 0), ``n_toward`` / ``n_away`` (of those, JSD fell / rose),
        ``share_toward``, ``share_away`` (of ``n_unlearned``; NaN when 0) and ``mean_delta_jsd``
        of the un-learned items (√nats).
    """
    from contested.dynamics.metrics import item_metrics

    if metrics is None:
        metrics = item_metrics(dynamics, items, measurement=measurement)
    elif "measurement" in metrics.columns:
        metrics = metrics.loc[metrics["measurement"] == measurement]
    metrics = metrics[["run_id", "item_id", "split", "bin", "delta_loss", "unlearned"]]
    if fit_items is None:
        fit_items = human_fit_items(dynamics, items, measurement=measurement)
    fit = fit_items[["run_id", "item_id", "delta_jsd"]]
    both = metrics.merge(fit, on=["run_id", "item_id"], how="inner", validate="one_to_one")
    if split is not None:
        both = both.loc[both["split"] == split]
    both = both.assign(bin=both["bin"].astype("object"))
    rows = []
    for run_id, run in both.groupby("run_id", sort=True):
        groups = [(str(b), g) for b, g in run.groupby("bin", sort=False)]
        order = {"clean": 0, "ambiguous": 1, "contested": 2}
        groups.sort(key=lambda bg: order.get(bg[0], 3))
        for name, g in [*groups, ("all", run)]:
            up = g.loc[g["unlearned"].astype(bool)]
            n_up = len(up)
            toward, away = int((up["delta_jsd"] < 0).sum()), int((up["delta_jsd"] > 0).sum())
            rows.append({"run_id": run_id, "bin": name, "n_items": len(g), "n_unlearned": n_up,
                         "n_toward": toward, "n_away": away,
                         "share_toward": toward / n_up if n_up else float("nan"),
                         "share_away": away / n_up if n_up else float("nan"),
                         "mean_delta_jsd": up["delta_jsd"].mean() if n_up else float("nan")})
    return pd.DataFrame(rows, columns=["run_id", "bin", "n_items", "n_unlearned", "n_toward", "n_away",
                                       "share_toward", "share_away", "mean_delta_jsd"])


def chaosnli_scores(dynamics: pd.DataFrame, items: pd.DataFrame, *, split: str | None = "validation",
                    by_bin: bool = False, measurement: str = "snapshot") -> pd.DataFrame:
    """ChaosNLI's scores per run and checkpoint: mean JSD, mean KL, accuracy (new and old labels).

    Parameters
    ----------
    split
        ``"validation"`` (default: items never trained on), ``"tracked"`` or ``None`` (all).
    by_bin
        Also group by entropy bin.

    Returns
    -------
    pandas.DataFrame
        One row per run × step (× bin): ``run_id, step`` (``bin``), then :data:`~contested.dynamics.human_scores.SUMMARY_COLUMNS`
        (see :func:`~contested.dynamics.human_scores.summarise`).
    """
    table = human_fit_table(dynamics, items, measurement=measurement)
    if split is not None:
        table = table.loc[table["split"] == split]
    return summarise(table, by=["run_id", "step", *(["bin"] if by_bin else [])])


def _join(frame: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    if "item_id" not in items.columns or "label_dist" not in items.columns or "majority_label" not in items.columns:
        raise ContestedError("item table: needs columns item_id, label_dist and majority_label; "
                             "pass the run's items.parquet or a load_items table")
    on = ["run_id", "item_id"] if "run_id" in items.columns else ["item_id"]
    cols = [c for c in ("label_dist", "majority_label", "old_label", "bin", "entropy") if c in items.columns]
    table = items[[*on, *cols]]
    if table.duplicated(on).any():
        dup = table.loc[table.duplicated(on), "item_id"].iloc[0]
        raise ContestedError(f"item table: item_id {dup!s} appears twice; add a 'run_id' column for several datasets")
    merged = frame.merge(table, on=on, how="left", indicator=True, validate="many_to_one")
    lost = merged["_merge"] == "left_only"
    if lost.any():
        raise ContestedError(f"item table: lacks {int(lost.sum())} row(s)' items seen in the dynamics "
                             f"(e.g. {merged.loc[lost, 'item_id'].iloc[0]!s}); pass the items of the same run")
    return merged.drop(columns="_merge")
