"""DynamicsTrainer and DynamicsCallback on a tiny BERT: schedule, in-flight rows, loss scaling."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

from contested.train.callbacks import DynamicsCallback
from contested.train.config import TrainConfig
from contested.train.data import class_weights
from contested.train.recorder import DynamicsRecorder
from contested.train.trainer import DynamicsTrainer, training_arguments
from train_helpers import (  # noqa: F401
    collator,
    one_thread,
    quiet,
    tiny_bert,
    toy_dataset,
    toy_eval_set,
    toy_items,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def _Recipe(*, per_device_batch: int = 4, accumulation_steps: int = 1, epochs: int = 2) -> TrainConfig:
    """The real TrainConfig (so the tests follow its fields) at a tiny-model learning rate."""
    return TrainConfig(lr=5e-3, batch_size=per_device_batch * accumulation_steps,
                       device_batch_size=per_device_batch, epochs=epochs, device="cpu", logging_steps=1)


def _train(tmp_path, *, n=24, n_tracked=10, every=4, recipe=None, weights=True, soft=None, seed=0,
           items=None, dropout=0.0, at_epoch_end=True):
    items = items or toy_items(n, seed=seed)
    recipe = recipe or _Recipe()
    rec = DynamicsRecorder(run_id="t")
    cb = DynamicsCallback(rec, [toy_eval_set(items, upto=n_tracked)], collator=collator(), every=every,
                          at_epoch_end=at_epoch_end)
    w = torch.tensor(class_weights(items["labels"], 3)) if weights else None
    model = tiny_bert(seed=seed, dropout=dropout)
    trainer = quiet(DynamicsTrainer(
        model=model, args=training_arguments(recipe, output_dir=str(tmp_path)),
        train_dataset=toy_dataset(items, n_tracked=n_tracked, soft=soft), data_collator=collator(),
        callbacks=[cb], recorder=rec, class_weights=w, soft_labels=soft is not None,
    ))
    trainer.train()
    return rec.finalize(), cb, trainer


def test_snapshot_schedule_start_every_k_and_epoch_ends_without_duplicates(tmp_path):
    # 24 items / batch 4 = 6 steps per epoch, 12 in all; every 4 → 0, 4, 8, 12 plus epoch ends 6, 12.
    df, cb, trainer = _train(tmp_path, n=24, n_tracked=10, every=4)
    assert trainer.state.max_steps == 12
    assert cb.steps_ == [0, 4, 6, 8, 12]
    assert cb.epoch_end_steps_ == {1: 6, 2: 12}
    snap = df[df["measurement"] == "snapshot"]
    assert snap.groupby("step").size().to_dict() == {0: 10, 4: 10, 6: 10, 8: 10, 12: 10}
    assert not snap.duplicated(["step", "item_id"]).any()
    by_step = snap.groupby("step")[["epoch", "progress"]].first()
    assert by_step.loc[0].tolist() == [0.0, 0.0]
    assert by_step.loc[6].tolist() == [1.0, 0.5] and by_step.loc[12].tolist() == [2.0, 1.0]
    assert (snap["split"] == "tracked").all()


def test_snapshots_do_not_perturb_training(tmp_path):
    """Eval-mode snapshots draw no random numbers: the schedule leaves the training path unchanged."""
    items = toy_items(24, seed=7)
    dense, _, tr_dense = _train(tmp_path / "a", items=items, every=1, dropout=0.3)
    sparse, cb, tr_sparse = _train(tmp_path / "b", items=items, every=100, dropout=0.3, at_epoch_end=False)
    assert cb.steps_ == [0] and cb.epoch_end_steps_ == {1: 6, 2: 12}
    a = dense[dense["measurement"] == "inflight"].reset_index(drop=True)
    b = sparse[sparse["measurement"] == "inflight"].reset_index(drop=True)
    assert a[["step", "item_id"]].equals(b[["step", "item_id"]])
    np.testing.assert_array_equal(a["loss"], b["loss"])
    for p_a, p_b in zip(tr_dense.model.parameters(), tr_sparse.model.parameters(), strict=True):
        torch.testing.assert_close(p_a, p_b, rtol=0, atol=0)


def test_inflight_rows_once_per_epoch_for_tracked_items_only(tmp_path):
    items = toy_items(24, seed=1)
    df, _, _ = _train(tmp_path, items=items, n_tracked=10, every=100)
    inf = df[df["measurement"] == "inflight"]
    assert len(inf) == 2 * 10  # every tracked item once per epoch, bulk items never
    assert inf.groupby("item_id").size().eq(2).all()
    assert set(inf["item_id"]) == set(items["item_ids"][:10])
    assert inf["step"].between(0, 11).all()
    first_epoch = inf[inf["step"] < 6]
    assert len(first_epoch) == 10 and (first_epoch["epoch"] < 1).all()
    labels = dict(zip(items["item_ids"], items["labels"], strict=True))
    assert (inf["label_used"] == inf["item_id"].map(labels)).all()
    logits = np.stack(inf["logits"].to_numpy()).copy()
    ce = F.cross_entropy(torch.from_numpy(logits), torch.tensor(inf["label_used"].to_numpy()),
                         reduction="none").numpy()
    np.testing.assert_allclose(inf["loss"], ce, rtol=1e-5, atol=1e-6)


def test_gradient_accumulation_takes_the_same_steps_as_a_bigger_device_batch(tmp_path):
    """20 items, batch 8: updates of 8, 8, 4 items; with device batch 4 the last has one micro-batch.

    Class weights make a per-micro-batch mean differ from the accumulated batch's weighted mean, so
    this only passes when the loss is normalised over the whole accumulated batch.
    """
    items = toy_items(20, seed=2)
    big, _, tr_big = _train(tmp_path / "a", items=items, n_tracked=20,
                            recipe=_Recipe(per_device_batch=8, accumulation_steps=1))
    acc, _, tr_acc = _train(tmp_path / "b", items=items, n_tracked=20,
                            recipe=_Recipe(per_device_batch=4, accumulation_steps=2))
    assert tr_big.state.max_steps == tr_acc.state.max_steps == 6
    key = ["measurement", "step", "item_id"]
    big, acc = big.sort_values(key).reset_index(drop=True), acc.sort_values(key).reset_index(drop=True)
    assert big[key].equals(acc[key])
    np.testing.assert_allclose(acc["loss"], big["loss"], rtol=1e-4, atol=1e-5)
    for (name, p_big), p_acc in zip(tr_big.model.named_parameters(), tr_acc.model.parameters(), strict=True):
        torch.testing.assert_close(p_acc, p_big, rtol=1e-4, atol=1e-5, msg=name)
    logged = [h["loss"] for h in tr_big.state.log_history if "loss" in h]
    logged_acc = [h["loss"] for h in tr_acc.state.log_history if "loss" in h]
    np.testing.assert_allclose(logged_acc, logged, rtol=1e-4)


def test_class_weighted_loss_equals_torch_weighted_cross_entropy(tmp_path):
    items = toy_items(16, seed=3)
    w = torch.tensor(class_weights(items["labels"], 3))
    model = tiny_bert(seed=3)
    trainer = DynamicsTrainer(model=model, args=training_arguments(_Recipe(), output_dir=str(tmp_path)),
                              data_collator=collator(), class_weights=w)
    batch = collator()([toy_dataset(items, n_tracked=0)[i] for i in range(16)])
    loss = trainer.compute_loss(model.eval(), batch)
    logits = model(**{k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}).logits
    torch.testing.assert_close(loss, F.cross_entropy(logits, batch["labels"], weight=w))
    trainer.class_weights = None
    torch.testing.assert_close(trainer.compute_loss(model, batch), F.cross_entropy(logits, batch["labels"]))


def test_soft_labels_train_on_soft_ce_and_still_record_ce(tmp_path):
    items = toy_items(16, seed=4)
    rng = np.random.default_rng(0)
    soft = rng.dirichlet(np.ones(3), size=16).astype(np.float32)
    model = tiny_bert(seed=4)
    trainer = DynamicsTrainer(model=model, args=training_arguments(_Recipe(), output_dir=str(tmp_path)),
                              data_collator=collator(), soft_labels=True)
    batch = collator()([toy_dataset(items, n_tracked=0, soft=soft)[i] for i in range(16)])
    loss = trainer.compute_loss(model.eval(), batch)
    logits = model(**{k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}).logits
    p = torch.from_numpy(soft)
    ce = -(p * F.log_softmax(logits, -1)).sum(-1)
    torch.testing.assert_close(loss, ce.mean())
    # Cross-entropy = KL + H(target): KL's gradients, a reported loss higher by the mean entropy.
    kl = (p * (p.log() - F.log_softmax(logits, -1))).sum(-1)
    torch.testing.assert_close(loss - kl.mean(), -(p * p.log()).sum(-1).mean())
    df, _, _ = _train(tmp_path / "run", items=items, n=16, n_tracked=8, soft=soft, weights=False)
    inf = df[df["measurement"] == "inflight"]
    assert len(inf) == 16 and np.isfinite(inf["loss"]).all()


def test_dropout_is_on_in_flight_and_off_in_snapshots(tmp_path):
    """Same parameters at step 0: snapshot (eval) and in-flight (train mode) losses differ by dropout."""
    items = toy_items(8, seed=5)
    df, _, _ = _train(tmp_path, items=items, n=8, n_tracked=8, dropout=0.5,
                      recipe=_Recipe(per_device_batch=8, epochs=1))
    at0 = df[df["step"] == 0].pivot_table(index="item_id", columns="measurement", values="loss")
    assert not np.allclose(at0["snapshot"], at0["inflight"])
    df0, _, _ = _train(tmp_path / "nodrop", items=items, n=8, n_tracked=8, dropout=0.0,
                       recipe=_Recipe(per_device_batch=8, epochs=1))
    at0 = df0[df0["step"] == 0].pivot_table(index="item_id", columns="measurement", values="loss")
    np.testing.assert_allclose(at0["snapshot"], at0["inflight"], rtol=1e-4, atol=1e-5)


def test_dropin_callback_on_a_plain_hf_trainer(tmp_path):
    """A user's own Trainer, dataset and collator: the callback adds snapshots (no in-flight rows)."""
    items = toy_items(12, seed=6)
    es = toy_eval_set(items, upto=6)
    ds = datasets.Dataset.from_dict({"input_ids": [f["input_ids"] for f in es.features] * 2,
                                     "labels": items["labels"].tolist()})
    model = tiny_bert(seed=6)
    before = model.eval()(**collator()([es.features[0]])).logits.detach()
    rec = DynamicsRecorder(run_id="mine")
    cb = DynamicsCallback(rec, [es], collator=collator(), every=2)
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=4, num_train_epochs=1,
                             learning_rate=1e-2, use_cpu=True, report_to="none", save_strategy="no",
                             disable_tqdm=True)
    Trainer(model=model, args=args, train_dataset=ds, callbacks=[cb],
            data_collator=DataCollatorWithPadding(collator().tokenizer)).train()
    df = rec.finalize()
    assert cb.steps_ == [0, 2, 3]
    assert set(df["measurement"]) == {"snapshot"} and len(df) == 3 * 6
    first = df[(df["step"] == 0) & (df["item_id"] == es.item_ids[0])]
    np.testing.assert_allclose(first["logits"].iloc[0], before.numpy()[0], atol=1e-5)
    last = df[df["step"] == 3].set_index("item_id")["loss"]
    assert not np.allclose(last.to_numpy(), df[df["step"] == 0].set_index("item_id")["loss"].to_numpy())
