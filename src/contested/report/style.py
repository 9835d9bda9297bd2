"""One publication style for every figure: fonts, colour-blind-safe bin colours, thresholds.

Every figure function draws inside :func:`figure_style` so that a user's own matplotlib rc
settings are neither used nor changed. Colours come from the Okabe–Ito palette (safe for the
common forms of colour blindness), and each bin also gets its own marker so that the bins stay
apart in greyscale print.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd

from contested.data import study_thresholds

#: The study's bins in order of rising annotation entropy.
STUDY_BINS: tuple[str, ...] = ("clean", "ambiguous", "contested")

#: Okabe–Ito colours; blue / orange / vermillion differ in lightness as well as hue.
BIN_COLORS: dict[str, str] = {"clean": "#0072B2", "ambiguous": "#E69F00", "contested": "#D55E00"}
BIN_MARKERS: dict[str, str] = {"clean": "o", "ambiguous": "s", "contested": "^"}
#: For other binnings (quartiles, terciles) and for conditions in forest/rank plots.
OKABE_ITO: tuple[str, ...] = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
)
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "*")
#: Diverging map for entropy: blue = annotators agree, red = contested (colour-blind safe).
ENTROPY_CMAP = "RdBu_r"

_RC = {
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 9.5,
    "legend.framealpha": 0.9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.8,
    "pdf.fonttype": 42,  # embed TrueType so PDF text stays editable/searchable
    "svg.fonttype": "none",
    "figure.constrained_layout.use": True,
}

LOSS_LABEL = "per-example cross-entropy (nats)"
#: Display names of per-item metrics, and which of them are losses in nats.
METRIC_NAMES = {"aulc": "AULC", "aulc_trapz": "AULC (trapezoid)", "delta_loss": "Δℓ", "max_rise": "max rise",
                "initial_loss": "initial loss", "final_loss": "final loss"}
NATS_METRICS = frozenset(METRIC_NAMES)


def metric_name(metric: str) -> str:
    """``AULC`` for ``aulc`` and so on; unknown metrics unchanged."""
    return METRIC_NAMES.get(metric, metric)

ENTROPY_LABEL = "annotation entropy H (nats)"
STEP_LABEL = "training step (optimiser steps)"


@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    """Apply the report's rc settings for the duration of the block (restored afterwards)."""
    with mpl.rc_context(_RC):
        yield


def bin_thresholds(num_classes: int) -> tuple[float, float, float]:
    """The study's bin edges for ``num_classes`` classes and the maximum entropy, in nats.

    The edges come from :func:`contested.data.study_thresholds` (0.4 and 0.7 nats scaled by
    ``ln K / ln 3``); the third value, ``ln K``, is where the entropy axis ends.

    Examples
    --------
    >>> [round(t, 3) for t in bin_thresholds(2)]
    [0.252, 0.442, 0.693]
    """
    low, high = study_thresholds(num_classes)
    return low, high, math.log(num_classes)


def bin_order(bins: pd.Series, entropy: pd.Series | None = None) -> list[str]:
    """Bins in order of rising entropy: the study's order, else categorical order, else by mean H."""
    present = [str(b) for b in pd.unique(bins.dropna())]
    if set(present) <= set(STUDY_BINS):
        return [b for b in STUDY_BINS if b in present]
    if isinstance(bins.dtype, pd.CategoricalDtype):
        return [str(c) for c in bins.cat.categories if str(c) in present]
    if entropy is not None:
        means = entropy.groupby(bins.astype(str)).mean().sort_values()
        return [str(b) for b in means.index]
    return sorted(present)


def bin_styles(order: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Colour and marker per bin: fixed for the study's bins, Okabe–Ito in order otherwise."""
    if set(order) <= set(STUDY_BINS):
        return {b: (BIN_COLORS[b], BIN_MARKERS[b]) for b in order}
    return {b: (OKABE_ITO[i % len(OKABE_ITO)], MARKERS[i % len(MARKERS)]) for i, b in enumerate(order)}


def infer_num_classes(table: pd.DataFrame, default: int = 3) -> int:
    """K from ``attrs["label_names"]``, else the length of ``label_dist``, else ``default``."""
    names = table.attrs.get("label_names")
    if names:
        return len(names)
    if "label_dist" in table.columns and len(table):
        first = table["label_dist"].iloc[0]
        if first is not None and not isinstance(first, str):
            return len(np.asarray(first))
    return default
