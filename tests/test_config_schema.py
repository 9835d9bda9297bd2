"""The config schema is the one source of every option: CLI flags, YAML keys, help, errors, layering."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cli_helpers import run_cli
from contested.config import ConfigError
from contested.config_tree import leaves
from contested.experiments.demo import DemoConfig
from contested.experiments.options import SweepOptions
from contested.experiments.sweep import Resources, expand
from contested.train.config import RunConfig

SRC = Path(__file__).resolve().parents[1] / "src" / "contested"
ERROR_LINE = re.compile(r"^error: (?:\S+?(?::\d+)?: )?(?P<field>[a-z_]+(?:\.[a-z_]+)*)(?: \((?P<flag>--[a-z-]+)\))?: \S")


def _help(capsys, monkeypatch, command: str) -> str:
    monkeypatch.setenv("COLUMNS", "300")  # rich elides long flags in a narrow terminal
    code, out, _ = run_cli(capsys, command, "--help")
    assert code == 0
    return re.sub(r"[\s│]+", " ", out)  # rich wraps help text across lines and boxes


@pytest.mark.parametrize(("command", "cls"), [("train", RunConfig), ("demo", DemoConfig), ("sweep", SweepOptions)])
def test_every_field_is_a_flag_whose_help_is_its_declaration(command, cls, capsys, monkeypatch):
    text = _help(capsys, monkeypatch, command)
    for leaf in leaves(cls):
        assert leaf.flag in text, leaf.dotted
        assert " ".join(leaf.help.split()[:4]) in text, leaf.dotted  # the declaration's words, not a copy


def test_flags_are_unique_and_named_after_their_field():
    flags = [leaf.flag for leaf in leaves(RunConfig)]
    assert len(flags) == len(set(flags))
    for leaf in leaves(RunConfig):
        assert leaf.flag.endswith(leaf.name.replace("_", "-"))


def test_every_flag_with_a_default_round_trips_through_the_cli(capsys):
    argv = []
    for leaf in leaves(RunConfig):
        if leaf.default is None:
            continue
        if leaf.kind.scalar is bool and not leaf.kind.sequence:
            argv.append(leaf.flag if leaf.default else f"--no-{leaf.flag[2:]}")
        elif leaf.kind.sequence:
            argv += [leaf.flag, ",".join(map(str, leaf.default))]
        else:
            argv += [leaf.flag, str(leaf.default)]
    code, out, err = run_cli(capsys, "train", *argv, "--dry-run")
    assert code == 0, err
    resolved = json.loads(out.rsplit("\n", 2)[0])
    assert resolved == RunConfig().to_dict()


def test_every_field_is_a_sweep_key_nested_and_dotted():
    base = {leaf.dotted: (list(leaf.default) if isinstance(leaf.default, tuple) else leaf.default)
            for leaf in leaves(RunConfig) if leaf.default is not None}
    runs, _ = expand({"base": base})
    assert runs[0].config == RunConfig()
    nested = {"train": {"lr": 3e-4}, "data": {"noise": {"rate": 0.3}}, "record.snapshot_every": 7}
    (run,), _ = expand({"base": nested})
    assert (run.config.train.lr, run.config.data.noise.rate, run.config.record.snapshot_every) == (3e-4, 0.3, 7)


# --- one error format --------------------------------------------------------------------------

CLI_CASES = [
    (["train", "--lr", "-1"], "train.lr", "--lr"),
    (["train", "--lr", "fast"], "train.lr", "--lr"),
    (["train", "--rank", "0"], "method.rank", "--rank"),
    (["train", "--rank", "2.5"], "method.rank", "--rank"),
    (["train", "--method", "prefix"], "method.method", "--method"),
    (["train", "--dropout", "1"], "method.dropout", "--dropout"),
    (["train", "--alpha", "0"], "method.alpha", "--alpha"),
    (["train", "--batch-size", "0"], "train.batch_size", "--batch-size"),
    (["train", "--device-batch-size", "5"], "train.device_batch_size", "--device-batch-size"),
    (["train", "--warmup-ratio", "1"], "train.warmup_ratio", "--warmup-ratio"),
    (["train", "--device", "tpu"], "train.device", "--device"),
    (["train", "--padding", "none"], "train.padding", "--padding"),
    (["train", "--snapshot-every", "0"], "record.snapshot_every", "--snapshot-every"),
    (["train", "--eval-batch-size", "-2"], "record.eval_batch_size", "--eval-batch-size"),
    (["train", "--bulk", "-1"], "data.bulk", "--bulk"),
    (["train", "--tracked-fraction", "1.5"], "data.tracked_fraction", "--tracked-fraction"),
    (["train", "--training-label", "gold"], "data.training_label", "--training-label"),
    (["train", "--max-tracked", "2"], "data.max_tracked", "--max-tracked"),
    (["train", "--noise-rate", "2"], "data.noise.rate", "--noise-rate"),
    (["train", "--noise-kind", "random"], "data.noise.kind", "--noise-kind"),
    (["train", "--noise-pair-map", "0,1,2"], "data.noise.pair_map", "--noise-pair-map"),
    (["train", "--use-dora", "--method", "full"], "method.use_dora", "--use-dora"),
    (["train", "--soft-labels"], "train.soft_labels", "--soft-labels"),
    (["demo", "--lora-lr", "0"], "demo.lora_lr", "--lora-lr"),
    (["demo", "--epochs", "zero"], "demo.epochs", "--epochs"),
    (["sweep", "configs/cpu-repro.yaml", "--executor", "slurm"], "sweep.executor", "--executor"),
]


@pytest.mark.parametrize(("argv", "field", "flag"), CLI_CASES, ids=[" ".join(c[0][1:]) for c in CLI_CASES])
def test_invalid_flag_is_one_line_naming_field_and_flag(argv, field, flag, capsys, tmp_path):
    extra = ["--dry-run"] if argv[0] in ("train", "sweep") else ["--out", str(tmp_path / "demo")]
    code, out, err = run_cli(capsys, *argv, *extra)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    match = ERROR_LINE.match(err.strip())
    assert match and match["field"] == field and match["flag"] == flag, err
    assert not (tmp_path / "demo").exists()


YAML_CASES = [
    ("train:\n  lr: -1\n", "train.lr", 2),
    ("train.epochs: 0\n", "train.epochs", 1),
    ("method: {method: lora, rank: 0}\n", "method.rank", 1),
    ("data:\n  noise:\n    rate: 1.5\n", "data.noise.rate", 3),
    ("record:\n  snapshot_every: many\n", "record.snapshot_every", 2),
    ("data:\n  bins_x: 1\n", None, 2),
]


@pytest.mark.parametrize(("text", "field", "line"), YAML_CASES)
def test_invalid_yaml_value_is_one_line_naming_file_line_and_field(text, field, line, capsys, tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    code, out, err = run_cli(capsys, "train", "--config", str(path), "--dry-run")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"error: {path}:{line}: ")
    if field:
        assert f": {field}: " in err


def test_config_error_is_the_same_from_python():
    with pytest.raises(ConfigError, match=r"^resources\.num_gpus: must be ≥ 0 \(got -1\.0\)$"):
        Resources(num_gpus=-1)
    with pytest.raises(ConfigError) as exc:
        RunConfig.from_dict({"train": {"lr": "0"}})
    assert exc.value.field == "train.lr" and exc.value.render(flag="--lr").startswith("train.lr (--lr): ")


def test_text_values_are_coerced_once_for_every_field():
    cfg = RunConfig.from_dict({"train": {"lr": "1e-3", "class_weighted": "false", "epochs": "2"},
                               "method": {"target_modules": "query, value"},
                               "data": {"noise": {"pair_map": ["1,2", "0"], "bins": "clean,contested"}}})
    assert cfg.train.lr == 1e-3 and cfg.train.class_weighted is False and cfg.train.epochs == 2
    assert cfg.method.target_modules == ("query", "value")
    assert cfg.data.noise.pair_map == (1, 2, 0) and cfg.data.noise.bins == ("clean", "contested")


# --- layering ----------------------------------------------------------------------------------

LAYERS = [  # bottom to top; a module may import its own layer and the ones below
    {"errors", "io", "config", "config_tree", "provenance", "rundir", "_lazy", "yamlfile", "__init__"},
    {"data"}, {"dynamics", "stats"}, {"models"}, {"train"}, {"report"}, {"experiments"},
    {"commands"}, {"cli"},
]


def _layer(module: str) -> int:
    top = module.split(".")[1] if module.count(".") else "__init__"
    return next(i for i, names in enumerate(LAYERS) if top in names)


def test_no_module_imports_a_layer_above_it():
    upward = []
    for path in sorted(SRC.rglob("*.py")):
        module = "contested." + ".".join(path.relative_to(SRC).with_suffix("").parts)
        here = _layer(module)
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module] if isinstance(node, ast.ImportFrom) and node.module else
                     [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                if name.startswith("contested.") and _layer(name) > here:
                    upward.append(f"{module} -> {name}")
    assert not upward


def test_schema_and_analysis_layers_import_without_torch():
    modules = sorted("contested." + ".".join(p.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
                     for pkg in ("data", "dynamics", "stats") for p in (SRC / pkg).rglob("*.py"))
    modules += ["contested." + ".".join(p.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
                for p in (SRC / "rundir").glob("*.py")]
    modules += ["contested.config", "contested.config_tree", "contested.yamlfile", "contested.models.config",
                "contested.train.config", "contested.experiments.demo", "contested.experiments.options",
                "contested.experiments.sweep", "contested.commands.schema"]
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "heavy = sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules)\n"
            "assert not heavy, heavy\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_a_field_added_later_keeps_old_run_ids_at_its_default():
    from contested.config import Config, configclass, option

    @configclass
    class Before(Config):
        a: int = option(1, help="An old field.")

    @configclass
    class After(Config):
        a: int = option(1, help="An old field.")
        b: float = option(0.0, help="A new field.", added="0.2")

    assert After().digest() == Before().digest()  # runs recorded before `b` existed keep their names
    assert After(b=0.1).digest() != Before().digest()
    assert After().to_dict() == {"a": 1, "b": 0.0}  # config.json still records it
    assert After.from_dict(Before().to_dict()) == After()  # an old config.json reads back as the default
