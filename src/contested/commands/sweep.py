"""`contested sweep FILE`: expand a sweep file, show its plan, run what is missing."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from contested.commands.schema import build, config_command, keyword
from contested.experiments.options import SweepOptions

_out = Console(highlight=False, emoji=False)
_err = Console(stderr=True, highlight=False, emoji=False)
_STYLE = {"done": "green", "pending": "yellow", "failed": "red"}


def register(app: typer.Typer) -> None:
    """Add ``contested sweep`` to the top-level app (one flag per :class:`SweepOptions` field)."""
    extra = [
        keyword("file", Path, typer.Argument(metavar="FILE", help="Sweep file (YAML), e.g. configs/paper.yaml.")),
        keyword("dry_run", bool, typer.Option(False, "--dry-run",
                                              help="Show the plan (runs, ids, status) and run nothing.")),
    ]
    config_command(app, "sweep", SweepOptions, sweep, extra=extra,
                   help="Run every run of a sweep file that has no DONE marker; record failures and carry on. "
                        "Killing it at any moment and starting it again finishes the sweep with the same "
                        "results. Exits 1 when a run failed (its error is in <runs_dir>/<run_id>/ERROR).")


def sweep(flags: dict, *, file: Path, dry_run: bool = False) -> None:
    """Expand ``file``, show its plan, and run what is missing with the options in ``flags``."""
    from contested.experiments.runner import plan_sweep, run_sweep, runs_to_do
    from contested.experiments.sweep import load_sweep
    from contested.rundir import ERROR, count_states

    options = build(SweepOptions, flags, from_flags=set(flags))
    executor, force = options.executor, options.force
    plan = load_sweep(file, runs_dir=options.runs_dir)
    states = plan_sweep(plan)
    counts = count_states(states)
    todo = runs_to_do(plan, states, force=force)
    if dry_run:
        _out.print(_plan_table(plan, states))
    extra = f" ({plan.duplicates} duplicate(s) dropped)" if plan.duplicates else ""
    _out.print(f"sweep [bold]{escape(plan.name)}[/]: {len(plan.runs)} runs{extra} in {escape(str(plan.runs_dir))} — "
               f"{counts['done']} done, {counts['pending']} pending, {counts['failed']} failed; "
               f"{'would run' if dry_run else 'running'} {len(todo)}"
               + (f" with the {executor} executor" if not dry_run and todo else ""), soft_wrap=True)
    if dry_run or not todo:
        return

    executor_options = {"address": options.ray_address} if executor == "ray" else {}
    with _progress() as progress:
        task = progress.add_task(escape(plan.name), total=len(todo), current="starting")

        def on_start(run) -> None:
            progress.update(task, current=escape(run.label))

        def on_finish(outcome) -> None:
            progress.update(task, advance=1, current=f"last: {escape(outcome.label)}")
            if outcome.status == "done":
                progress.console.print(f"[green]✓[/] {escape(outcome.label)} [dim]{outcome.run_id}[/] "
                                       f"{outcome.seconds:.0f} s")
            else:
                progress.console.print(f"[red]✗[/] {escape(outcome.label)} [dim]{outcome.run_id}[/]: {escape(str(outcome.error))}")

        result = run_sweep(plan, executor=executor, force=force, on_start=on_start, on_finish=on_finish,
                           **executor_options)
    after = count_states(plan_sweep(plan))
    _out.print(f"sweep [bold]{escape(plan.name)}[/]: {after['done']}/{len(plan.runs)} done, "
               f"{len(result.outcomes) - len(result.failed)} finished now, {len(result.failed)} failed",
               soft_wrap=True)
    if result.failed:
        for outcome in result.failed:
            _err.print(f"[red]failed[/] {escape(outcome.label)} ({escape(str(result.runs_dir / outcome.run_id / ERROR))}): "
                       f"{escape(str(outcome.error))}", soft_wrap=True)
        raise typer.Exit(code=1)


def _plan_table(plan, states) -> Table:
    table = Table(title=escape(f"{plan.name}: {plan.description}" if plan.description else plan.name))
    longest = max((len(r.label) for r in plan.runs), default=3)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("run", min_width=min(longest, 40))
    table.add_column("id", no_wrap=True, min_width=12)
    table.add_column("status", no_wrap=True)
    errors = any(state.error for state in states)
    if errors:
        table.add_column("error", overflow="fold")
    for i, (run, state) in enumerate(zip(plan.runs, states, strict=True), start=1):
        row = [str(i), escape(run.label), run.run_id, f"[{_STYLE[state.status.value]}]{state.status.value}[/]"]
        error = state.error or ""
        if len(error) > 200:  # the whole message and traceback are in the run's ERROR file
            error = error[:199] + "…"
        table.add_row(*row, *([escape(error)] if errors else []))
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
