"""``contested train``: one run from flags and/or a YAML file.

Every flag is exactly one config field (``RecordConfig.snapshot_every`` → ``--snapshot-every``,
``MethodConfig.rank`` → ``--rank``); :data:`FLAGS` lists them and a test keeps it in step with
the dataclasses.
``--config run.yaml`` gives a ``RunConfig`` mapping; flags given on the command line override it.
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any, Optional

import typer

# Import-light: the dataclasses only (torch/transformers load inside the command).
from contested.errors import located


@dataclasses.dataclass(frozen=True)
class Flag:
    """One CLI flag ↔ one config field (``path`` = ``("train", "lr")`` or ``("model",)``)."""

    name: str
    path: tuple[str, ...]
    kind: Any
    help: str


_S, _I, _F, _B, _L = str, int, float, bool, list[str]

#: Every flag of ``contested train`` and the config field it sets. Kept explicit so that the CLI
#: starts without importing torch; ``tests/test_train_cli.py`` checks it against the dataclasses
#: (every field has exactly one flag of its type, and no flag lacks a field).
FLAGS: tuple[Flag, ...] = tuple(Flag(n, tuple(p.split(".")), k, h) for n, p, k, h in [
    ("model", "model", _S, "Registry name (minilm-l6, roberta-base, …), HF id or local model folder."),
    ("method", "method.method", _S, "Fine-tuning method: full | lora | ia3."),
    ("rank", "method.rank", _I, "LoRA rank r."),
    ("alpha", "method.alpha", _F, "LoRA alpha (default 2·rank: scale 2 at every rank, the study's)."),
    ("dropout", "method.dropout", _F, "LoRA dropout probability."),
    ("target_modules", "method.target_modules", _L,
     "Module-name suffixes to adapt (repeat or comma-separate); default: the architecture's."),
    ("use_rslora", "method.use_rslora", _B, "Rank-stabilised LoRA (scale alpha/sqrt(r))."),
    ("use_dora", "method.use_dora", _B, "Weight-decomposed LoRA (DoRA)."),
    ("dataset", "data.dataset", _S,
     "Multi-annotator dataset: chaosnli-snli | chaosnli-mnli | chaosnli-alphanli | lewidi-* | a file."),
    ("bulk_source", "data.bulk_source", _S, "Bulk training data (default: the dataset's, e.g. snli-train-sample)."),
    ("bulk", "data.bulk", _I, "Number of bulk items, drawn once with --data-seed."),
    ("tracked_fraction", "data.tracked_fraction", _F,
     "Share of the multi-annotator items trained on and tracked (the rest validates)."),
    ("split_seed", "data.split_seed", _I, "Seed of the stratified tracked/validation split."),
    ("data_seed", "data.data_seed", _I, "Seed of the bulk and held-out draws."),
    ("training_label", "data.training_label", _S,
     "Label of tracked items: majority | old | soft (soft also needs --soft-labels)."),
    ("heldout", "data.heldout", _I, "Held-out bulk items for task accuracy."),
    ("max_tracked", "data.max_tracked", _I, "Cap on tracked items (stratified subsample), for smoke runs."),
    ("noise_rate", "data.noise.rate", _F,
     "Share of eligible tracked items whose training label is flipped (0: no noise; the study: 0.3, 0.6)."),
    ("noise_kind", "data.noise.kind", _S, "symmetric (uniform other class) | pair (class permutation) | human."),
    ("noise_bins", "data.noise.bins", _L, "Entropy bins whose tracked items may be flipped (default: clean)."),
    ("noise_seed", "data.noise.seed", _I, "Seed of the flipped items and their new labels."),
    ("noise_pair_map", "data.noise.pair_map", _L, "pair noise: class c becomes pair_map[c] (comma-separated)."),
    ("data_dir", "data.data_dir", _S, "Data folder (default $CONTESTED_DATA_DIR, then the user cache)."),
    ("lr", "train.lr", _F, "Peak learning rate (study 2e-5; CPU-scale runs need 1e-4 to 1e-3)."),
    ("weight_decay", "train.weight_decay", _F, "AdamW weight decay."),
    ("batch_size", "train.batch_size", _I, "Effective batch size (items per optimiser step)."),
    ("device_batch_size", "train.device_batch_size", _I,
     "Items per forward pass; gradient accumulation makes up --batch-size."),
    ("epochs", "train.epochs", _I, "Passes over the training mixture."),
    ("warmup_ratio", "train.warmup_ratio", _F, "Share of steps with linear warm-up."),
    ("min_lr_rate", "train.min_lr_rate", _F, "Cosine floor as a share of --lr."),
    ("max_grad_norm", "train.max_grad_norm", _F, "Gradient clipping norm (0: off)."),
    ("max_length", "train.max_length", _I, "Tokens per item after truncation."),
    ("seed", "train.seed", _I, "Run seed: head and adapter init, dropout, batch order."),
    ("class_weighted", "train.class_weighted", _B, "Inverse-class-frequency weighted training loss."),
    ("soft_labels", "train.soft_labels", _B,
     "Train on KL to the annotator distribution (with --training-label soft)."),
    ("padding", "train.padding", _S,
     "longest (per batch) | max_length (always --max-length, the reference code's)."),
    ("group_by_length", "train.group_by_length", _B, "Batches of similar length."),
    ("bf16", "train.bf16", _B, "bfloat16 mixed precision (GPU)."),
    ("dtype", "train.dtype", _S, "Weights dtype when loading: float32 | bfloat16 | float16."),
    ("device", "train.device", _S, "auto | cpu | cuda | mps."),
    ("optim", "train.optim", _S, "HF optimiser name (adamw_torch = AdamW)."),
    ("logging_steps", "train.logging_steps", _I, "Optimiser steps between training-loss log entries."),
    ("full_determinism", "train.full_determinism", _B, "Deterministic torch kernels (slower on GPU)."),
    ("tf32", "train.tf32", _B, "TensorFloat-32 matmuls (Ampere+ NVIDIA GPUs only)."),
    ("torch_compile", "train.torch_compile", _B, "torch.compile the model (GPUs; pays off on long runs)."),
    ("snapshot_every", "record.snapshot_every", _I, "Optimiser steps between eval-mode snapshots."),
    ("snapshot_start", "record.snapshot_start", _B, "Snapshot at step 0."),
    ("snapshot_epoch_end", "record.snapshot_epoch_end", _B, "Snapshot at every epoch end."),
    ("inflight", "record.inflight", _B, "Record the training-forward losses of tracked items."),
    ("eval_batch_size", "record.eval_batch_size", _I, "Items per snapshot forward pass."),
    ("heldout_eval", "record.heldout_eval", _B, "Held-out accuracy at every epoch end."),
])


def _option(fl: Flag) -> inspect.Parameter:
    cli = "--" + fl.name.replace("_", "-")
    decl = [f"{cli}/--no-{cli[2:]}"] if fl.kind is bool else [cli]
    default = typer.Option(None, *decl, help=fl.help, rich_help_panel=fl.path[0] if len(fl.path) > 1 else None)
    return inspect.Parameter(f"f_{'__'.join(fl.path)}", inspect.Parameter.KEYWORD_ONLY,
                             default=default, annotation=Optional[fl.kind])  # noqa: UP045 (typer needs it)


def load_yaml(path: Path) -> dict[str, Any]:
    """Read a RunConfig mapping from YAML; syntax errors name the file and line."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise located(path, f"cannot read the config file ({exc.strerror}); check --config") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise located(path, f"not valid YAML ({getattr(exc, 'problem', exc)})",
                      line=mark.line + 1 if mark else None) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise located(path, "must be a mapping of RunConfig fields (model, method, data, train, record)")
    return data


def resolve_config(values: dict[tuple[str, ...], Any], config_file: Path | None) -> Any:
    """RunConfig from a YAML file (optional) overridden by the flags given (non-None values)."""
    from contested.train.config import RunConfig

    data = load_yaml(config_file) if config_file else {}
    for path, value in values.items():
        if value is None:
            continue
        if isinstance(value, list):
            value = tuple(v.strip() for item in value for v in item.split(",") if v.strip())
        section = data
        for depth, key in enumerate(path[:-1]):  # nested sections: data.noise.rate
            section = section.setdefault(key, {})
            if not isinstance(section, dict):
                raise located(config_file, f"'{'.'.join(path[:depth + 1])}' must be a mapping")
        section[path[-1]] = value
    return RunConfig.from_dict(data, where=str(config_file) if config_file else "flags")


def register(app: typer.Typer) -> None:
    """Add ``contested train`` to the top-level app."""
    all_flags = FLAGS

    def train(**kwargs: Any) -> None:
        from rich.console import Console

        err = Console(stderr=True)
        values = {fl.path: kwargs[f"f_{'__'.join(fl.path)}"] for fl in all_flags}
        cfg = resolve_config(values, kwargs["config_file"])
        if kwargs["dry_run"]:
            import json

            typer.echo(json.dumps(cfg.to_dict(), indent=2, sort_keys=True))
            typer.echo(str(Path(kwargs["runs_dir"]) / cfg.digest()))
            return
        from contested.train.pipeline import run
        from contested.train.rundir import is_finished

        target = Path(kwargs["runs_dir"]) / cfg.digest()
        if is_finished(target) and not kwargs["force"]:
            err.print(f"already finished: {target} (use --force to redo)", highlight=False)
            typer.echo(str(target))
            return
        out = run(cfg, runs_dir=kwargs["runs_dir"], force=kwargs["force"], progress=not kwargs["quiet"])
        err.print(_summary(out), highlight=False)
        typer.echo(str(out))

    params = [
        inspect.Parameter("config_file", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[Path],  # noqa: UP045
                          default=typer.Option(None, "--config", help="YAML file with a RunConfig mapping; flags override it.")),
        inspect.Parameter("runs_dir", inspect.Parameter.KEYWORD_ONLY, annotation=Path,
                          default=typer.Option(Path("runs"), "--runs-dir", help="Parent folder of run directories.")),
        inspect.Parameter("force", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                          default=typer.Option(False, "--force", help="Redo a finished run.")),
        inspect.Parameter("quiet", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                          default=typer.Option(False, "--quiet", help="No progress bars.")),
        inspect.Parameter("dry_run", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                          default=typer.Option(False, "--dry-run", help="Print the resolved config and run directory; train nothing.")),
        *(_option(fl) for fl in all_flags),
    ]
    train.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    train.__annotations__ = {p.name: p.annotation for p in params}
    app.command(
        "train",
        help="Fine-tune a model on a training mixture and record per-item learning dynamics into "
             "RUNS_DIR/<config hash>/ (a finished config is a no-op unless --force).",
    )(train)


def _summary(run_dir: Path) -> str:
    import json

    m = json.loads((run_dir / "metrics.json").read_text())
    final = m.get("final") or {}

    def fmt(x: Any) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    return (f"done: val acc {fmt(final.get('val_accuracy'))}, held-out acc "
            f"{fmt(final.get('heldout_accuracy'))}, {m['n_snapshots']} snapshots, "
            f"{m['wall_time_s']:.0f} s")


__all__ = ["FLAGS", "Flag", "load_yaml", "register", "resolve_config"]
