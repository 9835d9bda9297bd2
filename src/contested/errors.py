"""One exception type for every problem a user can fix.

The CLI turns a :class:`ContestedError` into one line on stderr and a non-zero exit,
without a traceback. Messages name the file, line or field at fault and say how to fix it.
"""

from __future__ import annotations


class ContestedError(ValueError):
    """A user-fixable problem: bad input file, bad option, missing model or data.

    Parameters
    ----------
    message
        One line: what is wrong, where (file:line / field), and how to fix it.
    """


def located(path: object, message: str, *, line: int | None = None, field: str | None = None) -> ContestedError:
    """Build a :class:`ContestedError` that names ``path`` (and ``line``/``field``) first.

    Examples
    --------
    >>> str(located("a.jsonl", "not valid JSON", line=3))
    'a.jsonl:3: not valid JSON'
    """
    where = str(path)
    if line is not None:
        where += f":{line}"
    if field is not None:
        where += f": field '{field}'"
    return ContestedError(f"{where}: {message}")
