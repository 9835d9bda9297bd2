"""The HF ``Trainer`` with per-item losses: weighted, soft-label, smoothed training + in-flight rows.

The training loss (``docs/training.md``, "Mitigations"). Item i has logits z_i, p_i = softmax(z_i),
training label y_i, target distribution q_i (one-hot of y_i, or the annotator distribution for
soft targets), class weight c_{y_i} (1 without ``class_weighted``) and item weight v_i (the batch's
``item_weight``; 1 when absent). With label smoothing ε (``args.label_smoothing_factor``)::

    ℓ_i = (1 − ε) · (−Σ_k q_ik log p_ik) + ε · (1/K) Σ_k (−log p_ik)
    w_i = c_{y_i} · v_i
    loss = Σ_i w_i ℓ_i / Σ_i w_i          (sums over the whole accumulated batch)

For one-hot q and ε > 0 this ℓ_i is transformers' ``LabelSmoother`` per item; for ε = 0 it is
(soft) cross-entropy. ``Trainer.compute_loss`` (and so the Trainer's own label smoother) is
overridden here, so the smoothing is applied by :func:`per_item_objective`, with the same
definition. The recorded dynamics never see ε, q or w: they are unweighted CE vs ``label_used``.

transformers 5.x loss-scaling contract (``Trainer.training_step``): the loss returned by
``compute_loss`` is divided by the number of accumulation steps unless ``loss_is_scaled_for_ga``
says it is already normalised over the whole accumulated batch. We normalise it ourselves:
:meth:`InflightLossMixin.get_batch_samples` (called once per optimiser step with all its
micro-batches) returns the accumulated batch's total item weight Σ w_i as ``num_items_in_batch``,
and :meth:`~InflightLossMixin.compute_loss` returns ``Σ_batch w_i ℓ_i / Σ_accumulated w_i``. Summed
over the micro-batches this is exactly the weighted mean loss of one big batch, so
``device_batch_size=8`` with 4 accumulation steps takes the same optimiser step as a device
batch of 32, even when the last accumulation of an epoch has fewer micro-batches.
(``torch.nn.functional.cross_entropy(weight=w)`` has the same normaliser, Σ w_i.)
The normaliser is per process: under data parallelism each process normalises its own share
and the gradients are averaged, which equals the big-batch step only for equal shares.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from transformers import Trainer, TrainingArguments

from contested.train.data import MODEL_EXTRAS
from contested.train.recorder import DynamicsRecorder

if TYPE_CHECKING:  # config imports the data and models layers; keep this module light
    from contested.train.config import TrainConfig


def per_item_objective(
    logits: torch.Tensor, labels: torch.Tensor, soft_targets: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Per-item training loss in nats, shape (n,), before any weighting.

    ``(1 − ε) · CE(q, p) + ε · mean_k(−log p_k)`` with p = softmax(logits), q = one-hot of
    ``labels`` (shape (n,)) or ``soft_targets`` (shape (n, K), rows summing to 1) and
    ε = ``label_smoothing``. For one-hot q this is transformers' ``LabelSmoother`` per item; with
    soft q it is the cross-entropy to the smoothed target (1 − ε)·q + ε/K (torch's definition).

    Soft targets use cross-entropy, −Σ_k q_k log p_k = KL(q ‖ p) + H(q): the same gradients
    as KL (H(q) does not depend on the model), but the reported training loss includes H(q).
    """
    target = labels if soft_targets is None else soft_targets
    return F.cross_entropy(logits, target, reduction="none", label_smoothing=float(label_smoothing))


class InflightLossMixin:
    """Mix into a HF ``Trainer`` subclass: own loss normalisation + in-flight recording.

    Set the attributes after construction (or pass them to :class:`DynamicsTrainer`). Batches
    must come from :class:`~contested.train.data.DynamicsCollator` over
    :func:`~contested.train.data.tokenised_dataset`, with ``remove_unused_columns=False`` in the
    ``TrainingArguments`` so that ``item_id`` & co. reach :meth:`compute_loss`.

    Attributes
    ----------
    recorder : DynamicsRecorder or None
        Receives one ``inflight`` row per tracked item of each training micro-batch (unweighted
        CE vs ``label_used``, computed from the same logits the gradient comes from; dropout on).
    class_weights : torch.Tensor or None
        Shape (K,); None = unweighted.
    soft_labels : bool
        Train on cross-entropy to ``soft_labels`` in the batch.

    Per-item weights come with the batch (``item_weight``, see
    :func:`~contested.train.data.item_weights`) and label smoothing from
    ``args.label_smoothing_factor``; the module docstring gives the loss.
    """

    recorder: DynamicsRecorder | None = None
    class_weights: torch.Tensor | None = None
    soft_labels: bool = False
    # Our loss is normalised over the whole accumulated batch (see the module docstring).
    loss_is_scaled_for_ga = True

    def _example_weights(self, batch: dict[str, Any]) -> torch.Tensor:
        """w_i = class weight of the training label × the item's weight, shape (n,)."""
        labels = batch["labels"]
        if self.class_weights is None:
            weights = torch.ones(labels.shape, dtype=torch.float32, device=labels.device)
        else:
            weights = self.class_weights.to(labels.device)[labels]
        item = batch.get("item_weight")
        return weights if item is None else weights * item.to(weights.device, torch.float32)

    @property
    def _label_smoothing(self) -> float:
        args = getattr(self, "args", None)
        return float(getattr(args, "label_smoothing_factor", 0.0) or 0.0)

    def get_batch_samples(self, epoch_iterator, num_batches, device):
        """Fetch one optimiser step's micro-batches; return their total item weight as normaliser."""
        batch_samples, _ = super().get_batch_samples(epoch_iterator, num_batches, device)
        total = sum(self._example_weights(b).sum() for b in batch_samples if "labels" in b)
        return batch_samples, (total.to(device) if torch.is_tensor(total) else None)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """Weighted mean of per-item losses; records in-flight rows while training."""
        model_inputs = {k: v for k, v in inputs.items() if k not in MODEL_EXTRAS and k != "labels"}
        labels = inputs["labels"]
        outputs = model(**model_inputs)
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        soft = inputs.get("soft_labels") if self.soft_labels else None
        if self.soft_labels and soft is None:
            raise ValueError("soft_labels=True but the batch has no 'soft_labels' (pass soft_labels= to tokenised_dataset)")
        per_item = per_item_objective(logits.float(), labels, soft, self._label_smoothing)
        weights = self._example_weights(inputs)
        denom = num_items_in_batch if num_items_in_batch is not None else weights.sum()
        # An all-zero-weight batch (possible with item weights of 0) contributes nothing, not NaN.
        denom = torch.as_tensor(denom, dtype=per_item.dtype, device=per_item.device)
        loss = (weights * per_item).sum() / denom.clamp(min=torch.finfo(per_item.dtype).tiny)
        if self.recorder is not None and model.training:
            self._record_inflight(logits, inputs)
        return (loss, outputs) if return_outputs else loss

    def _record_inflight(self, logits: torch.Tensor, inputs: dict[str, Any]) -> None:
        n = logits.shape[0]
        tracked = inputs.get("is_tracked")
        mask = torch.ones(n, dtype=torch.bool) if tracked is None else tracked.detach().cpu().bool()
        if not bool(mask.any()):
            return
        ids = inputs.get("item_id") or [str(i) for i in range(n)]
        label_used = inputs.get("label_used", inputs["labels"]).detach().cpu()
        noisy = inputs.get("is_noisy")
        noisy = torch.zeros(n, dtype=torch.bool) if noisy is None else noisy.detach().cpu()
        keep = mask.nonzero().flatten().tolist()
        state = self.state
        self.recorder.update(
            [ids[i] for i in keep], logits.detach()[mask.to(logits.device)], label_used[mask],
            step=state.global_step, epoch=float(state.epoch or 0.0),
            progress=state.global_step / max(state.max_steps, 1), measurement="inflight",
            split="tracked", is_noisy=noisy[mask],
        )


class DynamicsTrainer(InflightLossMixin, Trainer):
    """HF ``Trainer`` with the study's loss and in-flight recording.

    Parameters
    ----------
    *args, **kwargs
        As for ``transformers.Trainer``.
    recorder
        See :class:`InflightLossMixin`.
    class_weights
        Shape (K,) or None.
    soft_labels
        Train on cross-entropy to the annotator distribution (the batch's ``soft_labels``).
    """

    def __init__(self, *args: Any, recorder: DynamicsRecorder | None = None,
                 class_weights: torch.Tensor | None = None, soft_labels: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recorder = recorder
        self.class_weights = class_weights
        self.soft_labels = soft_labels


def use_cpu(device: str) -> bool:
    """Whether ``device`` (a :class:`TrainConfig` value) means the CPU on this machine."""
    if device == "cpu":
        return True
    if device == "auto":
        return not (torch.cuda.is_available() or torch.backends.mps.is_available())
    return False


def training_arguments(train: TrainConfig, *, output_dir: str) -> TrainingArguments:
    """HF ``TrainingArguments`` for the recipe in ``train`` (no checkpoints, no reporting)."""
    return TrainingArguments(
        output_dir=output_dir,
        learning_rate=train.lr,
        weight_decay=train.weight_decay,
        per_device_train_batch_size=train.per_device_batch,
        gradient_accumulation_steps=train.accumulation_steps,
        num_train_epochs=train.epochs,
        warmup_steps=train.warmup_ratio,  # a float in [0, 1) is a ratio in transformers 5.x
        lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr_rate": train.min_lr_rate},
        max_grad_norm=train.max_grad_norm,
        # Read by InflightLossMixin.compute_loss (it replaces the Trainer's LabelSmoother).
        label_smoothing_factor=train.label_smoothing,
        optim=train.optim,
        seed=train.seed,
        data_seed=train.seed,
        full_determinism=train.full_determinism,
        bf16=train.bf16,
        # None leaves torch's TF32 setting alone (HF refuses tf32=True without an Ampere GPU).
        tf32=True if train.tf32 else None,
        torch_compile=train.torch_compile,
        use_cpu=use_cpu(train.device),
        train_sampling_strategy="group_by_length" if train.group_by_length else "random",
        length_column_name="length",
        remove_unused_columns=False,
        save_strategy="no",
        eval_strategy="no",
        logging_strategy="steps",
        logging_steps=train.logging_steps,
        logging_first_step=True,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
