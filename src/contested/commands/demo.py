"""CLI commands for demo."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""

    @app.command()
    def demo() -> None:
        """Run the main job (not implemented yet)."""
        typer.echo("demo not implemented yet")
