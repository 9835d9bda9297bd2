"""Running the ``contested`` CLI in-process from a test."""

from __future__ import annotations

import pytest

from contested.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    """Run ``contested *argv`` (each argument as ``str``) and capture what it printed.

    Returns
    -------
    (code, out, err)
        The exit status (0 for a plain exit) and the captured stdout and stderr.
    """
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return done.value.code or 0, out, err
