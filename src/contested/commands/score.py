"""``contested score DATASET PREDICTIONS``: ChaosNLI's and LeWiDi 2023's scores of a prediction file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from contested.commands import console
from contested.errors import ContestedError

_out = console()  # model names, ids and paths are user text: printed literally (Text)


def _fmt(value, digits: int = 4) -> str:
    return "–" if value is None or value != value else f"{value:.{digits}f}"


def print_scores(scores) -> None:
    """The scores table (one block per model: all items, then each entropy bin)."""
    from rich import box

    table = Table(title=Text(f"{scores.dataset}: {scores.n_items:,} items, {len(scores.table['model'].unique())} "
                             f"model(s) from {scores.predictions.path.name} ({scores.predictions.fmt})"),
                  title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1), show_edge=False, pad_edge=False)
    table.add_column("model\n  bin", overflow="fold")
    for col in ("n", "JSD", "KL", "acc", "acc\nold", "CE", "F1\nmicro"):
        table.add_column(col, justify="right", no_wrap=True)
    first = True
    for row in scores.table.itertuples(index=False):
        overall = row.bin == "all"
        if overall and not first:
            table.add_section()
        first = False
        label = Text(str(row.model), style="bold") if overall else Text(f"  {row.bin}")
        table.add_row(label, f"{row.n:,}", _fmt(row.jsd), _fmt(row.kl), _fmt(row.accuracy), _fmt(row.accuracy_old),
                      _fmt(row.lewidi_ce), _fmt(row.f1_micro))
    _out.print(table)
    _out.print(Text("JSD: Jensen-Shannon distance (sqrt of the divergence, natural log). KL(human || model) and "
                    "CE (LeWiDi 2023 cross-entropy) in nats. acc: against the vote majority; acc old: against the "
                    "original gold label; F1 micro: against the hard label (docs/scoring.md)."))
    for name, n in scores.missing.items():
        if n:
            _out.print(Text(f"model '{name}': {n:,} of {scores.n_items:,} items have no prediction "
                            "(--allow-missing); scored the rest."))
    for name, n in scores.extra.items():
        if n:
            _out.print(Text(f"model '{name}': skipped {n:,} prediction(s) for ids not in the dataset (--allow-extra)."))


def register(app: typer.Typer) -> None:
    """Add ``score`` to the top-level app."""

    @app.command("score")
    def score_cmd(
        dataset: Annotated[str, typer.Argument(metavar="DATASET", help="Registry name (chaosnli-snli, "
                                               "lewidi-md-agreement:dev, …) or a dataset file.", show_default=False)],
        predictions: Annotated[Path, typer.Argument(metavar="PREDICTIONS", help="ChaosNLI prediction JSON, LeWiDi "
                                                    "results TSV, or a CSV/JSONL of probabilities.",
                                                    show_default=False)],
        out: Annotated[Path | None, typer.Option("--out", help="Write the scores as JSON (atomically).",
                                                 show_default=False)] = None,
        allow_missing: Annotated[bool, typer.Option("--allow-missing", help="Score only the items a model "
                                                    "predicts (otherwise a missing item is an error).")] = False,
        allow_extra: Annotated[bool, typer.Option("--allow-extra", help="Skip predictions for ids the dataset "
                                                  "lacks (otherwise an error).")] = False,
        data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Data folder (default: "
                                                      "$CONTESTED_DATA_DIR, then the user cache).",
                                                      show_default=False)] = None,
    ) -> None:
        """Score model predictions against the annotators' distributions, overall and per entropy bin.

        ChaosNLI's metrics (JSD = Jensen-Shannon distance, KL, accuracy against the vote majority
        and the original label) and LeWiDi 2023's (cross-entropy against the soft label,
        micro-F1 against the hard label); definitions and formats in docs/scoring.md.
        """
        if out is not None and out.is_dir():
            raise ContestedError(f"--out {out}: is a folder; give a file name such as scores.json")
        from contested.dynamics.scoring import score_file
        from contested.io import write_json

        scores = score_file(dataset, predictions, data_dir=data_dir, allow_missing=allow_missing,
                            allow_extra=allow_extra)
        print_scores(scores)
        if out is not None:
            write_json(out, scores.to_json())
            _out.print(Text(f"wrote {out}"))
