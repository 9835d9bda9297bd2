"""Every architecture family trains a few steps through the models layer with the recorder on.

Tiny random models of the 8 real HF config classes (bert, roberta, distilbert, deberta-v2, mpnet,
llama, qwen2, gemma3) get LoRA on their expected modules; full fine-tuning and IA³ on one encoder
and one decoder. Each run must write the expected snapshot and in-flight rows.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from contested.models import (
    TINY_MODEL_TYPES,
    MethodConfig,
    build_tiny_model_dir,
    load_for_classification,
    resolve_model,
)
from contested.train.callbacks import DynamicsCallback
from contested.train.config import TrainConfig
from contested.train.data import DynamicsCollator, class_weights, encode_texts, tokenised_dataset
from contested.train.recorder import DynamicsRecorder
from contested.train.snapshot import EvalSet, score_logits
from contested.train.trainer import DynamicsTrainer, training_arguments
from train_helpers import WORDS, one_thread, quiet  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")

EXPECTED_LORA = {
    "bert": {"query", "value"}, "roberta": {"query", "value"}, "distilbert": {"q_lin", "v_lin"},
    "deberta-v2": {"query_proj", "value_proj"}, "mpnet": {"q", "v"},
    "llama": {"q_proj", "v_proj"}, "qwen2": {"q_proj", "v_proj"}, "gemma3_text": {"q_proj", "v_proj"},
}
N, N_TRACKED = 12, 6


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-train")
    return {mt: build_tiny_model_dir(mt, root / mt) for mt in TINY_MODEL_TYPES}


def _items(seed=0):
    rng = np.random.default_rng(seed)
    return ([" ".join(rng.choice(WORDS, rng.integers(3, 12))) for _ in range(N)],
            [" ".join(rng.choice(WORDS, rng.integers(2, 5))) for _ in range(N)],
            rng.integers(0, 3, N), [f"it{i}" for i in range(N)])


def _train(model_dir, method, tmp_path):
    spec = resolve_model(str(model_dir))
    model, tok = load_for_classification(spec, num_labels=3, method=method, seed=0)
    premises, hypotheses, labels, ids = _items()
    feats = encode_texts(tok, premises, hypotheses, max_length=32, template=spec.text_template)
    tracked = np.arange(N) < N_TRACKED
    ds = tokenised_dataset(feats, labels=labels, item_ids=ids, is_tracked=tracked,
                           label_used=np.where(tracked, labels, -1))
    es = EvalSet.from_texts(tok, split="tracked", item_ids=ids[:N_TRACKED], premises=premises[:N_TRACKED],
                            hypotheses=hypotheses[:N_TRACKED], labels=labels[:N_TRACKED], max_length=32,
                            template=spec.text_template)
    col = DynamicsCollator(tok)
    rec = DynamicsRecorder(run_id=spec.model_type)
    cb = DynamicsCallback(rec, [es], collator=col, every=2)
    train = TrainConfig(batch_size=4, epochs=1, lr=1e-2, device="cpu")  # 12 items → 3 steps
    trainer = quiet(DynamicsTrainer(
        model=model, args=training_arguments(train, output_dir=str(tmp_path)), train_dataset=ds,
        data_collator=col, callbacks=[cb], recorder=rec,
        class_weights=torch.tensor(class_weights(labels, 3)),
    ))
    trainer.train()
    return spec, model, tok, es, rec.finalize(), cb


def _check_rows(df, cb):
    assert cb.steps_ == [0, 2, 3]
    snap = df[df["measurement"] == "snapshot"]
    assert snap.groupby("step").size().to_dict() == {0: N_TRACKED, 2: N_TRACKED, 3: N_TRACKED}
    inflight = df[df["measurement"] == "inflight"]
    assert sorted(inflight["item_id"]) == [f"it{i}" for i in range(N_TRACKED)]
    assert np.isfinite(df["loss"]).all()
    loss = snap.pivot_table(index="item_id", columns="step", values="loss")
    assert not np.allclose(loss[0], loss[3])  # the trainable parameters moved the predictions


@pytest.mark.parametrize("model_type", TINY_MODEL_TYPES)
def test_lora_on_expected_modules_trains_with_recorder(tiny_dirs, model_type, tmp_path):
    _, model, _, _, df, cb = _train(tiny_dirs[model_type], MethodConfig(method="lora", rank=2), tmp_path)
    adapted = {n.rsplit(".", 1)[-1] for n, m in model.named_modules()
               if hasattr(m, "lora_A") and "modules_to_save" not in n}
    assert adapted == EXPECTED_LORA[model_type]
    _check_rows(df, cb)


@pytest.mark.parametrize("model_type", ["roberta", "qwen2"])
@pytest.mark.parametrize("method", ["full", "ia3"])
def test_full_and_ia3_train_with_recorder(tiny_dirs, model_type, method, tmp_path):
    *_, df, cb = _train(tiny_dirs[model_type], MethodConfig(method=method), tmp_path)
    _check_rows(df, cb)


@pytest.mark.parametrize("model_type", ["llama", "gemma3_text"])
def test_decoder_snapshots_do_not_depend_on_batch_padding(tiny_dirs, model_type, tmp_path):
    """Left padding + last-token pooling: an item's logits are the same alone or in a padded batch."""
    _, model, tok, es, _, _ = _train(tiny_dirs[model_type], MethodConfig(method="lora", rank=2), tmp_path)
    assert tok.padding_side == "left"
    col = DynamicsCollator(tok)
    alone = score_logits(model, es, collator=col, batch_size=1)
    batched = score_logits(model, es, collator=col, batch_size=N_TRACKED)
    fixed = score_logits(model, es, collator=DynamicsCollator(tok, padding="max_length", max_length=32),
                         batch_size=N_TRACKED)
    np.testing.assert_allclose(batched, alone, atol=1e-4)
    np.testing.assert_allclose(fixed, alone, atol=1e-4)
