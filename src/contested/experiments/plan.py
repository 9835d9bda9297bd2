"""Moved to :mod:`contested.rundir`; re-exported only until ``commands/sweep.py`` imports from there."""

from contested.rundir import count_states  # noqa: F401
