"""``contested import ...``: other tools' training dynamics as a run directory (a command group)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from contested.commands import console, literal

app = typer.Typer(help="Import other tools' training dynamics as a run directory (Dataset Cartography's files).",
                  no_args_is_help=True)
_out = console()  # paths, run ids and dataset names printed literally


@app.command("cartography")
def cartography(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="Cartography's model directory (holding "
                                           "training_dynamics/) or the training_dynamics/ folder itself.",
                                           show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Runs folder; the run is created as OUT/<run id>/.",
                                      show_default=False)],
    dataset: Annotated[str | None, typer.Option("--dataset", help="Multi-annotator dataset whose item ids are the "
                                                "guids (registry name or file): gives each item its annotation "
                                                "entropy and bin.", show_default=False)] = None,
    data_dir: Annotated[str | None, typer.Option("--data-dir", help="Data folder for registry names (default: "
                                                 "$CONTESTED_DATA_DIR).", show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an earlier import of the same files.")] = False,
) -> None:
    """dynamics_epoch_<k>.jsonl files (guid, logits_epoch_<k>, gold) → a finished run directory.

    Epoch file k becomes the snapshot at step k (progress (k+1)/E); losses are the cross-entropy of
    gold in nats. `contested analyze` and `contested report` read the result (docs/exchange.md).
    """
    from contested.dynamics.exchange_run import import_cartography
    from contested.rundir.layout import METRICS
    from contested.rundir.reading import read_json

    run_dir = import_cartography(folder, out, dataset=dataset, data_dir=data_dir, force=force)
    metrics = read_json(run_dir, METRICS)
    _out.print(literal(f"imported {metrics['n_items']:,} items x {metrics['n_epochs']} epochs "
                       f"({len(metrics['label_names'])} classes) as run {run_dir}"), soft_wrap=True)
    if dataset is None:
        _out.print(literal("note: no --dataset, so the items have no annotation entropy; `contested analyze` "
                           "needs it (pass --dataset NAME_OR_FILE whose item ids are the guids)"), soft_wrap=True)
