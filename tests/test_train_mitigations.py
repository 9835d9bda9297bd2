"""Training mitigations: soft targets (per bin), item weights, label smoothing (docs/training.md).

The loss is checked by hand on fixed logits (no model), its composition with the class weights
and gradient accumulation, the config round trip, the mixture's soft targets, one tiny
``contested train`` per option (the recorded dynamics stay unweighted CE) and bad values.
"""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from transformers.trainer_pt_utils import LabelSmoother

from cli_helpers import run_cli
from contested.cli import main
from contested.config import ConfigError
from contested.data import BIN_NAMES, DataConfig, build_mixture
from contested.train.config import RunConfig, TrainConfig
from contested.train.data import MODEL_EXTRAS, item_weights, tokenised_dataset
from contested.train.trainer import (
    DynamicsTrainer,
    InflightLossMixin,
    per_item_objective,
    training_arguments,
)
from train_helpers import (  # noqa: F401
    TINY_TRAIN_FLAGS,
    collator,
    one_thread,
    single_thread,
    toy_dataset,
    toy_items,
)

LOGITS = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 0.3], [-0.5, -0.2, 1.5], [1.0, 1.0, 1.0]])
LABELS = torch.tensor([0, 1, 2, 0])
SOFT = torch.tensor([[0.7, 0.2, 0.1], [0.3, 0.5, 0.2], [0.0, 0.4, 0.6], [1.0, 0.0, 0.0]])


def _log_softmax(row: list[float]) -> list[float]:
    """By hand (math only), so the expected values do not reuse torch's cross-entropy."""
    top = max(row)
    log_z = top + math.log(sum(math.exp(v - top) for v in row))
    return [v - log_z for v in row]


LOGP = [_log_softmax(r) for r in LOGITS.tolist()]


class _FixedLogits(torch.nn.Module):
    """A 'model' that returns fixed logits whatever the inputs (so compute_loss is tested alone)."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits
        self.config = SimpleNamespace(problem_type="single_label_classification")
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # the Trainer wants parameters

    def forward(self, **_: object) -> dict:
        return {"logits": self.logits}


class _Loss(InflightLossMixin):
    """The trainer's loss without a Trainer: the mixin's compute_loss on fixed logits."""

    def __init__(self, *, class_weights=None, soft_labels=False, label_smoothing=0.0) -> None:
        self.class_weights = class_weights
        self.soft_labels = soft_labels
        self.args = SimpleNamespace(label_smoothing_factor=label_smoothing)


def _loss(batch: dict, **kwargs) -> float:
    model = _FixedLogits(LOGITS).eval()
    return float(_Loss(**kwargs).compute_loss(model, {"input_ids": torch.zeros(4, 2, dtype=torch.long), **batch}))


# --------------------------------------------------------------------------- the loss, by hand


def test_soft_label_loss_is_cross_entropy_to_the_distribution():
    q = SOFT.tolist()
    ce = [-sum(q[i][k] * LOGP[i][k] for k in range(3)) for i in range(4)]
    got = _loss({"labels": LABELS, "soft_labels": SOFT}, soft_labels=True)
    assert got == pytest.approx(sum(ce) / 4, abs=1e-6)
    # CE = KL + H(q): the same gradients as KL, a reported loss higher by the targets' mean entropy.
    h = [-sum(p * math.log(p) for p in row if p > 0) for row in q]
    kl = [ce[i] - h[i] for i in range(4)]
    assert got - sum(kl) / 4 == pytest.approx(sum(h) / 4, abs=1e-6)
    # A one-hot target (the bulk's, and tracked items outside soft_bins) is the hard-label CE.
    assert ce[3] == pytest.approx(-LOGP[3][0]) and per_item_objective(LOGITS, LABELS, SOFT)[3].item() == \
        pytest.approx(-LOGP[3][0], abs=1e-6)


def test_item_weights_and_class_weights_compose_as_documented():
    # loss = Σ_i c_{y_i} v_i ℓ_i / Σ_i c_{y_i} v_i  (ℓ_i unweighted CE to the training label).
    c = [0.5, 1.0, 1.5]
    v = [1.0, 0.25, 0.0, 2.0]
    ce = [-LOGP[i][y] for i, y in enumerate(LABELS.tolist())]
    w = [c[y] * v[i] for i, y in enumerate(LABELS.tolist())]
    expected = sum(wi * li for wi, li in zip(w, ce, strict=True)) / sum(w)
    batch = {"labels": LABELS, "item_weight": torch.tensor(v)}
    assert _loss(batch, class_weights=torch.tensor(c)) == pytest.approx(expected, abs=1e-6)
    # Without class weights: c = 1; without item weights: v = 1 (the study's class-weighted CE).
    assert _loss(batch) == pytest.approx(sum(v[i] * ce[i] for i in range(4)) / sum(v), abs=1e-6)
    plain = torch.nn.functional.cross_entropy(LOGITS, LABELS, weight=torch.tensor(c))
    assert _loss({"labels": LABELS}, class_weights=torch.tensor(c)) == pytest.approx(float(plain), abs=1e-6)
    # With soft targets and label smoothing: ℓ_i changes, the weights and the normaliser do not.
    eps, q = 0.1, SOFT.tolist()
    ls = [(1 - eps) * -sum(q[i][k] * LOGP[i][k] for k in range(3)) + eps * -sum(LOGP[i]) / 3 for i in range(4)]
    got = _loss({**batch, "soft_labels": SOFT}, class_weights=torch.tensor(c), soft_labels=True,
                label_smoothing=eps)
    assert got == pytest.approx(sum(wi * li for wi, li in zip(w, ls, strict=True)) / sum(w), abs=1e-6)


def test_all_zero_weights_give_zero_loss_not_nan():
    batch = {"labels": LABELS, "item_weight": torch.zeros(4)}
    assert _loss(batch) == 0.0


def test_item_weights_by_entropy_and_by_bin():
    ln3 = math.log(3)
    tracked = [True, True, True, False]
    entropy = [0.0, 0.55, ln3, float("nan")]
    bins = ["clean", "ambiguous", "contested", None]
    got = item_weights(tracked, entropy, bins, mode="entropy", num_classes=3)
    np.testing.assert_allclose(got, [1.0, 1 - 0.55 / ln3, 0.0, 1.0], rtol=1e-6)
    got = item_weights(tracked, entropy, bins, mode="bins", num_classes=3, bin_weights=[1.0, 0.8, 0.3])
    np.testing.assert_allclose(got, [1.0, 0.8, 0.3, 1.0], rtol=1e-6)
    assert item_weights(tracked, entropy, bins, mode="none", num_classes=3).tolist() == [1.0] * 4
    assert item_weights([True], [math.log(2) / 2], ["ambiguous"], mode="entropy", num_classes=2)[0] == \
        pytest.approx(0.5)  # K = 2 (αNLI): normalised by ln 2


def test_label_smoothing_matches_transformers_label_smoother(tmp_path):
    eps = 0.1
    expected = float(LabelSmoother(epsilon=eps)({"logits": LOGITS}, LABELS))
    by_hand = sum((1 - eps) * -LOGP[i][y] + eps * -sum(LOGP[i]) / 3 for i, y in enumerate(LABELS.tolist())) / 4
    assert expected == pytest.approx(by_hand, abs=1e-6)
    assert _loss({"labels": LABELS}, label_smoothing=eps) == pytest.approx(expected, abs=1e-6)
    # The real trainer reads ε from its TrainingArguments (transformers' label_smoothing_factor).
    args = training_arguments(TrainConfig(label_smoothing=eps, device="cpu"), output_dir=str(tmp_path))
    assert args.label_smoothing_factor == eps
    trainer = DynamicsTrainer(model=_FixedLogits(LOGITS), args=args, data_collator=collator())
    assert trainer.label_smoother is not None and trainer.label_smoother.epsilon == eps
    batch = {"input_ids": torch.zeros(4, 2, dtype=torch.long), "labels": LABELS}
    assert float(trainer.compute_loss(trainer.model, batch)) == pytest.approx(expected, abs=1e-6)
    assert float(trainer.label_smoother(trainer.model(), LABELS)) == pytest.approx(expected, abs=1e-6)


def test_accumulation_normalises_over_the_item_and_class_weights_of_all_micro_batches(tmp_path):
    """Two micro-batches of 2 with the get_batch_samples normaliser == one batch of 4."""
    c, v = torch.tensor([0.5, 1.0, 1.5]), torch.tensor([1.0, 0.25, 0.6, 2.0])
    args = training_arguments(TrainConfig(device="cpu", label_smoothing=0.05), output_dir=str(tmp_path))
    trainer = DynamicsTrainer(model=_FixedLogits(LOGITS), args=args, data_collator=collator(), class_weights=c)
    ids = torch.zeros(2, 2, dtype=torch.long)
    halves = [{"input_ids": ids, "labels": LABELS[s], "item_weight": v[s]} for s in (slice(0, 2), slice(2, 4))]
    batches, total = trainer.get_batch_samples(iter(halves), 2, torch.device("cpu"))
    assert float(total) == pytest.approx(float((c[LABELS] * v).sum()))
    parts = 0.0
    for batch, rows in zip(batches, (slice(0, 2), slice(2, 4)), strict=True):
        trainer.model.logits = LOGITS[rows]
        parts += float(trainer.compute_loss(trainer.model, batch, num_items_in_batch=total))
    trainer.model.logits = LOGITS
    whole = float(trainer.compute_loss(trainer.model, {"input_ids": torch.zeros(4, 2, dtype=torch.long),
                                                       "labels": LABELS, "item_weight": v}))
    assert parts == pytest.approx(whole, abs=1e-6)


def test_item_weight_travels_with_the_batch_and_never_reaches_the_model():
    items = toy_items(6, seed=1)
    ds = toy_dataset(items, n_tracked=3)
    assert "item_weight" not in ds.column_names
    feats = [{k: ds[i][k] for k in ("input_ids", "attention_mask", "token_type_ids")} for i in range(6)]
    ds = tokenised_dataset(feats, labels=items["labels"], item_ids=items["item_ids"],
                           item_weight=[0.5, 1, 1, 1, 1, 2])
    batch = collator()([ds[i] for i in range(6)])
    assert batch["item_weight"].dtype == torch.float32
    assert batch["item_weight"].tolist() == [0.5, 1, 1, 1, 1, 2] and "item_weight" in MODEL_EXTRAS


# --------------------------------------------------------------------------- config


YAML = ("model: minilm-l6\n"
        "data: {training_label: soft, soft_bins: [contested]}\n"
        "train: {soft_labels: true, item_weighting: bins, bin_weights: [1, 0.8, 0.5], label_smoothing: 0.1}\n")


def test_options_round_trip_yaml_config_json_config(tmp_path):
    from contested.commands.train import resolve_config

    path = tmp_path / "run.yaml"
    path.write_text(YAML)
    cfg = resolve_config({}, path)
    assert cfg.data.soft_bins == ("contested",) and cfg.train.item_weighting == "bins"
    assert cfg.train.bin_weights == (1.0, 0.8, 0.5) and cfg.train.label_smoothing == 0.1
    (tmp_path / "config.json").write_text(json.dumps(cfg.to_dict()))
    back = RunConfig.from_dict(json.loads((tmp_path / "config.json").read_text()))
    assert back == cfg and back.digest() == cfg.digest()
    entropy = resolve_config({"train.item_weighting": "entropy"}, None)
    assert RunConfig.from_dict(json.loads(json.dumps(entropy.to_dict()))) == entropy


def test_defaults_keep_run_ids_and_every_option_changes_them():
    base = RunConfig()
    assert base.digest() == "e93349a2b4b6"  # the run id before these options existed
    assert base.train.item_weighting == "none" and base.train.bin_weights is None
    assert base.train.label_smoothing == 0.0 and base.data.soft_bins is None
    soft = RunConfig(data=DataConfig(training_label="soft"), train=TrainConfig(soft_labels=True))
    variants = [
        soft,
        RunConfig(data=DataConfig(training_label="soft", soft_bins=("contested",)), train=TrainConfig(soft_labels=True)),
        RunConfig(train=TrainConfig(item_weighting="entropy")),
        RunConfig(train=TrainConfig(item_weighting="bins", bin_weights=(1, 1, 0.5))),
        RunConfig(train=TrainConfig(label_smoothing=0.1)),
    ]
    assert len({v.digest() for v in [base, *variants]}) == 6
    # soft_bins has one spelling per choice: order does not matter and every bin is the default.
    assert DataConfig(training_label="soft", soft_bins=("contested", "clean")).soft_bins == ("clean", "contested")
    assert DataConfig(training_label="soft", soft_bins=BIN_NAMES) == soft.data


@pytest.mark.parametrize(("kwargs", "pattern"), [
    ({"label_smoothing": 1.5}, r"^train\.label_smoothing: must be in \[0, 1\) \(got 1\.5\)"),
    ({"item_weighting": "bins"}, r"^train\.bin_weights: item_weighting bins needs one weight per bin"),
    ({"item_weighting": "bins", "bin_weights": (1, 2)}, r"^train\.bin_weights: needs 3 weights"),
    ({"item_weighting": "bins", "bin_weights": (0, 0, 0)}, r"^train\.bin_weights: weights must be ≥ 0 and not all 0"),
    ({"item_weighting": "bins", "bin_weights": (1, -1, 1)}, r"^train\.bin_weights: weights must be ≥ 0"),
    ({"bin_weights": (1, 1, 1)}, r"^train\.bin_weights: applies to item_weighting bins, not 'none'"),
    ({"item_weighting": "loss"}, r"^train\.item_weighting: unknown 'loss'"),
])
def test_bad_train_values_are_config_errors(kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        TrainConfig(**kwargs)


@pytest.mark.parametrize(("kwargs", "pattern"), [
    ({"training_label": "soft", "soft_bins": ("nowhere",)}, r"^data\.soft_bins: unknown bin 'nowhere'"),
    ({"training_label": "soft", "soft_bins": ()}, r"^data\.soft_bins: must not be empty"),
    ({"training_label": "soft", "soft_bins": ("clean", "clean")}, r"^data\.soft_bins: names a bin twice"),
    ({"soft_bins": ("contested",)}, r"^data\.soft_bins: applies to training_label soft, not 'majority'"),
])
def test_bad_soft_bins_are_config_errors(kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        DataConfig(**kwargs)


# --------------------------------------------------------------------------- the mixture


def test_soft_bins_choose_which_tracked_items_train_on_the_distribution(data_dir):
    kw = {"dataset": "chaosnli-snli", "bulk": 12, "heldout": 0, "max_tracked": 30, "data_dir": str(data_dir)}
    every = build_mixture(DataConfig(training_label="soft", **kw))
    some = build_mixture(DataConfig(training_label="soft", soft_bins=("contested",), **kw))
    hard = build_mixture(DataConfig(training_label="majority", **kw))
    bins = dict(zip(every.tracked["item_id"], every.tracked["bin"].astype(str), strict=True))
    dist = dict(zip(every.tracked["item_id"], every.tracked["label_dist"], strict=True))
    for mix in (every, some, hard):  # the hard label is the majority whatever the target
        pd.testing.assert_series_equal(mix.train["label"], hard.train["label"])
    for frame, soft_bins in ((every.train, BIN_NAMES), (some.train, ("contested",)), (hard.train, ())):
        for row in frame.itertuples():
            target = np.asarray(row.label_dist)
            if row.is_tracked and bins[row.item_id] in soft_bins:
                np.testing.assert_allclose(target, dist[row.item_id])
            else:
                np.testing.assert_array_equal(target, np.eye(3)[row.label])
    assert {"clean", "contested"} <= set(bins.values())


# --------------------------------------------------------------------------- end to end

SMALL = ["--bulk", "16", "--max-tracked", "9", "--heldout", "6", "--max-length", "32", *TINY_TRAIN_FLAGS]
OPTIONS = {
    "soft": ["--training-label", "soft", "--soft-labels"],
    "soft-contested": ["--training-label", "soft", "--soft-labels", "--soft-bins", "contested"],
    "entropy-weighted": ["--item-weighting", "entropy"],
    "bin-weighted": ["--item-weighting", "bins", "--bin-weights", "1,0.5,0"],
    "label-smoothing": ["--label-smoothing", "0.2"],
}


@pytest.fixture(scope="module")
def runs(tiny_bert_dir, tmp_path_factory):
    """``contested train`` once per option plus the baseline, each into its own runs folder."""
    out = tmp_path_factory.mktemp("runs")
    dirs = {}
    with single_thread():
        for name, argv in {"baseline": [], **OPTIONS}.items():
            with pytest.raises(SystemExit) as exc:
                main(["train", "--model", str(tiny_bert_dir), *SMALL, "--runs-dir", str(out / name), *argv])
            assert exc.value.code == 0, name
            (dirs[name],) = [d for d in (out / name).iterdir() if not d.name.startswith(".")]
    return dirs


def test_contested_train_with_each_option_finishes(tiny_bert_dir, tmp_path, capsys):
    """The CLI itself, once with every option at the same time (the per-option runs: next test)."""
    runs_dir = tmp_path / "runs"
    argv = ["train", "--model", str(tiny_bert_dir), *SMALL, "--runs-dir", str(runs_dir),
            "--training-label", "soft", "--soft-labels", "--soft-bins", "ambiguous,contested",
            "--item-weighting", "entropy", "--label-smoothing", "0.1"]
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    run_dir = runs_dir / out.strip().rsplit("/", 1)[-1]
    cfg = RunConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    assert cfg.data.soft_bins == ("ambiguous", "contested") and cfg.train.item_weighting == "entropy"
    assert cfg.train.label_smoothing == 0.1 and cfg.digest() == run_dir.name
    _assert_unweighted_ce(pd.read_parquet(run_dir / "dynamics.parquet"))


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("name", list(OPTIONS))
def test_each_option_records_unweighted_cross_entropy(runs, name):
    run_dir = runs[name]
    assert (run_dir / "DONE").is_file()
    cfg = RunConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    assert cfg.digest() == run_dir.name != runs["baseline"].name
    dyn = pd.read_parquet(run_dir / "dynamics.parquet")
    assert set(dyn["measurement"]) == {"snapshot", "inflight"}
    _assert_unweighted_ce(dyn)
    # The tracking label is the majority whatever the training target; step 0 is before any update,
    # so its snapshot equals the baseline's: what is recorded does not depend on the training loss.
    base = pd.read_parquet(runs["baseline"] / "dynamics.parquet")
    at0 = [d[(d.step == 0) & (d.measurement == "snapshot")].sort_values(["split", "item_id"]) for d in (dyn, base)]
    np.testing.assert_array_equal(at0[0]["label_used"], at0[1]["label_used"])
    np.testing.assert_allclose(at0[0]["loss"], at0[1]["loss"], rtol=1e-5, atol=1e-6)
    # …and the option did change training: the last snapshot differs from the baseline's.
    last = [d[(d.step == d.step.max()) & (d.measurement == "snapshot")].sort_values(["split", "item_id"])
            for d in (dyn, base)]
    assert np.abs(last[0]["loss"].to_numpy() - last[1]["loss"].to_numpy()).max() > 1e-4
    metrics = json.loads((run_dir / "metrics.json").read_text())
    summary = metrics["mitigations"]
    if name in ("bin-weighted", "entropy-weighted"):  # every tracked bin has its mean weight
        tracked_bins = set(pd.read_parquet(run_dir / "items.parquet").query("split == 'tracked'")["bin"].astype(str))
        assert set(summary["item_weight_by_bin"]) == tracked_bins
    if name == "bin-weighted":
        assert summary["item_weight_by_bin"] == {b: w for b, w in zip(BIN_NAMES, (1.0, 0.5, 0.0), strict=True)
                                                 if b in tracked_bins}
    if name == "entropy-weighted":
        weights = summary["item_weight_by_bin"]
        assert all(0.0 <= w <= 1.0 for w in weights.values())
        if {"clean", "contested"} <= set(weights):
            assert weights["clean"] > weights["contested"]  # 1 − H / ln K falls with entropy
    if name in ("soft", "soft-contested"):
        assert summary["n_soft_targets"] > 0
        items = pd.read_parquet(run_dir / "items.parquet")
        tracked = items[items.split == "tracked"]
        n_multi = int((tracked["majority_share"] < 1).sum()) if name == "soft" else \
            int(((tracked["majority_share"] < 1) & (tracked["bin"].astype(str) == "contested")).sum())
        assert summary["n_soft_targets"] == n_multi
    if name == "label-smoothing":
        assert cfg.train.label_smoothing == 0.2 and summary["item_weight_by_bin"] is None
    assert np.isfinite(metrics["train_loss"])


def _assert_unweighted_ce(dyn: pd.DataFrame) -> None:
    logits = np.stack(dyn["logits"].map(np.asarray).tolist()).astype(np.float64)
    top = logits.max(axis=1, keepdims=True)
    log_p = logits - top - np.log(np.exp(logits - top).sum(axis=1, keepdims=True))
    used = dyn["label_used"].to_numpy()
    np.testing.assert_allclose(dyn["loss"], -log_p[np.arange(len(dyn)), used], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("argv", "message"), [
    (["--label-smoothing", "1.5"], "train.label_smoothing (--label-smoothing): must be in [0, 1) (got 1.5)"),
    (["--training-label", "soft", "--soft-labels", "--soft-bins", "nowhere"],
     "data.soft_bins (--soft-bins): unknown bin 'nowhere'"),
    (["--item-weighting", "bins", "--bin-weights", "1,2"], "train.bin_weights (--bin-weights): needs 3 weights"),
    (["--bin-weights", "1,2,3"], "train.bin_weights (--bin-weights): applies to item_weighting bins"),
    (["--item-weighting", "bins"], "train.bin_weights (--bin-weights): item_weighting bins needs"),
    (["--soft-bins", "contested"], "data.soft_bins (--soft-bins): applies to training_label soft"),
    (["--item-weighting", "often"], "train.item_weighting (--item-weighting): unknown 'often'"),
])
def test_bad_values_are_one_line_errors_without_run_dir(argv, message, tmp_path, capsys, tiny_bert_dir):
    runs_dir = tmp_path / "runs"
    code, out, err = run_cli(capsys, "train", "--model", str(tiny_bert_dir), *SMALL, "--runs-dir", str(runs_dir), *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not runs_dir.exists()
