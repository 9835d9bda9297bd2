"""Reading a run directory's JSON files: its config, and the condition columns a run belongs to (no torch)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from contested.errors import located
from contested.rundir.layout import CONFIG
from contested.rundir.state import read_error


def read_json(run_dir: str | os.PathLike, name: str) -> dict[str, Any]:
    """Read one JSON file of a run directory (``config.json``, ``env.json``, ``metrics.json``).

    Returns
    -------
    dict
        The parsed JSON object.

    Raises
    ------
    ContestedError
        The file is missing, is not valid JSON (with its line), or holds no JSON object.
    """
    path = Path(run_dir) / name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise located(path, "missing; the run is damaged, rerun it") from None
    except json.JSONDecodeError as exc:
        raise located(path, f"not valid JSON ({exc.msg}); the run is damaged, rerun it", line=exc.lineno) from None
    if not isinstance(data, dict):
        raise located(path, "expected a JSON object; the run is damaged, rerun it")
    return data


def read_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    """A run's ``config.json``.

    Returns
    -------
    dict
        ``RunConfig.to_dict()`` of the run (plain JSON; build a ``RunConfig`` with
        ``RunConfig.from_dict`` where torch is at hand).

    Raises
    ------
    ContestedError
        Missing, not valid JSON, or not an object (see :func:`read_json`).
    """
    return read_json(run_dir, CONFIG)


def recorded_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The config a run directory records, finished or failed, without raising.

    Returns
    -------
    dict
        Its ``config.json`` when readable and non-empty, else the ``config`` of its ``ERROR``
        record, else ``{}``.
    """
    try:
        config = json.loads((Path(run_dir) / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = None
    return config or (read_error(run_dir) or {}).get("config") or {}


def conditions(config: dict[str, Any]) -> dict[str, Any]:
    """Condition columns of a run from its ``config.json`` dict.

    ``rank`` is the LoRA rank for ``lora`` runs and None otherwise (full fine-tuning and IA³ have
    no rank); ``noise_rate`` is 0.0 for runs without noise (or from before noise existed).

    Returns
    -------
    dict
        ``model, method, rank, dataset, seed, training_label, soft_labels, noise_kind,
        noise_rate, mitigation`` (:func:`mitigation`; ``none`` for runs from before mitigations
        existed) ``, lr, bulk, epochs`` (None where the config lacks the field).
    """
    method = config.get("method") or {}
    data = config.get("data") or {}
    train = config.get("train") or {}
    noise = data.get("noise") or {}
    return {
        "model": config.get("model"), "method": method.get("method"),
        "rank": method.get("rank") if method.get("method") == "lora" else None,
        "dataset": data.get("dataset"), "seed": train.get("seed"),
        "training_label": data.get("training_label"), "soft_labels": train.get("soft_labels"),
        "noise_kind": noise.get("kind") if noise.get("rate") else None,
        "noise_rate": float(noise.get("rate") or 0.0), "mitigation": mitigation(config), "lr": train.get("lr"),
        "bulk": data.get("bulk"), "epochs": train.get("epochs"),
    }


def mitigation(config: dict[str, Any]) -> str:
    """``none`` or the run's training-loss mitigations, e.g. ``soft[contested]`` or ``entropy-weighted+ls0.1``.

    Soft targets (``data.training_label: soft``, optionally only for ``data.soft_bins``), item
    weighting (``train.item_weighting``: entropy or per-bin weights) and label smoothing
    (``train.label_smoothing``); docs/training.md, "Mitigations".
    """
    data, train = config.get("data") or {}, config.get("train") or {}
    parts = []
    if data.get("training_label") == "soft":
        bins = data.get("soft_bins")
        parts.append(f"soft[{','.join(bins)}]" if bins else "soft")
    weighting = train.get("item_weighting") or "none"
    if weighting == "entropy":
        parts.append("entropy-weighted")
    elif weighting == "bins":
        parts.append("bin-weighted[" + ",".join(f"{float(w):g}" for w in train.get("bin_weights") or ()) + "]")
    if train.get("label_smoothing"):
        parts.append(f"ls{float(train['label_smoothing']):g}")
    return "+".join(parts) or "none"


__all__ = ["conditions", "mitigation", "read_config", "read_json", "recorded_config"]
