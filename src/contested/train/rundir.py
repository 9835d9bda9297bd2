"""Moved to :mod:`contested.rundir`; re-exported only until ``commands/train.py`` imports from there."""

from contested.rundir import building, clear_unfinished, is_finished  # noqa: F401
