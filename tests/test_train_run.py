"""``contested.train.run`` (module ``contested.train.pipeline``): run directory contents, determinism, resume/no-op/force, interrupted runs."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import torch
from transformers import TrainerCallback

from contested.data import DataConfig
from contested.errors import ContestedError
from contested.models import MethodConfig
from contested.train.config import RecordConfig, RunConfig, TrainConfig
from contested.train.pipeline import run
from train_helpers import one_thread, single_thread  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


def small_config(model_dir, *, method="lora", **train) -> RunConfig:
    """36 training items (24 bulk + 12 tracked), batch 8 → 5 steps per epoch, 10 in all."""
    return RunConfig(
        model=str(model_dir), method=MethodConfig(method=method, rank=2),
        data=DataConfig(bulk=24, max_tracked=12, heldout=10),
        train=TrainConfig(**{"batch_size": 8, "epochs": 2, "lr": 1e-3, "device": "cpu", **train}),
        record=RecordConfig(snapshot_every=2, eval_batch_size=32),
    )


class _Count(TrainerCallback):
    def __init__(self):
        self.begun = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.begun += 1


class _Raise(TrainerCallback):
    def __init__(self, exc, at_step=3):
        self.exc, self.at_step = exc, at_step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.at_step:
            raise self.exc


@pytest.fixture(scope="module")
def finished(tiny_bert_dir, tmp_path_factory):
    """One finished run, shared: (config, runs_dir, run_dir)."""
    cfg = small_config(tiny_bert_dir, device_batch_size=4)
    runs = tmp_path_factory.mktemp("runs")
    with single_thread():  # module fixtures start before the tests' one_thread
        return cfg, runs, run(cfg, runs_dir=runs, progress=False)


def test_run_directory_holds_every_artefact_consistently(finished):
    cfg, tmp_path, out = finished
    assert out == tmp_path / cfg.digest()
    assert sorted(p.name for p in out.iterdir()) == [
        "DONE", "config.json", "dynamics.parquet", "env.json", "items.parquet", "metrics.json",
        "noise.parquet"]
    assert pd.read_parquet(out / "noise.parquet").empty  # no noise asked for: no flips
    assert [p.name for p in tmp_path.iterdir()] == [cfg.digest()]  # no partials left
    assert RunConfig.from_dict(json.loads((out / "config.json").read_text())) == cfg
    env = json.loads((out / "env.json").read_text())
    assert env["seeds"] == {"train": 42, "split": 42, "data": 42}
    assert any("chaosNLI_snli" in p for p in env["data_checksums"])

    items = pd.read_parquet(out / "items.parquet")
    n_tr, n_val = (items["split"] == "tracked").sum(), (items["split"] == "validation").sum()
    assert (n_tr, n_val) == (12, 3)
    dyn = pd.read_parquet(out / "dynamics.parquet")
    assert (dyn["run_id"] == cfg.digest()).all()
    m = json.loads((out / "metrics.json").read_text())
    assert m["total_steps"] == 10 and m["snapshot_steps"] == [0, 2, 4, 5, 6, 8, 10]
    assert m["n_snapshots"] == 7 and m["dynamics_rows"] == len(dyn)
    snap = dyn[dyn["measurement"] == "snapshot"]
    assert snap.groupby(["step", "split"]).size().unstack().to_dict("list") == {
        "tracked": [12] * 7, "validation": [3] * 7}
    inflight = dyn[dyn["measurement"] == "inflight"]
    assert len(inflight) == 2 * 12 and set(inflight["item_id"]) == set(items.loc[items["split"] == "tracked", "item_id"])
    # label_used is the tracking label of items.parquet, for both measurements
    tl = items.set_index("item_id")["training_label"]
    assert (dyn["label_used"].to_numpy() == tl.loc[dyn["item_id"]].to_numpy()).all()
    # per-epoch validation metrics are the epoch-end validation rows
    last = snap[(snap["split"] == "validation") & (snap["step"] == 10)]
    assert [e["step"] for e in m["epochs"]] == [5, 10]
    assert m["final"]["val_loss"] == pytest.approx(float(last["loss"].mean()), rel=1e-6)
    assert m["final"]["val_accuracy"] == pytest.approx((last["predicted"] == last["label_used"]).mean())
    assert 0 <= m["final"]["heldout_accuracy"] <= 1 and m["n_heldout"] == 10
    assert m["class_weights"] is not None and sum(m["class_weights"]) == pytest.approx(3.0, rel=1e-6)
    assert 0 < m["trainable_params"] < m["params"]


def test_same_config_gives_identical_dynamics(finished, tmp_path):
    cfg, _, first = finished
    again = run(cfg, runs_dir=tmp_path, progress=False)
    da, db = pd.read_parquet(first / "dynamics.parquet"), pd.read_parquet(again / "dynamics.parquet")
    pd.testing.assert_frame_equal(da, db, check_exact=True)
    assert (first / "dynamics.parquet").read_bytes() == (again / "dynamics.parquet").read_bytes()


def test_finished_run_is_a_no_op_and_force_redoes_it(finished, tmp_path):
    cfg, runs, _ = finished
    shutil.copytree(runs, tmp_path, dirs_exist_ok=True)
    out = tmp_path / cfg.digest()
    done_before = (out / "DONE").stat().st_mtime_ns
    counter = _Count()
    assert run(cfg, runs_dir=tmp_path, progress=False, callbacks=[counter]) == out
    assert counter.begun == 0 and (out / "DONE").stat().st_mtime_ns == done_before
    assert run(cfg, runs_dir=tmp_path, progress=False, force=True, callbacks=[counter]) == out
    assert counter.begun == 1 and (out / "DONE").stat().st_mtime_ns != done_before
    assert [p.name for p in tmp_path.iterdir()] == [cfg.digest()]


def test_interrupted_run_leaves_no_done_and_is_redone(tiny_bert_dir, tmp_path):
    cfg = small_config(tiny_bert_dir, seed=3)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, runs_dir=tmp_path, progress=False, callbacks=[_Raise(KeyboardInterrupt())])
    assert list(tmp_path.iterdir()) == []  # no half run dir, no partial
    # What a SIGKILL leaves: a partial of a dead process, or an old-style dir without DONE.
    (tmp_path / f".{cfg.digest()}.partial-999999999").mkdir()
    (tmp_path / cfg.digest()).mkdir()
    (tmp_path / cfg.digest() / "dynamics.parquet").write_text("half")
    out = run(cfg, runs_dir=tmp_path, progress=False)
    assert (out / "DONE").is_file() and len(pd.read_parquet(out / "dynamics.parquet")) > 0
    assert [p.name for p in tmp_path.iterdir()] == [cfg.digest()]


def test_out_of_memory_is_a_one_line_error_without_a_run_dir(tiny_bert_dir, tmp_path):
    cfg = small_config(tiny_bert_dir)
    boom = _Raise(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), at_step=1)
    with pytest.raises(ContestedError, match=r"out of memory .* --device-batch-size 4 ") as err:
        run(cfg, runs_dir=tmp_path, progress=False, callbacks=[boom])
    assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_run_config_validation_names_field_and_fix():
    with pytest.raises(ContestedError, match=r"^record\.snapshot_every: must be ≥ 1 \(got 0\)"):
        RecordConfig(snapshot_every=0)
    with pytest.raises(ContestedError, match=r"device_batch_size.*divide batch_size=32"):
        TrainConfig(device_batch_size=5)
    with pytest.raises(ContestedError, match=r"^train\.soft_labels: .* together with data\.training_label soft"):
        RunConfig(train=TrainConfig(soft_labels=True))
    with pytest.raises(ContestedError, match=r"train.lr.*expected float"):
        TrainConfig(lr="fast")
    assert TrainConfig.from_dict({"lr": "1e-4", "epochs": 2.0}).lr == 1e-4  # YAML reads 1e-4 as str
    assert TrainConfig().accumulation_steps == 1 and TrainConfig(device_batch_size=8).accumulation_steps == 4
    full4 = RunConfig(method=MethodConfig(method="full", rank=4))
    assert full4.digest() == RunConfig(method=MethodConfig(method="full", rank=16)).digest()
