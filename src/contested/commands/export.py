"""``contested export ...``: a finished run's predictions in other tools' formats (a command group)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from contested.commands import console
from contested.errors import ContestedError

app = typer.Typer(help="Export a finished run's predictions (ChaosNLI's prediction file, …).", no_args_is_help=True)
_out = console()  # run ids, names and paths printed literally (Text)


class Split(str, Enum):
    all = "all"
    tracked = "tracked"
    validation = "validation"


@app.command("chaosnli")
def chaosnli(
    run: Annotated[Path, typer.Argument(metavar="RUN", help="A finished run directory (runs/<digest>/).",
                                        show_default=False)],
    out: Annotated[Path | None, typer.Option("--out", help="Output JSON (default: <run id>.chaosnli.json here).",
                                             show_default=False)] = None,
    checkpoint: Annotated[str, typer.Option("--checkpoint", help="final, initial or an optimiser step.")] = "final",
    split: Annotated[Split, typer.Option("--split", help="Items to export: all, tracked or validation.")] = Split.all,
    name: Annotated[str | None, typer.Option("--name", help="Model name in the file (default: the run id).",
                                             show_default=False)] = None,
) -> None:
    """ChaosNLI's prediction file of one snapshot (uid → predicted_probabilities, predicted_label).

    Score it with ChaosNLI's own src/scripts/evaluate.py or with `contested score DATASET FILE`
    (docs/scoring.md).
    """
    if out is not None and out.is_dir():
        raise ContestedError(f"--out {out}: is a folder; give a file name such as predictions.json")
    from contested.dynamics.export import chaosnli_predictions
    from contested.io import write_json
    from contested.report.runs import load_run

    loaded = load_run(run, logits=True)
    labels = loaded.items.attrs.get("label_names") or loaded.metrics.get("label_names")
    if not labels:
        raise ContestedError(f"{run}: metrics.json has no label_names; cannot spell the labels")
    model = name or loaded.run_id
    data = chaosnli_predictions(loaded.dynamics, label_names=labels, model_name=model, checkpoint=checkpoint,
                                split=None if split is Split.all else split.value)
    target = out if out is not None else Path(f"{loaded.run_id}.chaosnli.json")
    write_json(target, data)
    _out.print(Text(f"wrote {len(data[model]):,} predictions of '{model}' ({checkpoint} checkpoint) to {target}"))
