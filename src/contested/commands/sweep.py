"""`contested sweep FILE`: expand a sweep file, show its plan, run what is missing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from contested.errors import ContestedError

_out = Console(highlight=False)
_err = Console(stderr=True, highlight=False)
_STYLE = {"done": "green", "pending": "yellow", "failed": "red"}


def register(app: typer.Typer) -> None:
    """Add ``contested sweep`` to the top-level app."""
    app.command("sweep")(sweep)


def sweep(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Sweep file (YAML), e.g. configs/paper.yaml.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan (runs, ids, status) and run nothing.")]
    = False,
    executor: Annotated[str, typer.Option("--executor", help="local (sequential, in this process) or ray "
                                          "(one Ray task per run, with the file's resources).")] = "local",
    ray_address: Annotated[str | None, typer.Option(
        "--ray-address", help="Join this Ray cluster (with --executor ray); default: a local Ray instance.",
        show_default=False)] = None,
    runs_dir: Annotated[Path | None, typer.Option(
        "--runs-dir", help="Where run directories go (default: the file's runs_dir, else runs/<name>).",
        show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Rerun finished runs too.")] = False,
) -> None:
    """Run every run of a sweep file that has no DONE marker; record failures and carry on.

    Killing it at any moment and starting it again finishes the sweep with the same results.
    Exits 1 when a run failed (its error is in <runs_dir>/<run_id>/ERROR).
    """
    from contested.experiments.executors import EXECUTORS
    from contested.experiments.plan import count_states
    from contested.experiments.runner import plan_sweep, run_sweep, runs_to_do
    from contested.experiments.sweep import load_sweep

    if executor not in EXECUTORS:
        raise ContestedError(f"--executor: unknown executor '{executor}'; choose one of {', '.join(EXECUTORS)}")
    if ray_address is not None and executor != "ray":
        raise ContestedError("--ray-address needs --executor ray")
    plan = load_sweep(file, runs_dir=runs_dir)
    states = plan_sweep(plan)
    counts = count_states(states)
    todo = runs_to_do(plan, states, force=force)
    if dry_run:
        _out.print(_plan_table(plan, states))
    extra = f" ({plan.duplicates} duplicate(s) dropped)" if plan.duplicates else ""
    _out.print(f"sweep [bold]{plan.name}[/]: {len(plan.runs)} runs{extra} in {plan.runs_dir} — "
               f"{counts['done']} done, {counts['pending']} pending, {counts['failed']} failed; "
               f"{'would run' if dry_run else 'running'} {len(todo)}"
               + (f" with the {executor} executor" if not dry_run and todo else ""), soft_wrap=True)
    if dry_run or not todo:
        return

    options = {"address": ray_address} if executor == "ray" else {}
    with _progress() as progress:
        task = progress.add_task(plan.name, total=len(todo), current="starting")

        def on_start(run) -> None:
            progress.update(task, current=run.label)

        def on_finish(outcome) -> None:
            progress.update(task, advance=1, current=f"last: {outcome.label}")
            if outcome.status == "done":
                progress.console.print(f"[green]✓[/] {outcome.label} [dim]{outcome.run_id}[/] "
                                       f"{outcome.seconds:.0f} s")
            else:
                progress.console.print(f"[red]✗[/] {outcome.label} [dim]{outcome.run_id}[/]: {outcome.error}")

        result = run_sweep(plan, executor=executor, force=force, on_start=on_start, on_finish=on_finish,
                           **options)
    after = count_states(plan_sweep(plan))
    _out.print(f"sweep [bold]{plan.name}[/]: {after['done']}/{len(plan.runs)} done, "
               f"{len(result.outcomes) - len(result.failed)} finished now, {len(result.failed)} failed",
               soft_wrap=True)
    if result.failed:
        for outcome in result.failed:
            _err.print(f"[red]failed[/] {outcome.label} ({result.runs_dir / outcome.run_id / 'ERROR'}): "
                       f"{outcome.error}", soft_wrap=True)
        raise typer.Exit(code=1)


def _plan_table(plan, states) -> Table:
    table = Table(title=f"{plan.name}: {plan.description}" if plan.description else plan.name)
    longest = max((len(r.label) for r in plan.runs), default=3)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("run", min_width=min(longest, 40))
    table.add_column("id", no_wrap=True, min_width=12)
    table.add_column("status", no_wrap=True)
    errors = any(state.error for state in states)
    if errors:
        table.add_column("error", overflow="fold")
    for i, (run, state) in enumerate(zip(plan.runs, states, strict=True), start=1):
        row = [str(i), run.label, run.run_id, f"[{_STYLE[state.status.value]}]{state.status.value}[/]"]
        error = state.error or ""
        if len(error) > 200:  # the whole message and traceback are in the run's ERROR file
            error = error[:199] + "…"
        table.add_row(*row, *([error] if errors else []))
    return table


def _progress():
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[current]}"),
                    console=_err)
