"""A table with one numeric form (CSV) and one display form (Markdown, LaTeX, HTML).

The numeric frame keeps full precision and one value per column (``rho_mean``, ``rho_std``) so it
can be re-analysed; the display frame holds the formatted strings a reader sees (``0.308 ± 0.016``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from pathlib import Path

import pandas as pd

from contested.io import write_table, write_text

MISSING = "—"
# Unicode that pdflatex cannot typeset, as math-mode commands (applied after LaTeX escaping,
# which never produces these characters itself).
_LATEX_UNICODE = {
    "±": r"$\pm$", "ρ": r"$\rho$", "τ": r"$\tau$", "Δ": r"$\Delta$", "ℓ": r"$\ell$",
    "≥": r"$\geq$", "≤": r"$\leq$", "−": "-", "—": "--", "·": r"$\cdot$", "³": r"$^3$",
    "²": r"$^2$", "×": r"$\times$", "≈": r"$\approx$",
}


def fmt_num(value: object, digits: int = 3, *, signed: bool = False) -> str:
    """A number with ``digits`` decimals; missing values as an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return MISSING
    return f"{float(value):+.{digits}f}" if signed else f"{float(value):.{digits}f}"


def fmt_int(value: object) -> str:
    """A count with thousands separators (``1,514``); missing values as an em dash."""
    return MISSING if value is None or pd.isna(value) else f"{int(value):,}"  # type: ignore[arg-type]


def fmt_mean_std(mean: object, std: object, digits: int = 3, *, signed: bool = False) -> str:
    """``mean ± std``; just the mean when the std is undefined (one seed)."""
    text = fmt_num(mean, digits, signed=signed)
    if text == MISSING or fmt_num(std) == MISSING:
        return text
    return f"{text} ± {float(std):.{digits}f}"  # type: ignore[arg-type]


def ci_text(value: object, low: object, high: object, *, signed: bool = False, digits: int = 3,
            ci_digits: int | None = None) -> str:
    """``value [low, high]``: an estimate with its confidence interval (the report's one CI format).

    Just the dash where the estimate itself is undefined; a dash in the brackets where only its
    interval is (e.g. no bootstrap). ``ci_digits`` (default ``digits``) shortens the bounds, e.g.
    for a terminal.
    """
    if fmt_num(value) == MISSING:
        return MISSING
    d = digits if ci_digits is None else ci_digits
    return (f"{fmt_num(value, digits, signed=signed)} "
            f"[{fmt_num(low, d, signed=signed)}, {fmt_num(high, d, signed=signed)}]")


def fmt_ci(values: pd.Series, low: pd.Series, high: pd.Series, *, signed: bool = False) -> list[str]:
    """:func:`ci_text` per row."""
    return [ci_text(v, lo, hi, signed=signed) for v, lo, hi in zip(values, low, high, strict=True)]


def fmt_p(value: object) -> str:
    """A p-value with two significant digits (``< 1e-300`` for underflow to zero)."""
    if fmt_num(value) == MISSING:
        return MISSING
    p = float(value)  # type: ignore[arg-type]
    return "< 1e-300" if p == 0 else f"{p:.2g}"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#",
                  "$": r"\$", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}


def _latex_escape_caption(text: str) -> str:
    # One pass, so the braces that escaping inserts are not escaped again.
    return re.sub(r"[\\&%_#${}~^]", lambda m: _LATEX_SPECIAL[m.group(0)], text)


@dataclasses.dataclass(frozen=True)
class ReportTable:
    """A study table in numeric and display form.

    Attributes
    ----------
    name
        File stem, e.g. ``table1_rho``.
    title
        Heading in the report.
    caption
        What the table shows, its units (nats) and how the numbers were computed.
    data
        Numeric frame (written as CSV).
    display
        Formatted strings, one row per row of ``data`` (Markdown, LaTeX, HTML).
    """

    name: str
    title: str
    caption: str
    data: pd.DataFrame
    display: pd.DataFrame

    def to_markdown(self) -> str:
        """GitHub-flavoured Markdown (pandas + tabulate)."""
        return self.display.to_markdown(index=False, disable_numparse=True)

    def to_latex(self) -> str:
        """A ``table`` environment with a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``)."""
        styler = (self.display.style.hide(axis="index")
                  .format(escape="latex").format_index(escape="latex", axis=1))
        tex = styler.to_latex(
            hrules=True, column_format="l" * self.display.shape[1], position="htbp",
            caption=_latex_escape_caption(self.caption), label=f"tab:{self.name}",
        )
        for uni, cmd in _LATEX_UNICODE.items():
            tex = tex.replace(uni, cmd)
        return tex

    def to_html(self) -> str:
        """An HTML ``<table>`` (cells escaped) for the report page."""
        return self.display.to_html(index=False, border=0, classes="data", escape=True, na_rep=MISSING)

    def write(self, out_dir: str | os.PathLike) -> list[Path]:
        """Write ``<name>.csv`` (numeric), ``<name>.md`` and ``<name>.tex`` atomically."""
        out = Path(out_dir)
        return [
            write_table(self.data, out / f"{self.name}.csv"),
            write_text(out / f"{self.name}.md", f"**{self.title}.** {self.caption}\n\n{self.to_markdown()}\n"),
            write_text(out / f"{self.name}.tex", self.to_latex()),
        ]
