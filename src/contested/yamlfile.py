"""The one YAML reader: plain data plus the line of every key, so errors can name file and line.

Sweep files and ``contested train --config`` files both go through :func:`load_yaml`; a file saved
with a UTF-8 byte-order mark or CRLF line ends reads the same as a plain one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from contested.errors import ContestedError, located

Lines = dict[tuple, int]


def load_yaml(path: str | Path, *, what: str = "YAML file") -> tuple[Any, Lines]:
    """Parse a YAML file; also return the 1-based line of every mapping key and sequence item.

    Returns
    -------
    (object, dict)
        The document (plain dicts/lists/scalars) and ``{key path tuple: line}``; a path is the
        tuple of keys and list indices leading to the node, e.g. ``("grid", "model", 2)``.

    Raises
    ------
    ContestedError
        Missing file (named as ``what``), invalid YAML (with its line), or a key given twice in one mapping.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ContestedError(f"{path}: {what} not found; give the path of a .yaml file "
                             "(see configs/ for examples)") from None
    except OSError as exc:
        raise located(path, f"cannot read the file ({exc.strerror})") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise located(path, f"invalid YAML: {exc.problem or exc}", line=line) from None
    finally:
        loader.dispose()
    lines: Lines = {}
    if node is not None:
        _collect_lines(node, (), lines, path)
    return data, lines


def _collect_lines(node: yaml.Node, prefix: tuple, lines: Lines, path: Path) -> None:
    lines[prefix] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise located(path, f"key '{key}' appears twice in the same mapping; keep one",
                              line=key_node.start_mark.line + 1)
            seen.add(key)
            _collect_lines(value_node, (*prefix, key), lines, path)
            # A key's own line (not its value's, which may start on the next line) is what to fix.
            lines[(*prefix, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _collect_lines(item, (*prefix, i), lines, path)


def line_of(lines: Lines, key_path: tuple) -> int | None:
    """The line of ``key_path`` or of its nearest ancestor that has one."""
    while key_path:
        if key_path in lines:
            return lines[key_path]
        key_path = key_path[:-1]
    return lines.get(())


__all__ = ["Lines", "line_of", "load_yaml"]
