"""End to end with the real pretrained MiniLM-L6 on real ChaosNLI-SNLI + SNLI items (~15 s)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from contested.data import DataConfig
from contested.models import MethodConfig
from contested.train.config import RecordConfig, RunConfig, TrainConfig
from contested.train.pipeline import run
from train_helpers import one_thread  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


def test_minilm_lora_smoke_run(tmp_path, data_dir):
    cfg = RunConfig(
        model="minilm-l6", method=MethodConfig(method="lora", rank=4),
        data=DataConfig(bulk=48, max_tracked=24, heldout=24, data_dir=str(data_dir)),
        train=TrainConfig(batch_size=16, epochs=1, lr=1e-3, device="cpu"),
        record=RecordConfig(snapshot_every=2),
    )
    out = run(cfg, runs_dir=tmp_path, progress=False)
    assert (out / "DONE").is_file()
    m = json.loads((out / "metrics.json").read_text())
    # 48 bulk + 24 tracked = 72 items / 16 = 5 steps; snapshots at 0, 2, 4 and the epoch end 5
    assert m["total_steps"] == 5 and m["snapshot_steps"] == [0, 2, 4, 5]
    assert m["params"] > 22_000_000  # the real 22.7 M-parameter MiniLM, not a toy
    # LoRA r=4 on query+value of 6 layers (6·2·2·384·4) + the 384→3 head
    assert m["trainable_params"] == 6 * 2 * 2 * 384 * 4 + 384 * 3 + 3
    dyn = pd.read_parquet(out / "dynamics.parquet")
    items = pd.read_parquet(out / "items.parquet")
    n_items = len(items)
    assert (dyn[dyn["measurement"] == "snapshot"].groupby("step").size() == n_items).all()
    assert (dyn["measurement"] == "inflight").sum() == (items["split"] == "tracked").sum()
    assert np.isfinite(dyn["loss"]).all() and set(items["bin"].astype(str)) <= {"clean", "ambiguous", "contested"}
    snap = dyn[dyn["measurement"] == "snapshot"].pivot_table(index="item_id", columns="step", values="loss")
    assert not np.allclose(snap[0], snap[5])  # the adapter moved the predictions
    assert 0 <= m["final"]["heldout_accuracy"] <= 1
