"""Training, recording and run configuration: one frozen dataclass per concern.

The defaults are the study's recipe (``../shared/docs/method.md``): AdamW at lr 2e-5, weight decay
0.01, an effective batch of 32, 5 epochs, 6 % linear warm-up then cosine decay to a 10 % floor,
gradient clipping at 1.0, sequences cut at 128 tokens, class-weighted cross-entropy for training,
seed 42, and eval-mode snapshots of the tracked items every 100 optimiser steps.

Every field is also a ``contested train`` flag (``snapshot_every`` → ``--snapshot-every``), so the
docstrings below double as the CLI help.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from contested.config import Config
from contested.data import DataConfig
from contested.errors import ContestedError
from contested.models import MethodConfig

PADDING_MODES = ("longest", "max_length")
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("float32", "bfloat16", "float16")


def _fail(field: str, message: str) -> ContestedError:
    flag = "--" + field.rsplit(".", 1)[-1].replace("_", "-")
    return ContestedError(f"field '{field}' ({flag}): {message}")


@dataclasses.dataclass(frozen=True)
class TrainConfig(Config):
    """Optimisation recipe (HF ``TrainingArguments`` are derived from it).

    Parameters
    ----------
    lr : float
        Peak learning rate of AdamW (the study: 2e-5; CPU-scale runs need 1e-4 to 1e-3).
    weight_decay : float
        AdamW decoupled weight decay.
    batch_size : int
        Effective batch size (items per optimiser step).
    device_batch_size : int or None
        Items per forward pass; gradient accumulation makes up ``batch_size``. None: ``batch_size``.
    epochs : int
        Passes over the training mixture.
    warmup_ratio : float
        Share of optimiser steps with linear warm-up from 0 to ``lr``.
    min_lr_rate : float
        Floor of the cosine decay as a share of ``lr`` (``cosine_with_min_lr``).
    max_grad_norm : float
        Gradient-norm clipping threshold (0 disables clipping).
    max_length : int
        Tokens per item after truncation.
    seed : int
        Seed of head initialisation, adapter initialisation, dropout and batch order.
    class_weighted : bool
        Weight the training loss by inverse class frequency over the training mixture (sum = K).
    soft_labels : bool
        Train on KL divergence to the annotator distribution instead of CE to the hard label.
    padding : str
        ``longest`` (pad each batch to its longest item) or ``max_length`` (always pad to
        ``max_length``, the reference code's behaviour).
    group_by_length : bool
        Draw batches of similar length (HF ``train_sampling_strategy="group_by_length"``).
    bf16 : bool
        Mixed precision in bfloat16 (GPUs with bf16 support).
    dtype : str
        Weights' dtype when loading: float32, bfloat16 or float16 (frozen decoder bases).
    device : str
        ``auto`` (cuda, then mps, then cpu), ``cpu``, ``cuda`` or ``mps``.
    optim : str
        HF optimiser name (``adamw_torch`` is AdamW).
    logging_steps : int
        Optimiser steps between training-loss log entries (progress bar and metrics.json).
    full_determinism : bool
        Ask torch for deterministic kernels (slower on GPUs; CPU runs are deterministic anyway).
    tf32 : bool
        TensorFloat-32 matmuls on Ampere or newer NVIDIA GPUs (fp32 weights, ~10-bit mantissa
        products; several times the fp32 matmul rate). No effect on results' format; not on CPUs.
    torch_compile : bool
        ``torch.compile`` the model for training (GPUs: faster after a warm-up of a minute or
        so; CPUs: compile time rarely pays off at these run lengths).
    """

    section: ClassVar[str] = "train"

    lr: float = 2e-5
    weight_decay: float = 0.01
    batch_size: int = 32
    device_batch_size: int | None = None
    epochs: int = 5
    warmup_ratio: float = 0.06
    min_lr_rate: float = 0.1
    max_grad_norm: float = 1.0
    max_length: int = 128
    seed: int = 42
    class_weighted: bool = True
    soft_labels: bool = False
    padding: str = "longest"
    group_by_length: bool = True
    bf16: bool = False
    dtype: str = "float32"
    device: str = "auto"
    optim: str = "adamw_torch"
    logging_steps: int = 10
    full_determinism: bool = False
    tf32: bool = False
    torch_compile: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lr <= 0:
            raise _fail("train.lr", f"must be > 0 (got {self.lr}); e.g. 2e-5")
        if self.weight_decay < 0:
            raise _fail("train.weight_decay", f"must be ≥ 0 (got {self.weight_decay})")
        if self.batch_size < 1:
            raise _fail("train.batch_size", f"must be ≥ 1 (got {self.batch_size})")
        dbs = self.device_batch_size
        if dbs is not None and (dbs < 1 or self.batch_size % dbs):
            raise _fail(
                "train.device_batch_size",
                f"must be ≥ 1 and divide batch_size={self.batch_size} (got {dbs}); "
                "gradient accumulation makes up the rest",
            )
        if self.epochs < 1:
            raise _fail("train.epochs", f"must be ≥ 1 (got {self.epochs})")
        if not 0 <= self.warmup_ratio < 1:
            raise _fail("train.warmup_ratio", f"must be in [0, 1) (got {self.warmup_ratio})")
        if not 0 <= self.min_lr_rate <= 1:
            raise _fail("train.min_lr_rate", f"must be in [0, 1] (got {self.min_lr_rate})")
        if self.max_grad_norm < 0:
            raise _fail("train.max_grad_norm", f"must be ≥ 0 (got {self.max_grad_norm})")
        if self.max_length < 8:
            raise _fail("train.max_length", f"must be ≥ 8 tokens (got {self.max_length})")
        if self.padding not in PADDING_MODES:
            raise _fail("train.padding", f"unknown '{self.padding}'; use one of {', '.join(PADDING_MODES)}")
        if self.device not in DEVICES:
            raise _fail("train.device", f"unknown '{self.device}'; use one of {', '.join(DEVICES)}")
        if self.dtype not in DTYPES:
            raise _fail("train.dtype", f"unknown '{self.dtype}'; use one of {', '.join(DTYPES)}")
        if self.logging_steps < 1:
            raise _fail("train.logging_steps", f"must be ≥ 1 (got {self.logging_steps})")

    @property
    def per_device_batch(self) -> int:
        """Items per forward pass."""
        return self.device_batch_size or self.batch_size

    @property
    def accumulation_steps(self) -> int:
        """Forward passes per optimiser step."""
        return self.batch_size // self.per_device_batch


@dataclasses.dataclass(frozen=True)
class RecordConfig(Config):
    """What the dynamics recorder measures, and when.

    Parameters
    ----------
    snapshot_every : int
        Optimiser steps between eval-mode snapshots (the study: 100).
    snapshot_start : bool
        Snapshot before the first optimiser step (step 0, the reference point of Δℓ).
    snapshot_epoch_end : bool
        Snapshot at the end of every epoch (once per step: no duplicate when it coincides).
    inflight : bool
        Record the per-item training-forward losses of tracked items (dropout on).
    eval_batch_size : int
        Items per snapshot forward pass (sorted by length, padded to the batch's longest). Every
        snapshot scores the tracked and the validation items.
    heldout_eval : bool
        Score the held-out bulk items at every epoch end (task accuracy in metrics.json).
    """

    section: ClassVar[str] = "record"

    snapshot_every: int = 100
    snapshot_start: bool = True
    snapshot_epoch_end: bool = True
    inflight: bool = True
    eval_batch_size: int = 64
    heldout_eval: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.snapshot_every < 1:
            raise _fail(
                "record.snapshot_every",
                f"must be ≥ 1 optimiser step (got {self.snapshot_every}); the study uses 100",
            )
        if self.eval_batch_size < 1:
            raise _fail("record.eval_batch_size", f"must be ≥ 1 (got {self.eval_batch_size})")


@dataclasses.dataclass(frozen=True)
class RunConfig(Config):
    """Everything that determines a run; its ``digest()`` names the run directory.

    ``method`` is stored canonically (:meth:`MethodConfig.canonical`): options the method
    ignores do not change the digest.

    Parameters
    ----------
    model : str
        Registry name (``minilm-l6``, ``roberta-base``, …), HF id or local model folder.
    method : MethodConfig
        Fine-tuning method (full, lora, ia3) and its options.
    data : DataConfig
        Dataset, bulk size, tracked/validation split and training label.
    train : TrainConfig
        Optimisation recipe.
    record : RecordConfig
        Snapshot schedule and what is recorded.
    """

    section: ClassVar[str] = "run"

    model: str = "minilm-l6"
    method: MethodConfig = dataclasses.field(default_factory=MethodConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    record: RecordConfig = dataclasses.field(default_factory=RecordConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.model, str) or not self.model.strip():
            raise _fail("model", "must name a model (e.g. minilm-l6, roberta-base or a folder)")
        for name, cls in (("method", MethodConfig), ("data", DataConfig),
                          ("train", TrainConfig), ("record", RecordConfig)):
            if not isinstance(getattr(self, name), cls):
                raise _fail(name, f"must be a {cls.__name__} mapping")
        # Fields a method ignores (rank for full fine-tuning, …) must not change the digest.
        object.__setattr__(self, "method", self.method.canonical())
        if self.train.soft_labels != (self.data.training_label == "soft"):
            raise _fail(
                "train.soft_labels",
                "soft-label training needs the annotator distribution as target: use "
                "--soft-labels together with --training-label soft (or neither)",
            )
