"""``contested export ...``: a finished run's predictions in other tools' formats (a command group)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from contested.commands import console
from contested.errors import ContestedError

app = typer.Typer(help="Export a finished run for other tools: ChaosNLI predictions, Dataset Cartography's "
                  "training dynamics, cleanlab's inputs.", no_args_is_help=True)
_out = console()  # run ids, names and paths printed literally (Text)


class Split(str, Enum):
    """``--split``: every item the run recorded, or only its tracked or validation items."""

    all = "all"
    tracked = "tracked"
    validation = "validation"


# Arguments and options several exports share.
RunDir = Annotated[Path, typer.Argument(metavar="RUN", help="A finished run directory (runs/<digest>/).",
                                        show_default=False)]
Checkpoint = Annotated[str, typer.Option("--checkpoint", help="final, initial or an optimiser step.")]
Force = Annotated[bool, typer.Option("--force", help="Replace an earlier export in --out.")]


def _label_names(run: Path, loaded: Any, why: str) -> list[str]:
    """The run's class names (items.parquet, else metrics.json); a one-line error naming ``why`` without them."""
    labels = loaded.items.attrs.get("label_names") or loaded.metrics.get("label_names")
    if not labels:
        raise ContestedError(f"{run}: metrics.json has no label_names; cannot {why}")
    return list(labels)


@app.command("chaosnli")
def chaosnli(
    run: RunDir,
    out: Annotated[Path | None, typer.Option("--out", help="Output JSON (default: <run id>.chaosnli.json here).",
                                             show_default=False)] = None,
    checkpoint: Checkpoint = "final",
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
    labels = _label_names(run, loaded, "spell the labels")
    model = name or loaded.run_id
    data = chaosnli_predictions(loaded.dynamics, label_names=labels, model_name=model, checkpoint=checkpoint,
                                split=None if split is Split.all else split.value)
    target = out if out is not None else Path(f"{loaded.run_id}.chaosnli.json")
    write_json(target, data)
    _out.print(Text(f"wrote {len(data[model]):,} predictions of '{model}' ({checkpoint} checkpoint) to {target}"))


@app.command("cartography")
def cartography(
    run: RunDir,
    out: Annotated[Path | None, typer.Option("--out", help="Folder to create: cartography's model directory, "
                                             "holding training_dynamics/ (default: <run id>.cartography/ here).",
                                             show_default=False)] = None,
    split: Annotated[Split, typer.Option("--split", help="Items to export: tracked (trained on), validation or "
                                         "all.")] = Split.tracked,
    all_snapshots: Annotated[bool, typer.Option("--all-snapshots", help="Every snapshot (step 0 included) as one "
                                                "epoch file, instead of the epoch-end snapshots.")] = False,
    force: Force = False,
) -> None:
    """Dataset Cartography's training_dynamics/dynamics_epoch_<k>.jsonl (guid, logits_epoch_<k>, gold).

    File k holds the eval-mode snapshot at the end of epoch k+1 (docs/exchange.md). Plot or filter
    with allenai/cartography's selection/train_dy_filtering.py --model_dir OUT.
    """
    from contested.dynamics.exchange import FOLDER, cartography_lines, epoch_checkpoints, file_name
    from contested.dynamics.exchange_run import INDEX, install_folder
    from contested.io import write_json, write_text
    from contested.report.runs import load_run

    loaded = load_run(run, logits=True)
    which = None if split is Split.all else split.value
    points = epoch_checkpoints(loaded.dynamics, split=which, all_snapshots=all_snapshots)
    texts = cartography_lines(loaded.dynamics, points, split=which)
    target = out if out is not None else Path(f"{loaded.run_id}.cartography")
    n_items = texts[0].count("\n")
    with install_folder(target, force=force) as tmp:
        for k, text in enumerate(texts):
            write_text(tmp / FOLDER / file_name(k), text)
        write_json(tmp / INDEX, {
            "format": "Dataset Cartography training dynamics (Swayamdipta et al. 2020, allenai/cartography)",
            "run_id": loaded.run_id, "run": str(Path(run).resolve()), "split": split.value, "n_items": n_items,
            "checkpoints": "all snapshots" if all_snapshots else "epoch-end snapshots (eval mode)",
            "label_names": list(loaded.metrics.get("label_names") or []), "guid": "item_id",
            "epochs": [{"file": f"{FOLDER}/{file_name(int(p.epoch_index))}", "step": int(p.step),
                        "epoch": float(p.epoch), "progress": float(p.progress)} for p in points.itertuples()],
        })
    steps = ", ".join(str(int(s)) for s in points["step"])
    _out.print(Text(f"wrote {len(texts)} epoch file(s) of {n_items:,} {split.value} items (snapshots at steps "
                    f"{steps}) to {target / FOLDER}"), soft_wrap=True)


@app.command("cleanlab")
def cleanlab(
    run: RunDir,
    out: Annotated[Path | None, typer.Option("--out", help="Folder to create (default: <run id>.cleanlab/ here).",
                                             show_default=False)] = None,
    checkpoint: Checkpoint = "final",
    split: Annotated[Split, typer.Option("--split", help="Items to export: all, tracked (trained on: in-sample "
                                         "predictions) or validation (held out).")] = Split.all,
    force: Force = False,
) -> None:
    """cleanlab's inputs: pred_probs.npy (items x K), label_counts.npy, labels.npy and an index.

    Rows follow the index's item_ids. The item tables keep vote counts, not per-annotator labels, so
    no labels_multiannotator matrix is written (docs/exchange.md).
    """
    import numpy as np

    from contested.dynamics.exchange_cleanlab import INDEX, PRED_PROBS, cleanlab_arrays
    from contested.dynamics.exchange_run import install_folder
    from contested.io import write_json
    from contested.report.runs import load_run

    loaded = load_run(run, logits=True)
    labels = _label_names(run, loaded, "name the classes")
    arrays, index = cleanlab_arrays(loaded.dynamics, loaded.items, label_names=labels, checkpoint=checkpoint,
                                    split=None if split is Split.all else split.value)
    index |= {"run_id": loaded.run_id, "run": str(Path(run).resolve())}
    target = out if out is not None else Path(f"{loaded.run_id}.cleanlab")
    with install_folder(target, force=force) as tmp:
        for name, array in arrays.items():
            with open(tmp / name, "wb") as fh:
                np.save(fh, array, allow_pickle=False)
        write_json(tmp / INDEX, index)
    n, k = arrays[PRED_PROBS].shape
    _out.print(Text(f"wrote {', '.join(arrays)} ({n:,} items x {k} classes, {checkpoint} checkpoint) and "
                    f"{INDEX} to {target}"), soft_wrap=True)
    _out.print(Text(f"note: {index['note']}"), soft_wrap=True)
