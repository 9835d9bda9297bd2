"""`contested data ...`: where the data is, its annotation entropy, and the ChaosNLI download."""

from __future__ import annotations

import math
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from contested.commands import console, literal
from contested.errors import ContestedError

app = typer.Typer(help="Multi-annotator datasets: sources, annotation entropy, downloads.", no_args_is_help=True)
_out = console()  # dataset names, paths and labels are user text: printed literally

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data folder (default: $CONTESTED_DATA_DIR, then the user cache).",
                 show_default=False),
]


class Bins(str, Enum):
    """``--bins``: the study's entropy thresholds or quantile bins."""

    study = "study"
    quantile = "quantile"


def parse_base(text: str) -> float:
    """``e``/``nats`` → e, ``bits`` → 2, otherwise a positive number other than 1."""
    aliases = {"e": math.e, "nats": math.e, "nat": math.e, "bits": 2.0, "bit": 2.0}
    key = text.strip().lower()
    if key in aliases:
        return aliases[key]
    try:
        value = float(key)
    except ValueError:
        value = float("nan")
    if not (value > 0 and value != 1 and math.isfinite(value)):
        raise ContestedError(f"--base: expected e, 2, 10 or another positive number other than 1, got '{text}'")
    return value


def unit_name(base: float) -> str:
    """``nats``, ``bits``, ``bans`` or ``log base b``: the unit of entropies in ``base``."""
    return {math.e: "nats", 2.0: "bits", 10.0: "bans"}.get(base, f"log base {base:g}")


@app.command("entropy")
def entropy(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Registry name (see `contested data info`) or a file path.")],
    out: Annotated[Path | None, typer.Option("--out", help="Write the item table (.parquet, .csv or .jsonl).")] = None,
    base: Annotated[str, typer.Option("--base", help="Entropy unit: e (nats), 2 (bits), or any base.")] = "e",
    bins: Annotated[Bins, typer.Option("--bins", help="study: 0.4/0.7 nats × ln K/ln 3; quantile: terciles.")]
    = Bins.study,
    data_dir: DataDir = None,
) -> None:
    """Annotation entropy of every item: bin counts and shares, and optionally the item table."""
    from contested.data import bin_summary, load_items, study_thresholds
    from contested.io import write_table

    value = parse_base(base)
    if out is not None and out.suffix.lower() not in (".parquet", ".csv", ".jsonl"):
        raise ContestedError(f"--out {out}: unknown output format '{out.suffix}'; use .parquet, .csv or .jsonl")
    items = load_items(name, data_dir=data_dir, base=value, bins=bins.value)
    names = items.attrs["label_names"]
    unit = unit_name(value)
    summary = bin_summary(items)
    table = Table(title=literal(f"{name}: {len(items):,} items, {len(names)} classes"))
    table.add_column("bin")
    table.add_column(f"entropy ({unit})")
    table.add_column("items", justify="right")
    table.add_column("share", justify="right")
    if bins is Bins.study:
        lo, hi = study_thresholds(len(names), base=value)
        ranges = [f"< {lo:.3f}", f"{lo:.3f} – {hi:.3f}", f"≥ {hi:.3f}"]
    else:
        ranges = [f"{r.entropy_min:.3f} – {r.entropy_max:.3f}" if r.items else "–" for r in summary.itertuples()]
    for (bin_name, row), rng in zip(summary.iterrows(), ranges, strict=True):
        table.add_row(str(bin_name), rng, f"{int(row['items']):,}", f"{row['share_pct']:.1f}%")
    _out.print(table)
    _out.print(literal(f"classes: {', '.join(names)}; entropy in {unit}: mean {items['entropy'].mean():.3f}, "
                       f"max possible {math.log(len(names), value):.3f}; {bins.value} bins"))
    if out is not None:
        write_table(items, out)
        _out.print(literal(f"wrote {len(items):,} items to {out}"))


@app.command("info")
def info(data_dir: DataDir = None) -> None:
    """List the registered datasets and bulk sources, where they are looked for, and their sizes."""
    from contested.data.sources import (
        BULK_SOURCES,
        ITEM_SOURCES,
        data_dir_origin,
        load_bulk,
        load_items,
        resolve_data_dir,
        source_files,
    )

    root = resolve_data_dir(data_dir)
    _out.print(literal(f"data folder: {root} (from {data_dir_origin(data_dir)})"
                       + ("" if root.is_dir() else " (does not exist yet)")), soft_wrap=True)
    table = Table(title="sources")
    hints: set[str] = set()
    for col in ("name", "kind", "files", "items", "status"):
        table.add_column(col, justify="right" if col == "items" else "left")
    for kind, registry in (("items", ITEM_SOURCES), ("bulk", BULK_SOURCES)):
        for name, source in registry.items():
            paths = source_files(source, root)
            folder = str(Path(source.files[0]).parent) + "/"
            if not all(p.is_file() for p in paths):
                fetch = getattr(source, "fetch", None)
                if fetch:
                    hints.add(f"missing ChaosNLI files: run `contested data fetch {fetch}`")
                table.add_row(name, kind, escape(folder), "–", "missing")
                continue
            try:
                n = len(load_items(name, data_dir=root) if kind == "items" else load_bulk(name, data_dir=root))
                table.add_row(name, kind, escape(folder), f"{n:,}", "ok")
            except ContestedError as exc:
                table.add_row(name, kind, escape(folder), "–", literal(f"invalid: {exc}"))
    _out.print(table)
    for hint in sorted(hints):
        _out.print(literal(hint), soft_wrap=True)
    _out.print(literal("Also: any file path (generic CSV/TSV/JSONL, ChaosNLI/SNLI jsonl, LeWiDi json); "
                       "lewidi-* take :train/:dev/:test; bulk sources also take hf:<name>[:<split>] and .jsonl/.csv "
                       "paths."))


@app.command("fetch")
def fetch(
    what: Annotated[str, typer.Argument(metavar="WHAT", help="What to download: chaosnli.")],
    data_dir: DataDir = None,
    url: Annotated[str | None, typer.Option("--url", help="Zip URL (http(s):// or file://); default: the "
                                            "official ChaosNLI link.", show_default=False)] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the server.")] = 15.0,
    force: Annotated[bool, typer.Option("--force", help="Download again even if verified files exist.")] = False,
) -> None:
    """Download a dataset's official release, verify its checksums and unpack it into the data folder."""
    from contested.data.fetch import CHAOSNLI_URL, FETCHABLE, fetch_chaosnli

    if what != "chaosnli":
        raise ContestedError(f"cannot fetch '{what}'; fetchable: {', '.join(FETCHABLE)}")
    target = fetch_chaosnli(data_dir=data_dir, url=url or CHAOSNLI_URL, timeout=timeout, force=force)
    _out.print(literal(f"ChaosNLI v1.0 verified in {target}"))
