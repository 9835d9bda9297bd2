"""Load a resolved model for sequence classification and adapt it with a method.

The order matters for reproducibility: the seed is set before ``from_pretrained`` creates the
randomly initialised head and therefore before peft draws the adapter weights, so the same
``(spec, method, seed)`` gives bit-identical initial parameters.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, set_seed

from contested.errors import ContestedError
from contested.models.adapters import apply_method
from contested.models.config import MethodConfig
from contested.models.registry import ModelSpec

_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
           "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}


def load_tokenizer(spec: ModelSpec) -> Any:
    """The tokenizer of ``spec``; decoders get pad = eos (when missing) and left padding.

    Left padding keeps the last real token at position −1; HF's ``*ForSequenceClassification``
    pools the right-most token that is not ``pad_token_id``, which is then that token.
    """
    kwargs = {"gguf_file": spec.gguf_file} if spec.gguf_file else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(spec.source, **kwargs)
    except OSError as exc:
        hint = ("; Hub models need network access or a copy in the Hugging Face cache"
                if not Path(spec.source).exists() else "")
        raise ContestedError(f"model '{spec.name}': cannot load its tokenizer from {spec.source} "
                             f"({str(exc).splitlines()[0]}){hint}") from exc
    if spec.is_decoder:
        if tokenizer.pad_token is None:
            if tokenizer.eos_token is None:
                raise ContestedError(f"model '{spec.name}': its tokenizer has neither a pad nor an eos "
                                     "token to pad with")
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"
    return tokenizer


def load_for_classification(spec: ModelSpec, *, num_labels: int, method: MethodConfig, seed: int,
                            dtype: str = "float32", device: str | torch.device | None = None
                            ) -> tuple[torch.nn.Module, Any]:
    """Load ``spec`` with a fresh ``num_labels``-way head and adapt it with ``method``.

    Parameters
    ----------
    spec
        From :func:`contested.models.resolve_model`.
    num_labels
        Number of classes K (≥ 2); the head outputs logits of shape ``(batch, K)``.
    method
        Full fine-tuning, LoRA or IA³ (see :class:`MethodConfig`).
    seed
        Set (torch, numpy, random) before the head is created and before peft wraps.
    dtype
        Weights dtype: ``float32`` (default), ``bfloat16`` or ``float16``.
    device
        Move the model there (``None``: leave it on the CPU).

    Returns
    -------
    (model, tokenizer)
        A ``peft.PeftModel`` (LoRA, IA³) or the plain model (full); the head is trainable.
    """
    if num_labels < 2:
        raise ContestedError(f"num_labels: a classifier needs at least 2 classes (got {num_labels})")
    if dtype not in _DTYPES:
        raise ContestedError(f"dtype: unknown '{dtype}'; choose one of {', '.join(_DTYPES)}")
    tokenizer = load_tokenizer(spec)
    kwargs: dict[str, Any] = {"num_labels": num_labels, "dtype": _DTYPES[dtype]}
    if spec.gguf_file:
        from transformers import GgufConfig

        # Unpacked to dense weights (packed GGUF layers are not trainable); slow on every load,
        # which is why built-in GGUF models are prepared once instead.
        kwargs["gguf_file"] = spec.gguf_file
        kwargs["quantization_config"] = GgufConfig(dequantize=True)
    if spec.is_decoder:
        kwargs["pad_token_id"] = tokenizer.pad_token_id
    set_seed(seed)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(spec.source, **kwargs)
    except OSError as exc:
        hint = (f"; prepare it with `{spec.prepare}`" if spec.prepare else
                "; Hub models need network access or a copy in the Hugging Face cache"
                if not Path(spec.source).exists() else "")
        raise ContestedError(f"model '{spec.name}': cannot load weights from {spec.source} "
                             f"({str(exc).splitlines()[0]}){hint}") from exc
    # Some configs keep pad_token_id only on the text sub-config or drop the kwarg; pooling reads it.
    if spec.is_decoder and model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    with warnings.catch_warnings():
        # peft's PeftModel.__init__ reads `model.is_gradient_checkpointing`, a property transformers 5.x
        # deprecated with a FutureWarning on every LoRA/IA³ load; nothing of ours uses it. Drop once
        # peft reads `is_activation_checkpointing` instead.
        warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated",
                                category=FutureWarning)
        model = apply_method(model, spec, method)
    if device is not None:
        model = model.to(device)
    return model, tokenizer


def trainable_parameter_names(model: torch.nn.Module) -> list[str]:
    """Names of parameters with ``requires_grad`` (what the optimiser updates)."""
    return [n for n, p in model.named_parameters() if p.requires_grad]
