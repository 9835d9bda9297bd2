"""Architecture coverage: tiny random models of 8 real HF config classes through every method.

The tiny folders are built once per session (real config classes, real trained tokenizers) and
loaded through the public path ``resolve_model`` + ``load_for_classification``.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from peft import PeftModel

from contested.errors import ContestedError
from contested.models import (
    TINY_MODEL_TYPES,
    MethodConfig,
    build_tiny_model_dir,
    load_for_classification,
    resolve_model,
    trainable_parameter_names,
)
from contested.models.tiny import LAYERS

EXPECTED_LORA = {
    "bert": {"query", "value"}, "roberta": {"query", "value"}, "distilbert": {"q_lin", "v_lin"},
    "deberta-v2": {"query_proj", "value_proj"}, "mpnet": {"q", "v"},
    "llama": {"q_proj", "v_proj"}, "qwen2": {"q_proj", "v_proj"}, "gemma3_text": {"q_proj", "v_proj"},
}
DECODERS = ("llama", "qwen2", "gemma3_text")


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return {mt: build_tiny_model_dir(mt, root / mt) for mt in TINY_MODEL_TYPES}


def _load(tiny_dirs, model_type, method=None, seed=0, num_labels=3):
    spec = resolve_model(str(tiny_dirs[model_type]))
    model, tok = load_for_classification(spec, num_labels=num_labels, method=method or MethodConfig(),
                                         seed=seed)
    return spec, model, tok


def _batch(spec, tok):
    premises = ["A man is sleeping on a bench.", "Two dogs run."]
    hypotheses = ["Nobody is outdoors.", "Animals are moving quickly in a field of grass."]
    if spec.text_template:
        texts = [spec.text_template.format(premise=p, hypothesis=h) for p, h in zip(premises, hypotheses, strict=True)]
        return tok(texts, padding=True, return_tensors="pt")
    return tok(premises, hypotheses, padding=True, return_tensors="pt")


def _adapted(model, attr):
    """Short names (last component) of modules carrying a peft adapter attribute, and their count."""
    names = [n for n, m in model.named_modules() if hasattr(m, attr) and "modules_to_save" not in n]
    return {n.rsplit(".", 1)[-1] for n in names}, len(names)


def test_all_eight_architectures_are_covered():
    assert set(TINY_MODEL_TYPES) == set(EXPECTED_LORA)


@pytest.mark.parametrize("model_type", TINY_MODEL_TYPES)
def test_lora_targets_trainables_and_a_training_step(tiny_dirs, model_type):
    spec, model, tok = _load(tiny_dirs, model_type)
    assert isinstance(model, PeftModel)
    short, count = _adapted(model, "lora_A")
    assert short == EXPECTED_LORA[model_type]
    assert count == LAYERS * len(EXPECTED_LORA[model_type])
    trainable = trainable_parameter_names(model)
    # Only adapters and the (copied) head train; every head module is among them.
    assert all("lora_" in n or "modules_to_save" in n for n in trainable), trainable
    for head in spec.head_modules:
        assert any(f".{head}.modules_to_save." in n for n in trainable), head
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert any("embed" in n for n in frozen)

    batch = _batch(spec, tok)
    labels = torch.tensor([0, 2])
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    before = model(**batch, labels=labels)
    assert before.logits.shape == (2, 3) and torch.isfinite(before.loss)
    before.loss.backward()
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in lora_b)
    optim.step()
    assert all(p.abs().sum() > 0 for p in lora_b)  # B starts at zero; one step moves it


@pytest.mark.parametrize("model_type", TINY_MODEL_TYPES)
def test_full_finetuning_trains_everything(tiny_dirs, model_type):
    spec, model, tok = _load(tiny_dirs, model_type, MethodConfig(method="full"))
    assert not isinstance(model, PeftModel)
    assert all(p.requires_grad for p in model.parameters())
    out = model(**_batch(spec, tok), labels=torch.tensor([1, 0]))
    out.loss.backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if "classifier" in n or "score" in n)


@pytest.mark.parametrize("model_type", TINY_MODEL_TYPES)
def test_ia3_targets_attention_and_feedforward(tiny_dirs, model_type):
    spec, model, tok = _load(tiny_dirs, model_type, MethodConfig(method="ia3"))
    ia3 = {n: m.is_feedforward for n, m in model.named_modules()
           if hasattr(m, "ia3_l") and "modules_to_save" not in n}
    assert len(ia3) == LAYERS * len(spec.ia3_targets)
    assert {t for t in spec.ia3_targets if any(n.endswith("." + t) for n in ia3)} == set(spec.ia3_targets)
    feedforward = [n for n, is_ff in ia3.items() if is_ff]
    assert len(feedforward) == LAYERS
    assert all(n.endswith("." + spec.ia3_feedforward[0]) for n in feedforward)
    trainable = trainable_parameter_names(model)
    assert all("ia3_l" in n or "modules_to_save" in n for n in trainable)
    model(**_batch(spec, tok), labels=torch.tensor([1, 0])).loss.backward()


@pytest.mark.parametrize("rank", [1, 4, 16])
def test_alpha_defaults_to_twice_the_rank(tiny_dirs, rank):
    _, model, _ = _load(tiny_dirs, "roberta", MethodConfig(rank=rank))
    layer = next(m for n, m in model.named_modules() if n.endswith("layer.0.attention.self.query"))
    assert layer.r["default"] == rank
    assert layer.scaling["default"] == pytest.approx(2.0)


def test_rslora_scales_by_square_root_of_rank(tiny_dirs):
    _, model, _ = _load(tiny_dirs, "bert", MethodConfig(rank=16, use_rslora=True))
    layer = next(m for n, m in model.named_modules() if n.endswith("layer.0.attention.self.value"))
    assert layer.scaling["default"] == pytest.approx(32 / 4)  # α/√r = 2r/√r = 2·√16


def test_dora_adds_trainable_magnitudes(tiny_dirs):
    spec, model, tok = _load(tiny_dirs, "qwen2", MethodConfig(use_dora=True))
    magnitudes = [n for n in trainable_parameter_names(model) if "lora_magnitude_vector" in n]
    assert len(magnitudes) == LAYERS * 2
    model(**_batch(spec, tok), labels=torch.tensor([0, 1])).loss.backward()


def test_target_override_is_used(tiny_dirs):
    _, model, _ = _load(tiny_dirs, "bert", MethodConfig(target_modules=("key", "output.dense")))
    short, count = _adapted(model, "lora_A")
    # "output.dense" matches both attention.output.dense and the feed-forward output.dense.
    assert short == {"key", "dense"} and count == LAYERS * 3


@pytest.mark.parametrize("model_type", DECODERS)
def test_decoder_padding_and_last_token_pooling(tiny_dirs, model_type):
    spec, model, tok = _load(tiny_dirs, model_type, MethodConfig(method="full"))
    assert spec.is_decoder and tok.padding_side == "left"
    assert tok.pad_token == tok.eos_token and model.config.pad_token_id == tok.eos_token_id
    model.eval()
    short, long = "a dog", "premise: two men play guitars on a stage. hypothesis: music"
    batch = tok([short, long], padding=True, return_tensors="pt")
    assert batch["input_ids"][0, 0] == tok.pad_token_id  # the short text is padded on the left
    with torch.no_grad():
        padded = model(**batch).logits
        alone = model(**tok([short], return_tensors="pt")).logits
        # HF pools the right-most non-pad token: with left padding, position -1 of the sequence.
        hidden = model.model(**batch).last_hidden_state
        manual = model.score(hidden[:, -1])
    torch.testing.assert_close(padded[0], alone[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(padded, manual, atol=1e-6, rtol=1e-5)


def test_encoders_pad_on_the_right(tiny_dirs):
    spec, _, tok = _load(tiny_dirs, "mpnet", MethodConfig(method="full"))
    assert tok.padding_side == "right" and spec.text_template is None


def test_seed_makes_lora_and_head_init_reproducible(tiny_dirs):
    def init(seed):
        _, model, _ = _load(tiny_dirs, "llama", seed=seed)
        return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}

    first, second, other = init(42), init(42), init(43)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[n], second[n]) for n in first)
    lora_a = [n for n in first if "lora_A" in n]
    assert lora_a and not all(torch.equal(first[n], other[n]) for n in lora_a)


def test_targets_that_match_nothing_are_an_error(tiny_dirs):
    with pytest.raises(ContestedError, match=r"method.target_modules: 'qkv' match no Linear.*available:.*query"):
        _load(tiny_dirs, "bert", MethodConfig(target_modules=("query", "qkv")))
    with pytest.raises(ContestedError, match=r"'q_lin'.*available:.*q_proj"):
        _load(tiny_dirs, "llama", MethodConfig(method="ia3", target_modules=("q_lin",)))


def test_unknown_architecture_needs_explicit_targets(tiny_dirs):
    from transformers import AutoModelForSequenceClassification

    from contested.models.adapters import apply_method

    spec = resolve_model(str(tiny_dirs["bert"]))
    unknown = dataclasses.replace(spec, model_type="mystery", lora_targets=(), ia3_targets=())
    model = AutoModelForSequenceClassification.from_pretrained(spec.source, num_labels=2)
    with pytest.raises(ContestedError, match=r"cannot infer lora targets for model_type 'mystery'.*--target-modules"):
        apply_method(model, unknown, MethodConfig())
    wrapped = apply_method(model, unknown, MethodConfig(target_modules="query,value"))
    assert _adapted(wrapped, "lora_A")[0] == {"query", "value"}


@pytest.mark.parametrize("rank", [0, -1])
def test_rank_must_be_positive(rank):
    with pytest.raises(ContestedError, match=r"method.rank: must be ≥ 1 .*--rank 4"):
        MethodConfig(rank=rank)


def test_method_config_validation_and_round_trip():
    with pytest.raises(ContestedError, match=r"method\.method: unknown 'lorax'; use one of full, lora, ia3"):
        MethodConfig(method="lorax")
    with pytest.raises(ContestedError, match=r"method\.use_dora: applies to method 'lora'"):
        MethodConfig(method="ia3", use_dora=True)
    with pytest.raises(ContestedError, match=r"method\.rank"):
        MethodConfig(rank=True)
    with pytest.raises(ContestedError, match=r"method\.dropout"):
        MethodConfig(dropout=1.0)
    cfg = MethodConfig(rank=16, target_modules=["query", "value"])
    assert cfg.lora_alpha == 32.0 and cfg.target_modules == ("query", "value")
    assert MethodConfig.from_dict(cfg.to_dict()) == cfg
    assert MethodConfig(method="full", rank=4).canonical().digest() == \
        MethodConfig(method="full", rank=16).canonical().digest()
    assert MethodConfig(rank=4).canonical().digest() != MethodConfig(rank=16).canonical().digest()
