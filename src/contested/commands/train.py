"""``contested train``: one run from flags and/or a YAML file.

Every flag is exactly one config field, generated from its declaration (``RecordConfig.snapshot_every``
→ ``--snapshot-every``, ``NoiseConfig.rate`` → ``--noise-rate``; :mod:`contested.commands.schema`).
``--config run.yaml`` gives ``RunConfig`` fields (nested or dotted, as a sweep file's ``base``);
flags given on the command line override it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from contested.commands.schema import build, config_command, keyword
from contested.train.config import RunConfig  # torch-free: the schema only


def resolve_config(flags: dict[str, Any], config_file: Path | None) -> RunConfig:
    """RunConfig from a YAML file (optional) overridden by the flags given.

    Parameters
    ----------
    flags
        ``{dotted path: value}`` of the flags given (e.g. ``{"train.lr": "3e-4"}``).
    config_file
        YAML mapping of RunConfig fields, or None.
    """
    from contested.errors import located
    from contested.experiments.spec import flatten
    from contested.yamlfile import line_of, load_yaml

    flat: dict[str, Any] = {}
    origins: dict[str, tuple] = {}
    lines: dict = {}
    where = "flags"
    if config_file is not None:
        where = str(config_file)
        data, lines = load_yaml(config_file, what="config file")
        if data is not None and not isinstance(data, dict):
            raise located(config_file, "must be a mapping of RunConfig fields (model, method, data, train, "
                                       "record)", line=1)
        flat = flatten(data or {}, where=config_file, lines=lines, key_path=(), origins=origins)
    flat.update(flags)
    return build(RunConfig, flat, from_flags=set(flags), where=where,
                 line_of=lambda field: line_of(lines, origins[field]) if field in origins else None)


def _train(flags: dict[str, Any], *, config_file: Path | None, runs_dir: Path, force: bool, quiet: bool,
           dry_run: bool) -> None:
    from contested.commands import console

    err = console(stderr=True)
    cfg = resolve_config(flags, config_file)
    target = runs_dir / cfg.digest()
    if dry_run:
        import json

        typer.echo(json.dumps(cfg.to_dict(), indent=2, sort_keys=True))
        typer.echo(str(target))
        return
    from contested.rundir.layout import is_finished
    from contested.train.pipeline import run

    if is_finished(target) and not force:
        err.print(f"already finished: {target} (use --force to redo)", markup=False)
        typer.echo(str(target))
        return
    out = run(cfg, runs_dir=runs_dir, force=force, progress=not quiet)
    err.print(_summary(out), markup=False)
    typer.echo(str(out))


def register(app: typer.Typer) -> None:
    """Add ``contested train`` to the top-level app."""
    extra = [
        keyword("config_file", Optional[Path],  # noqa: UP045 (typer reads typing.Optional)
                typer.Option(None, "--config", help="YAML file of RunConfig fields; flags override it.")),
        keyword("runs_dir", Path, typer.Option(Path("runs"), "--runs-dir", help="Parent folder of run directories.")),
        keyword("force", bool, typer.Option(False, "--force", help="Redo a finished run.")),
        keyword("quiet", bool, typer.Option(False, "--quiet", help="No progress bars.")),
        keyword("dry_run", bool, typer.Option(False, "--dry-run",
                                              help="Print the resolved config and run directory; train nothing.")),
    ]
    config_command(app, "train", RunConfig, _train, extra=extra,
                   help="Fine-tune a model on a training mixture and record per-item learning dynamics into "
                        "RUNS_DIR/<config hash>/ (a finished config is a no-op unless --force).")


def _summary(run_dir: Path) -> str:
    import json

    from contested.rundir.layout import METRICS

    m = json.loads((run_dir / METRICS).read_text())
    final = m.get("final") or {}

    def fmt(x: Any) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    return (f"done: val acc {fmt(final.get('val_accuracy'))}, held-out acc "
            f"{fmt(final.get('heldout_accuracy'))}, {m['n_snapshots']} snapshots, "
            f"{m['wall_time_s']:.0f} s{_early_summary(run_dir)}")


def _early_summary(run_dir: Path) -> str:
    """``, early warning: N of M tracked items at risk`` when the run recorded one (issue 13)."""
    from contested.rundir.layout import EARLY_WARNING

    path = run_dir / EARLY_WARNING
    if not path.is_file():
        return ""
    import pandas as pd

    table = pd.read_parquet(path, columns=["split", "at_risk"])
    tracked = table[table["split"] == "tracked"]
    return f"; early warning: {int(tracked['at_risk'].sum()):,} of {len(tracked):,} tracked items at risk ({path.name})"


__all__ = ["register", "resolve_config"]
