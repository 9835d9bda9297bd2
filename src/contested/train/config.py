"""Training, recording and run configuration: one frozen dataclass per concern (torch-free).

The defaults are the study's recipe (``../shared/docs/method.md``): AdamW at lr 2e-5, weight decay
0.01, an effective batch of 32, 5 epochs, 6 % linear warm-up then cosine decay to a 10 % floor,
gradient clipping at 1.0, sequences cut at 128 tokens, class-weighted cross-entropy for training,
seed 42, and eval-mode snapshots of the tracked items every 100 optimiser steps.

Every field is declared once (:func:`contested.config.option`): its help text is the
``contested train`` flag's help and the class docstring's.
"""

from __future__ import annotations

from contested.config import Config, ConfigError, Range, configclass, nonempty, option
from contested.data import BIN_NAMES, DataConfig
from contested.models.config import MethodConfig
from contested.train.early_config import EarlyWarningConfig

PADDING_MODES = ("longest", "max_length")
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("float32", "bfloat16", "float16")
ITEM_WEIGHTINGS = ("none", "entropy", "bins")


def _bin_weights(value: tuple[float, ...]) -> str | None:
    """Check of ``bin_weights``: one weight ≥ 0 per entropy bin, not all zero."""
    if len(value) != len(BIN_NAMES):
        return (f"needs {len(BIN_NAMES)} weights, one per bin ({', '.join(BIN_NAMES)}); "
                f"got {len(value)}: {', '.join(f'{v:g}' for v in value)}")
    if any(v < 0 for v in value) or not any(v > 0 for v in value):
        return f"weights must be ≥ 0 and not all 0 (got {', '.join(f'{v:g}' for v in value)})"
    return None


@configclass
class TrainConfig(Config):
    """Optimisation recipe (HF ``TrainingArguments`` are derived from it)."""

    section = "train"

    lr: float = option(2e-5, check=Range(gt=0), hint="e.g. 2e-5",
                       help="Peak learning rate of AdamW (the study: 2e-5; CPU-scale runs need 1e-4 to 1e-3).")
    weight_decay: float = option(0.01, check=Range(ge=0), help="AdamW decoupled weight decay.")
    batch_size: int = option(32, check=Range(ge=1), help="Effective batch size (items per optimiser step).")
    device_batch_size: int | None = option(
        None, check=Range(ge=1),
        help="Items per forward pass; gradient accumulation makes up batch_size (default: batch_size).")
    epochs: int = option(5, check=Range(ge=1), help="Passes over the training mixture.")
    warmup_ratio: float = option(0.06, check=Range(ge=0, lt=1),
                                 help="Share of optimiser steps with linear warm-up from 0 to lr.")
    min_lr_rate: float = option(0.1, check=Range(ge=0, le=1),
                                help="Floor of the cosine decay as a share of lr (cosine_with_min_lr).")
    max_grad_norm: float = option(1.0, check=Range(ge=0), help="Gradient-norm clipping threshold (0: off).")
    max_length: int = option(128, check=Range(ge=8), help="Tokens per item after truncation.")
    seed: int = option(42, help="Run seed: head and adapter initialisation, dropout and batch order.")
    class_weighted: bool = option(True, help="Weight the training loss by inverse class frequency over "
                                             "the training mixture (sum = K).")
    soft_labels: bool = option(False, help="Train on cross-entropy to the annotator distribution instead "
                                           "of to the hard label (with training_label soft).")
    item_weighting: str = option(
        "none", choices=ITEM_WEIGHTINGS, added="0.2",
        help="Per-item loss weight of tracked items: none | entropy (1 − H / ln K) | bins (bin_weights); "
             "bulk items weigh 1.")
    bin_weights: tuple[float, ...] | None = option(
        None, check=_bin_weights, added="0.2", hint="e.g. --bin-weights 1,1,0.5",
        help="With item_weighting bins: loss weight of tracked clean, ambiguous and contested items.")
    label_smoothing: float = option(
        0.0, check=Range(ge=0, lt=1), added="0.2", hint="e.g. 0.1",
        help="Label smoothing ε as transformers' label_smoothing_factor: (1 − ε)·CE + ε·mean over "
             "classes of −log p (0: off).")
    padding: str = option("longest", choices=PADDING_MODES,
                          help="longest (pad each batch to its longest item) or max_length (always pad to "
                               "max_length, the reference code's behaviour).")
    group_by_length: bool = option(True, help="Draw batches of items of similar length.")
    bf16: bool = option(False, help="Mixed precision in bfloat16 (GPUs with bf16 support).")
    dtype: str = option("float32", choices=DTYPES, help="Weights' dtype when loading (frozen decoder bases).")
    device: str = option("auto", choices=DEVICES, help="auto (cuda, then mps, then cpu), cpu, cuda or mps.")
    optim: str = option("adamw_torch", check=nonempty, help="HF optimiser name (adamw_torch is AdamW).")
    logging_steps: int = option(10, check=Range(ge=1),
                                help="Optimiser steps between training-loss log entries (progress bar, metrics.json).")
    full_determinism: bool = option(False, help="Deterministic torch kernels (slower on GPUs; CPU runs are "
                                                "deterministic anyway).")
    tf32: bool = option(False, help="TensorFloat-32 matmuls on Ampere or newer NVIDIA GPUs (not on CPUs).")
    torch_compile: bool = option(False, help="torch.compile the model for training (GPUs: pays off after a "
                                             "minute or so of warm-up; rarely on CPUs).")

    def validate(self) -> None:
        dbs = self.device_batch_size
        if dbs is not None and self.batch_size % dbs:
            raise self.fail("device_batch_size", f"must divide batch_size={self.batch_size} (got {dbs}); "
                                                 "gradient accumulation makes up the rest")
        if self.item_weighting == "bins" and self.bin_weights is None:
            raise self.fail("bin_weights", "item_weighting bins needs one weight per bin "
                                           f"({', '.join(BIN_NAMES)}), e.g. --bin-weights 1,1,0.5")
        if self.item_weighting != "bins" and self.bin_weights is not None:
            raise self.fail("bin_weights", f"applies to item_weighting bins, not {self.item_weighting!r}; "
                                           "add --item-weighting bins or drop it")

    @property
    def per_device_batch(self) -> int:
        """Items per forward pass."""
        return self.device_batch_size or self.batch_size

    @property
    def accumulation_steps(self) -> int:
        """Forward passes per optimiser step."""
        return self.batch_size // self.per_device_batch


@configclass
class RecordConfig(Config):
    """What the dynamics recorder measures, and when. Every snapshot scores the tracked and the
    validation items."""

    section = "record"

    snapshot_every: int = option(100, check=Range(ge=1), hint="the study uses 100",
                                 help="Optimiser steps between eval-mode snapshots (the study: 100).")
    snapshot_start: bool = option(True, help="Snapshot before the first optimiser step (step 0, the "
                                             "reference point of Δℓ).")
    snapshot_epoch_end: bool = option(True, help="Snapshot at the end of every epoch (no duplicate when it "
                                                 "coincides with a periodic one).")
    inflight: bool = option(True, help="Record the per-item training-forward losses of tracked items "
                                       "(dropout on).")
    eval_batch_size: int = option(64, check=Range(ge=1),
                                  help="Items per snapshot forward pass (sorted by length, padded per batch).")
    heldout_eval: bool = option(True, help="Score the held-out bulk items at every epoch end (task accuracy).")


@configclass
class RunConfig(Config):
    """Everything that determines a run; its ``digest()`` names the run directory.

    ``method`` is stored canonically (:meth:`MethodConfig.canonical`): options the method
    ignores do not change the digest.
    """

    model: str = option("minilm-l6", check=nonempty, hint="e.g. minilm-l6, roberta-base or a folder",
                        help="Registry name (minilm-l6, roberta-base, …), HF id or local model folder.")
    method: MethodConfig = option(default_factory=MethodConfig, help="Fine-tuning method and its options.")
    data: DataConfig = option(default_factory=DataConfig, help="Dataset, bulk size, split and training label.")
    train: TrainConfig = option(default_factory=TrainConfig, help="Optimisation recipe.")
    record: RecordConfig = option(default_factory=RecordConfig, help="Snapshot schedule and what is recorded.")
    early_warning: EarlyWarningConfig = option(default_factory=EarlyWarningConfig, added="0.2",
                                               help="Early warning of un-learning while training (off by default).")

    def validate(self) -> None:
        # Fields a method ignores (rank for full fine-tuning, …) must not change the digest.
        object.__setattr__(self, "method", self.method.canonical())
        if self.train.soft_labels != (self.data.training_label == "soft"):
            raise ConfigError(TrainConfig.path("soft_labels"),
                              "soft-label training needs the annotator distribution as target: set it "
                              "together with data.training_label soft (or neither)")


__all__ = ["DEVICES", "DTYPES", "ITEM_WEIGHTINGS", "PADDING_MODES", "RecordConfig", "RunConfig", "TrainConfig"]
