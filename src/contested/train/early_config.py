"""``EarlyWarningConfig``: the early warning's options, declared once (torch-free).

As a section of a run's config (``early_warning``, flags ``--early-warning``, ``--early-window``,
``--early-threshold``, ``--early-predictor``) it switches the training callback on
(:class:`contested.train.early_warning.EarlyWarningCallback`); the same object configures that
callback in a user's own HF ``Trainer``. Every field is ``added="0.2"``, so runs recorded
before it existed keep their directory names.
"""

from __future__ import annotations

from typing import Any

from contested.config import Config, Range, configclass, nonempty, option

#: Windows of the shipped default predictor (shares of training).
DEFAULT_WINDOWS = (0.05, 0.1, 0.2, 0.4)


@configclass
class EarlyWarningConfig(Config):
    """Early warning of un-learning while training (``docs/early_warning.md``)."""

    section = "early_warning"
    flag_prefix = "early_"

    warning: bool = option(
        False, added="0.2",
        help="Predict, from the first `window` of training, which items will un-learn (end with a higher "
             "loss than at step 0); write early_warning.parquet into the run directory and show the count.")
    window: float = option(
        0.2, check=Range(gt=0, le=1), added="0.2", hint="e.g. 0.2 for the first 20 % of optimiser steps",
        help="Share of optimiser steps the early warning reads (the default predictor has 0.05, 0.1, 0.2, 0.4).")
    threshold: float | None = option(
        None, check=Range(gt=0, lt=1), added="0.2", hint="e.g. 0.5",
        help="Risk at or above which an item counts as at risk (default: the predictor's own cutoff, the "
             "highest-F1 one on its training runs).")
    predictor: str | None = option(
        None, check=nonempty, added="0.2", hint="fit one with `contested early fit RUN... --out FILE`",
        help="Predictor file (JSON from `contested early fit`); default: the shipped one, fitted on the "
             "project's MiniLM-L6 ChaosNLI-SNLI runs.")

    def validate(self) -> None:
        if self.warning and self.predictor is None and not any(abs(self.window - w) < 1e-9 for w in DEFAULT_WINDOWS):
            raise self.fail("window", f"the default predictor has windows {', '.join(map(str, DEFAULT_WINDOWS))} "
                                      f"(got {self.window:g}); choose one or pass a predictor fitted for it")

    def load_predictor(self) -> Any:
        """The :class:`~contested.dynamics.early_model.Predictor` these options select."""
        from contested.dynamics.early_model import load_predictor

        return load_predictor(self.predictor, window=self.window)


__all__ = ["DEFAULT_WINDOWS", "EarlyWarningConfig"]
