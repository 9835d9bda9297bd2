"""The dynamics recorder, tokenisation, collator and class weights (no training loop needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from scipy.special import log_softmax

from contested.errors import ContestedError
from contested.train.data import class_weights, encode_texts
from contested.train.recorder import SCHEMA, DynamicsRecorder
from contested.train.snapshot import EvalSet, length_batches, score_logits, take_snapshot
from train_helpers import collator, one_thread, tiny_bert, tokenizer, toy_eval_set, toy_items  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")

COLUMNS = [
    "run_id",
    "item_id",
    "split",
    "step",
    "epoch",
    "progress",
    "measurement",
    "loss",
    "logits",
    "p_label",
    "predicted",
    "label_used",
    "is_noisy",
]


def _filled_recorder() -> tuple[DynamicsRecorder, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(5, 3)).astype(np.float32) * 3
    labels = np.array([0, 1, 2, 1, 0])
    rec = DynamicsRecorder(run_id="r1")
    rec.update(
        [f"x{i}" for i in range(5)],
        torch.from_numpy(logits),
        torch.from_numpy(labels),
        step=0,
        epoch=0.0,
        progress=0.0,
        measurement="snapshot",
        split="tracked",
        is_noisy=[False, True, False, False, False],
    )
    rec.update(
        ["x0", "x1"],
        logits[:2] + 1,
        labels[:2],
        step=3,
        epoch=0.5,
        progress=0.25,
        measurement="inflight",
        split="tracked",
    )
    return rec, logits, labels


def test_rows_columns_dtypes_and_loss_is_cross_entropy_of_the_stored_logits():
    rec, logits, _ = _filled_recorder()
    df = rec.finalize()
    assert list(df.columns) == COLUMNS
    assert len(df) == len(rec) == 7
    assert df.groupby(["measurement", "step"]).size().to_dict() == {
        ("inflight", 3): 2,
        ("snapshot", 0): 5,
    }
    assert df["loss"].dtype == np.float32 and df["p_label"].dtype == np.float32
    assert df["step"].dtype == np.int64 and df["predicted"].dtype == np.int64
    assert df["is_noisy"].dtype == bool and df["is_noisy"].tolist()[:2] == [False, True]
    assert all(cell.dtype == np.float32 and len(cell) == 3 for cell in df["logits"])
    stored = np.stack(df["logits"].to_numpy()).astype(np.float64)
    logp = log_softmax(stored, axis=1)[np.arange(7), df["label_used"].to_numpy()]
    np.testing.assert_allclose(df["loss"], -logp, rtol=1e-6)
    np.testing.assert_allclose(df["p_label"], np.exp(logp), rtol=1e-6)
    assert (df["predicted"] == stored.argmax(1)).all()
    np.testing.assert_array_equal(stored[:5], logits)  # logits kept bit-exactly


def test_parquet_round_trip_keeps_the_schema(tmp_path):
    rec, *_ = _filled_recorder()
    path = rec.write(tmp_path / "dynamics.parquet")
    assert pq.read_schema(path).remove_metadata() == SCHEMA
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(
        back.drop(columns="logits"), rec.finalize().drop(columns="logits")
    )
    assert rec.snapshot_steps() == [0]


def test_update_rejects_mismatched_shapes_labels_and_kinds():
    rec = DynamicsRecorder()
    at = {"step": 0, "epoch": 0, "progress": 0, "split": "t"}
    with pytest.raises(ValueError, match="measurement"):
        rec.update(["a"], np.zeros((1, 3)), [0], measurement="eval", **at)
    with pytest.raises(ValueError, match="expected logits"):
        rec.update(["a", "b"], np.zeros((1, 3)), [0], measurement="snapshot", **at)
    with pytest.raises(ValueError, match="labels must lie"):
        rec.update(["a"], np.zeros((1, 3)), [3], measurement="snapshot", **at)
    rec.update(["a"], np.zeros((1, 3)), [0], measurement="snapshot", **at)
    with pytest.raises(ValueError, match="classes"):
        rec.update(["a"], np.zeros((1, 2)), [0], measurement="snapshot", **{**at, "step": 1})


def test_plain_pytorch_loop_records_inflight_and_snapshot_rows():
    """The recorder needs no Trainer: a hand-written loop feeds it directly."""
    items = toy_items(12, seed=3)
    model = tiny_bert(seed=0)
    col, es = collator(), toy_eval_set(items)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    rec = DynamicsRecorder(run_id="loop")
    feats = es.features
    total = 6
    take_snapshot(model, rec, [es], step=0, epoch=0.0, progress=0.0, collator=col)
    for step in range(total):
        idx = [(2 * step) % 12, (2 * step + 1) % 12]
        batch = col([feats[i] for i in idx])
        labels = torch.tensor(items["labels"][idx])
        model.train()
        logits = model(**batch).logits
        loss = torch.nn.functional.cross_entropy(logits, labels)
        rec.update(
            [items["item_ids"][i] for i in idx],
            logits,
            labels,
            step=step,
            epoch=step / total,
            progress=step / total,
            measurement="inflight",
            split="tracked",
        )
        loss.backward()
        opt.step()
        opt.zero_grad()
    take_snapshot(model, rec, [es], step=total, epoch=1.0, progress=1.0, collator=col)
    df = rec.finalize()
    assert (df["measurement"] == "inflight").sum() == 12
    assert df[df["measurement"] == "snapshot"].groupby("step").size().to_dict() == {
        0: 12,
        total: 12,
    }
    snap = df[df["measurement"] == "snapshot"].set_index(["step", "item_id"])["loss"]
    assert not np.allclose(snap.loc[0].to_numpy(), snap.loc[total].to_numpy())  # the model moved


def test_snapshot_scores_in_original_order_whatever_the_batching():
    items = toy_items(15, seed=4)
    model, es = tiny_bert(seed=1), toy_eval_set(items)
    by_3 = score_logits(model, es, collator=collator(), batch_size=3)
    by_64 = score_logits(model, es, collator=collator(), batch_size=64)
    fixed = score_logits(model, es, collator=collator("max_length"), batch_size=4)
    manual = model.eval()(**collator()([es.features[7]])).logits.detach().numpy()[0]
    np.testing.assert_allclose(by_3, by_64, atol=1e-5)
    np.testing.assert_allclose(by_3, fixed, atol=1e-5)  # padding is masked out
    np.testing.assert_allclose(by_3[7], manual, atol=1e-5)


def test_length_batches_cut_where_padding_would_dominate():
    # Seven short items and one long one: fixed-size batches pad a short item to the long length.
    lengths = [10, 11, 10, 12, 113, 11, 10, 12]
    fixed = length_batches(lengths, 4, max_padding=1.0)
    assert [b.tolist() for b in fixed] == [[0, 2, 6, 1], [5, 3, 7, 4]]  # sorted, stable, 4 each
    packed = length_batches(lengths, 4)
    assert [b.tolist() for b in packed] == [[0, 2, 6, 1], [5, 3, 7], [4]]
    padded = sum(len(b) * max(lengths[i] for i in b) for b in packed)
    assert padded == 4 * 11 + 3 * 12 + 113 < sum(len(b) * max(lengths[i] for i in b) for b in fixed)
    for b in packed:  # every batch that grew beyond one item is ≥ 70 % real tokens
        assert sum(lengths[i] for i in b) >= 0.7 * len(b) * max(lengths[i] for i in b)
    assert sorted(np.concatenate(packed).tolist()) == list(range(len(lengths)))
    assert length_batches([], 4) == []
    with pytest.raises(ValueError, match="max_padding"):
        length_batches(lengths, 4, max_padding=1.5)
    with pytest.raises(ValueError, match="batch_size"):
        length_batches(lengths, 0)


def test_snapshot_scores_all_sets_in_one_pass_and_records_them_set_by_set():
    items = toy_items(15, seed=6)
    model, col = tiny_bert(seed=2), collator()
    full = toy_eval_set(items)
    tracked = EvalSet(
        split="tracked",
        item_ids=full.item_ids[:9],
        labels=full.labels[:9],
        features=full.features[:9],
        is_noisy=full.is_noisy[:9],
    )
    validation = EvalSet(
        split="validation",
        item_ids=full.item_ids[9:],
        labels=full.labels[9:],
        features=full.features[9:],
        is_noisy=full.is_noisy[9:],
    )
    rec = DynamicsRecorder()
    done: list[int] = []
    take_snapshot(
        model,
        rec,
        [tracked, EvalSet("empty", [], np.zeros(0, np.int64), [], np.zeros(0, bool)), validation],
        step=0,
        epoch=0.0,
        progress=0.0,
        collator=col,
        batch_size=4,
        on_batch=done.append,
    )
    df = rec.finalize()
    assert df["split"].tolist() == ["tracked"] * 9 + ["validation"] * 6
    assert df["item_id"].tolist() == full.item_ids
    assert sum(done) == 15
    alone = np.concatenate(
        [score_logits(model, es, collator=col, batch_size=4) for es in (tracked, validation)]
    )
    np.testing.assert_allclose(
        np.stack(df["logits"]), alone, atol=1e-5
    )  # batch mates only round differently


def test_collator_padding_modes_and_metadata():
    items = toy_items(4, seed=5)
    feats = encode_texts(tokenizer(), items["premises"], items["hypotheses"], max_length=32)
    rows = [
        dict(f, labels=1, item_id=f"id{i}", is_tracked=i < 2, label_used=0, is_noisy=False)
        for i, f in enumerate(feats)
    ]
    longest = collator("longest")(rows)
    fixed = collator("max_length")(rows)
    assert longest["input_ids"].shape == (4, max(len(f["input_ids"]) for f in feats))
    assert fixed["input_ids"].shape == (4, 32)
    assert longest["item_id"] == ["id0", "id1", "id2", "id3"]
    assert longest["is_tracked"].tolist() == [True, True, False, False]
    assert longest["labels"].dtype == torch.long


def test_encode_texts_single_text_template_and_mixed_input():
    tok = tokenizer()
    single = encode_texts(tok, ["a dog runs"], None, max_length=16)
    pair = encode_texts(tok, ["a dog runs"], ["a cat"], max_length=16)
    templ = encode_texts(
        tok,
        ["a dog runs"],
        ["a cat"],
        max_length=16,
        template="premise: {premise} hypothesis: {hypothesis}",
    )
    assert len(pair[0]["input_ids"]) > len(single[0]["input_ids"])
    assert set(pair[0]["token_type_ids"]) == {0, 1} and set(templ[0]["token_type_ids"]) == {0}
    assert len(encode_texts(tok, ["word " * 100], None, max_length=16)[0]["input_ids"]) == 16
    with pytest.raises(ContestedError, match="mix single-text and pair"):
        encode_texts(tok, ["a", "b"], ["c", None], max_length=16)


def test_class_weights_inverse_frequency_sum_to_k():
    w = class_weights([0] * 6 + [1] * 3 + [2] * 1, 3)
    assert w.sum() == pytest.approx(3.0)
    assert w[2] / w[0] == pytest.approx(6.0) and w[1] / w[0] == pytest.approx(2.0)
    absent = class_weights([0, 0, 1], 3)
    assert absent[2] == 0 and absent.sum() == pytest.approx(3.0)
    with pytest.raises(ContestedError, match="at least two"):
        class_weights([1, 1, 1], 3)
