"""The ``contested`` command: a thin typer app over the library.

Each command group lives in :mod:`contested.commands`; this module only mounts them and turns
user-fixable errors into one line on stderr with a non-zero exit (no traceback).
"""

from __future__ import annotations

import sys

import typer
from rich.text import Text

from contested.commands import (
    analysis,
    console,
    data,
    demo,
    diagnose,
    early,
    export,
    importing,
    models,
    score,
    train,
)
from contested.commands import sweep as sweep_command
from contested.errors import ContestedError

app = typer.Typer(
    name="contested",
    help="Which training items will a LoRA fine-tune un-learn? Annotation entropy vs learning dynamics.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data.app, name="data")
app.add_typer(models.app, name="models")
train.register(app)
analysis.register(app)
demo.register(app)
sweep_command.register(app)
score.register(app)
early.register(app)
diagnose.register(app)
app.add_typer(export.app, name="export")
app.add_typer(importing.app, name="import")

_err = console(stderr=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``contested`` script."""
    try:
        app(args=argv, prog_name="contested", standalone_mode=True)
    except ContestedError as exc:
        # The message quotes user input (names, paths, file contents): never read it as markup.
        _err.print(Text.assemble(("error:", "bold red"), " ", str(exc)), soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        _err.print("[bold red]interrupted[/]")
        sys.exit(130)


if __name__ == "__main__":
    main()
