"""`contested sweep FILE`: expand a sweep file, show its plan, run what is missing."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from contested.commands import console
from contested.commands.schema import build, config_command, keyword
from contested.experiments.options import SweepOptions
from contested.rundir.layout import ERROR

_out = console()
_err = console(stderr=True)
_STYLE = {"done": "green", "pending": "yellow", "failed": "red"}
#: Characters of a failed run's error shown in the ``--dry-run`` table (its ERROR file holds the rest).
ERROR_WIDTH = 80


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
                        "results. Several sweep processes on one runs directory (terminals, cluster jobs) "
                        "share the runs: each run is claimed and trained once, runs held by another live "
                        "process are waited for at the end. Exits 1 when a run failed (its error is in "
                        "<runs_dir>/<run_id>/ERROR).")


def sweep(flags: dict, *, file: Path, dry_run: bool = False) -> None:
    """Expand ``file``, show its plan, and run what is missing with the options in ``flags``."""
    from contested.experiments.claims.record import live_claims
    from contested.experiments.runner import plan_sweep, run_sweep, runs_to_do
    from contested.experiments.sweep import load_sweep
    from contested.rundir.state import count_states

    options = build(SweepOptions, flags, from_flags=set(flags))
    executor, force = options.executor, options.force
    plan = load_sweep(file, runs_dir=options.runs_dir)
    states = plan_sweep(plan)
    counts = count_states(states)
    todo = runs_to_do(plan, states, force=force)
    held = live_claims(plan.runs_dir, (s.run_id for s in states if s.status.value != "done"),
                       timeout=options.claim_timeout)
    if dry_run:
        _out.print(_plan_table(plan, states, held))
    extra = f" ({plan.duplicates} duplicate(s) dropped)" if plan.duplicates else ""
    running = f", {len(held)} of them running in other processes" if held else ""
    _out.print(f"sweep [bold]{escape(plan.name)}[/]: {len(plan.runs)} runs{extra} in {escape(str(plan.runs_dir))} — "
               f"{counts['done']} done, {counts['pending']} pending, {counts['failed']} failed{running}; "
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
            where = "" if outcome.here else f" [dim](by {escape(str(outcome.by))})[/]"
            if outcome.status == "done" and outcome.here:
                progress.console.print(f"[green]✓[/] {escape(outcome.label)} [dim]{outcome.run_id}[/] "
                                       f"{outcome.seconds:.0f} s")
            elif outcome.status == "done":
                progress.console.print(f"[green]·[/] {escape(outcome.label)} [dim]{outcome.run_id}[/] done{where}")
            else:
                progress.console.print(f"[red]✗[/] {escape(outcome.label)} [dim]{outcome.run_id}[/]{where}: "
                                       f"{escape(str(outcome.error))}")

        def on_wait(run, claim) -> None:
            progress.console.print(f"[cyan]…[/] {escape(run.label)} [dim]{run.run_id}[/] is running in another "
                                   f"process ({escape(claim.describe())}); waiting for it after the other runs")

        result = run_sweep(plan, executor=executor, force=force, on_start=on_start, on_finish=on_finish,
                           on_wait=on_wait, claim_timeout=options.claim_timeout, **executor_options)
    after = count_states(plan_sweep(plan))
    here = [o for o in result.outcomes if o.here]
    others = f", {len(result.elsewhere)} by other processes" if result.elsewhere else ""
    _out.print(f"sweep [bold]{escape(plan.name)}[/]: {after['done']}/{len(plan.runs)} done, "
               f"{sum(o.status == 'done' for o in here)} finished now{others}, {len(result.failed)} failed",
               soft_wrap=True)
    if result.failed:
        for outcome in result.failed:
            _err.print(f"[red]failed[/] {escape(outcome.label)} ({escape(str(result.runs_dir / outcome.run_id / ERROR))}): "
                       f"{escape(str(outcome.error))}", soft_wrap=True)
        raise typer.Exit(code=1)


def _plan_table(plan, states, held=None) -> Table:
    """The ``--dry-run`` table: one row per run; ``held`` maps run ids to live claims of other processes."""
    held = held or {}
    table = Table(title=escape(f"{plan.name}: {plan.description}" if plan.description else plan.name))
    longest = max((len(r.label) for r in plan.runs), default=3)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("run", min_width=min(longest, 40))
    table.add_column("id", no_wrap=True, min_width=12)
    table.add_column("status", min_width=7)  # "running (host, pid N, since …)" may wrap
    errors = any(state.error for state in states)
    if errors:
        table.add_column("error", overflow="fold")  # (a long ERROR path folds rather than vanishing)
    for i, (run, state) in enumerate(zip(plan.runs, states, strict=True), start=1):
        status = f"[{_STYLE[state.status.value]}]{state.status.value}[/]"
        claim = held.get(run.run_id) if state.status.value != "done" else None
        if claim is not None:
            status = f"[cyan]running[/] ({escape(claim.describe())})"
        row = [str(i), escape(run.label), run.run_id, status]
        error = error_cell(state.error, plan.runs_dir / run.run_id / ERROR) if state.error else ""
        table.add_row(*row, *([error] if errors else []))
    return table


def error_cell(error: str, path: Path, *, width: int = ERROR_WIDTH) -> str:
    """A failed run's error in the ``--dry-run`` table: its first line, cut to ``width`` characters,
    and (dim, below it) the ERROR file that holds the whole message and the traceback. Rich markup,
    the user's text escaped."""
    lines = error.strip().splitlines()
    first = lines[0] if lines else "failed (no message)"
    if len(first) > width:
        first = first[:width - 1] + "…"
    elif len(lines) > 1:
        first += " …"
    return f"{escape(first)}\n[dim]{escape(str(path))}[/]"


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
