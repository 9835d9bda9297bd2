"""``contested early fit|evaluate`` and ``contested flag``: the early warning of un-learning.

``early fit`` refits the predictor on the user's own finished runs and writes the JSON artefact
that ``train --early-predictor`` and ``flag --predictor`` read; ``early evaluate`` is the
leave-one-run-out evaluation (AUROC and average precision vs three baselines, table and figure);
``flag`` lists a run's items at risk or un-learnt, with their text and label names.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich import box
from rich.table import Table

from contested.commands import console, literal

app = typer.Typer(help="Early warning of un-learning: fit the predictor on your runs, evaluate it.",
                  no_args_is_help=True)
# Tables of item texts need ~120 columns; a pipe or log file would otherwise get rich's 80.
_out = console(width=None if sys.stdout.isatty() else 120)
_err = console(stderr=True)

Runs = Annotated[list[Path], typer.Argument(metavar="RUN_OR_SWEEP_DIR...", show_default=False,
                                            help="Finished run directories or folders holding them (e.g. runs/).")]
Windows = Annotated[list[str], typer.Option("--window", help="Share of training the features read, in (0, 1]; "
                                            "repeat or comma-separate for several (e.g. 0.1,0.2).")]
Entropy = Annotated[bool, typer.Option("--use-entropy/--no-use-entropy",
                                       help="Add annotation entropy to the features (needs multi-annotator items).")]


def _windows(values: list[str]) -> tuple[float, ...]:
    from contested.config import split_list
    from contested.dynamics.early import check_window
    from contested.errors import ContestedError

    out = []
    for text in split_list(values):
        try:
            out.append(check_window(float(text)))
        except ValueError:
            raise ContestedError(f"--window: expected a share of training such as 0.2, got {text!r}") from None
    return tuple(dict.fromkeys(out))


@app.command("fit")
def fit_cmd(
    paths: Runs,
    out: Annotated[Path, typer.Option("--out", help="Predictor file to write (JSON).", show_default=False)],
    window: Windows = ["0.2"],  # noqa: B006 (typer reads the default list)
    use_entropy: Entropy = False,
    c: Annotated[float, typer.Option("--c", min=1e-6, help="Inverse L2 strength of the logistic regression.")] = 1.0,
    description: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--description", help="Where the predictor comes from, stored in the file and printed by `flag` "
        "(default: 'fitted on N run(s) by contested early fit').", show_default=False)] = None,
) -> None:
    """Fit the early-warning predictor on your finished runs (one per window) and save it as JSON.

    The file holds the standardisation, the coefficients, the feature list, the window, the
    training run ids and a sha256; no pickle. Use it with `contested train --early-warning
    --early-predictor FILE` or `contested flag RUN --predictor FILE`.
    """
    from contested.dynamics.early_model import fit_predictor, save_predictor
    from contested.report.runs import load_runs

    runs = load_runs(paths, logits=True)
    description = description or f"fitted on {len(runs)} run(s) by contested early fit"
    with _err.status(f"fitting on {len(runs)} run(s)…"):
        preds = [fit_predictor(runs, window=w, use_entropy=use_entropy, C=c, description=description)
                 for w in _windows(window)]
        save_predictor(out, *preds, description=description)
    for p in preds:
        _out.print(literal(f"window {p.window:g}: {p.n_items:,} items, {p.base_rate:.1%} un-learnt, "
                           f"threshold {p.threshold:.3f}, features {', '.join(p.features)}"))
    _out.print(literal(f"wrote {out}"))


@app.command("evaluate")
def evaluate_cmd(
    paths: Runs,
    out: Annotated[Path, typer.Option("--out", help="Output folder (created).", show_default=False)],
    window: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
        "--window", help="Share of training the features read, in (0, 1]; repeat or comma-separate for "
        "several (default: 0.05, 0.1, 0.2, 0.4).", show_default=False)] = None,
    use_entropy: Entropy = False,
    test: Annotated[Optional[list[Path]], typer.Option(  # noqa: UP045
        "--test", metavar="RUN_OR_SWEEP_DIR", help="Transfer test instead of leave-one-run-out: fit on all the "
        "RUN_OR_SWEEP_DIR runs, score these runs (repeatable).", show_default=False)] = None,
) -> None:
    """Leave-one-run-out AUROC and average precision vs windows, against three single-feature
    baselines (annotation entropy, step-0 loss, window loss slope).

    Writes OUT/early_loro.csv (one row per window × held-out run × model), OUT/early_loro_summary.csv
    and .md (mean ± std over held-out runs), OUT/early_loro_auroc.png/.pdf and OUT/early_runs.csv (the
    runs and their conditions). With --test, the models are fitted on all the given runs and scored on
    the test runs; the files are named early_transfer* instead.
    """
    from contested.dynamics.early_eval import evaluate_loro, evaluate_transfer, summarise_loro
    from contested.dynamics.early_model import WINDOWS
    from contested.io import write_table, write_text
    from contested.report.early import loro_figure, summary_markdown
    from contested.report.figures import save_figure
    from contested.report.runs import load_runs

    windows = _windows(window) if window else WINDOWS
    runs = load_runs(paths, logits=True)
    tests = load_runs(test, logits=True) if test else []
    name = "transfer" if tests else "loro"
    what = f"fitting on {len(runs)} runs, scoring {len(tests)}" if tests else f"leave-one-run-out over {len(runs)} runs"
    with _err.status(f"{what}…"):
        if tests:
            results = evaluate_transfer(runs, tests, windows, use_entropy=use_entropy)
        else:
            results = evaluate_loro(runs, windows, use_entropy=use_entropy)
        summary = summarise_loro(results)
    title = f"Early warning, transfer: fitted on {len(runs)} runs, scored on {len(tests)}" if tests else None
    write_table(results, out / f"early_{name}.csv")
    write_table(summary, out / f"early_{name}_summary.csv")
    write_text(out / f"early_{name}_summary.md", summary_markdown(summary))
    write_table(_runs_table(runs, tests), out / "early_runs.csv")
    save_figure(loro_figure(results, title=title), out / f"early_{name}_auroc")
    table = Table(title=literal(f"early warning, {'transfer' if tests else 'leave-one-run-out'} "
                                "(mean over held-out runs)"), title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("window", "model", "AUROC", "AP", "base rate"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in summary.itertuples():
        table.add_row(literal(f"{r.window:g}"), literal(r.model), literal(f"{r.auroc_mean:.3f}"),
                      literal(f"{r.ap_mean:.3f}"), literal(f"{r.base_rate:.3f}"))
    _out.print(table)
    _out.print(literal(f"wrote {out}/early_{name}.csv, early_{name}_summary.csv/.md, early_{name}_auroc.png, "
                       "early_runs.csv"))


def _runs_table(runs, tests):
    """One row per run: ``run_id, role`` (train / test; ``train`` for every leave-one-run-out run),
    the run's condition columns and ``path``."""
    import pandas as pd

    return pd.DataFrame([{"run_id": r.run_id, "role": role, **r.condition, "path": str(r.path)}
                         for role, group in (("train", runs), ("test", tests)) for r in group])


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def print_flagged(table, *, title: str, top: int) -> None:
    """The first ``top`` rows of a :func:`contested.report.early.flag_table` as a rich table (literal text).

    One line per item: the text and votes columns take the width the terminal has left and long
    cells end in "…" (the ``--out`` file holds them whole).
    """
    shown = table.head(top)
    has_h = "entropy" in table.columns
    rows = []
    for r in shown.itertuples():
        text = str(r.premise) + (f" ‖ {r.hypothesis}" if "hypothesis" in table.columns and isinstance(
            r.hypothesis, str) and r.hypothesis else "")
        status = "both" if r.status == "at risk, un-learnt" else r.status  # both: at risk and un-learnt
        rows.append([str(r.item_id), " ".join(text.split()), str(r.label), str(r.votes),
                     *([("" if r.entropy != r.entropy else f"{r.entropy:.2f}")] if has_h else []),
                     f"{r.risk:.2f}", "" if r.delta_loss != r.delta_loss else f"{r.delta_loss:+.3f}", status])
    heads = ["item", "text", "label", "votes", *(["H\n(nats)"] if has_h else []), "risk", "Δℓ\n(nats)", "status"]
    width = [max([len(h.split("\n")[-1]) for h in [head]] + [len(row[i]) for row in rows]) for i, head in enumerate(heads)]
    width[0], width[2] = min(width[0], 16), min(width[2], 16)
    spare = max(_out.width - (sum(width) - width[1] - width[3]) - 2 * len(heads), 24)
    width[3] = min(width[3], max(10, spare // 3))
    width[1] = min(width[1], max(12, spare - width[3]))
    rich_table = Table(title=literal(title), title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1),
                       collapse_padding=True, show_edge=False, pad_edge=False)
    for head, w in zip(heads, width, strict=True):
        rich_table.add_column(literal(head), justify="right" if head in ("risk", "Δℓ\n(nats)", "H\n(nats)") else "left",
                              no_wrap=True, width=w)
    for row in rows:
        rich_table.add_row(*(literal(_cut(cell, w)) for cell, w in zip(row, width, strict=True)))
    _out.print(rich_table)


def register(app_: typer.Typer) -> None:
    """Add ``early`` (group) and ``flag`` to the top-level app."""
    app_.add_typer(app, name="early")

    @app_.command("flag")
    def flag_cmd(
        run_dir: Annotated[Path, typer.Argument(metavar="RUN", help="A finished run directory.", show_default=False)],
        top: Annotated[int, typer.Option("--top", min=0, help="Rows to print (the --out file holds all).")] = 20,
        out: Annotated[Optional[Path], typer.Option("--out", help="Write the flagged items to this .csv, "  # noqa: UP045
                                                    ".parquet or .jsonl.", show_default=False)] = None,
        predictor: Annotated[Optional[Path], typer.Option(  # noqa: UP045
            "--predictor", help="Predictor file (`contested early fit`); default: the run's recorded "
            "early_warning.parquet, else the shipped predictor (fitted on the project's MiniLM-L6 "
            "ChaosNLI-SNLI runs).", show_default=False)] = None,
        window: Annotated[Optional[float], typer.Option(  # noqa: UP045
            "--window", help="Window of the predictor to use when the file holds several.", show_default=False)] = None,
        threshold: Annotated[Optional[float], typer.Option(  # noqa: UP045
            "--threshold", min=0.0, max=1.0, help="Risk cutoff of 'at risk' (default: the predictor's).",
            show_default=False)] = None,
        show_all: Annotated[bool, typer.Option("--all", help="Every tracked item, not only the flagged.")] = False,
    ) -> None:
        """Items of a run at risk of un-learning (predicted) or un-learnt (loss ended above step 0).

        With their text, label names, annotation entropy when known, risk and observed Δℓ, highest
        risk first.
        """
        from contested.dynamics.early_model import load_predictor
        from contested.io import write_table
        from contested.report.early import flag_table
        from contested.report.runs import load_run

        pred = load_predictor(predictor, window=window) if predictor is not None else None
        run = load_run(run_dir, logits=True)
        table, source = flag_table(run, predictor=pred, threshold=threshold, include_all=show_all)
        if out is not None:
            write_table(table, out)
        n_risk, n_un = int(table["at_risk"].sum()), int(table["unlearned"].sum())
        print_flagged(table, top=top, title=f"{n_risk:,} at risk, {n_un:,} un-learnt "
                                            f"(of {int((run.items['split'] == 'tracked').sum()):,} tracked items)")
        _err.print(literal(f"risk from {source}"), soft_wrap=True)
        if out is not None:
            _out.print(literal(f"wrote {len(table):,} rows to {out}"))
