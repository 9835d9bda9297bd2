"""The data layer: multi-annotator items with annotation entropy, bulk NLI data, split and mixture.

No torch here. The public entry points are :func:`load_items` (the item table),
:func:`build_mixture` (what a run trains on), :func:`resolve_data_dir` and :func:`load_bulk`.
Column names and units: ``docs/ARCHITECTURE.md`` and ``docs/data.md``.
"""

from __future__ import annotations

from contested.data.entropy import (
    BIN_NAMES,
    ITEM_COLUMNS,
    annotation_entropy,
    assign_bins,
    bin_summary,
    build_item_table,
    majority_label,
    study_thresholds,
)
from contested.data.mixture import (
    TRAINING_LABELS,
    DataConfig,
    Mixture,
    build_mixture,
    training_labels,
)
from contested.data.noise import NoiseConfig
from contested.data.overlap import drop_overlap, normalise_text
from contested.data.sources import (
    BULK_SOURCES,
    ITEM_SOURCES,
    load_bulk,
    load_items,
    resolve_data_dir,
)
from contested.data.split import split_items

__all__ = [
    "BIN_NAMES",
    "BULK_SOURCES",
    "ITEM_COLUMNS",
    "ITEM_SOURCES",
    "TRAINING_LABELS",
    "DataConfig",
    "Mixture",
    "NoiseConfig",
    "annotation_entropy",
    "assign_bins",
    "bin_summary",
    "build_item_table",
    "build_mixture",
    "drop_overlap",
    "load_bulk",
    "load_items",
    "majority_label",
    "normalise_text",
    "resolve_data_dir",
    "split_items",
    "study_thresholds",
    "training_labels",
]
