"""Fine-tuning methods, registered by name (peft style), all through one code path.

A method is a function ``(model, spec, method, head_modules) -> model`` registered with
:func:`register_method`; :func:`apply_method` looks it up. Built in: ``full`` (every weight
trainable), ``lora`` (with rsLoRA and DoRA switches) and ``ia3``. The classification head is
trainable in every method (peft ``modules_to_save``).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from contested.errors import ContestedError
from contested.models.config import METHOD_NAMES, MethodConfig
from contested.models.registry import ModelSpec

MethodFn = Callable[[nn.Module, ModelSpec, "MethodConfig", tuple[str, ...]], nn.Module]
METHODS: dict[str, MethodFn] = {}


def register_method(name: str) -> Callable[[MethodFn], MethodFn]:
    """Decorator: make ``fn`` available as ``MethodConfig(method=name)``."""

    def deco(fn: MethodFn) -> MethodFn:
        METHODS[name] = fn
        if name not in METHOD_NAMES:  # the torch-free config validates names against this list
            METHOD_NAMES.append(name)
        return fn

    return deco


def linear_module_names(model: nn.Module) -> list[str]:
    """Full names of every ``nn.Linear`` module (what LoRA and IA³ can adapt)."""
    return [name for name, mod in model.named_modules() if isinstance(mod, nn.Linear)]


def _matches(name: str, target: str) -> bool:
    # peft's rule for a list of names (peft.tuners.tuners_utils.check_target_module_exists).
    return name == target or name.endswith("." + target)


def check_targets(model: nn.Module, targets: tuple[str, ...], *, field: str = "method.target_modules",
                  exclude: tuple[str, ...] = ()) -> None:
    """Raise :class:`ContestedError` if any target suffix matches no ``nn.Linear`` module.

    The message lists the distinct Linear-module suffixes available (``query``, ``attention.output.dense``...).
    peft itself only fails when *no* target matches, silently skipping a misspelt one.
    """
    names = [n for n in linear_module_names(model)
             if not any(_matches(n, h) or f".{h}." in f".{n}." for h in exclude)]
    missing = [t for t in targets if not any(_matches(n, t) for n in names)]
    if missing:
        suffixes = sorted({_short(n) for n in names})
        raise ContestedError(
            f"{field}: {', '.join(repr(t) for t in missing)} match no Linear module of this model; "
            f"available: {', '.join(suffixes[:20])}"
        )


def _short(name: str) -> str:
    """Module name without its layer prefix: ``bert.encoder.layer.3.attention.self.query`` -> ``attention.self.query``."""
    parts = name.split(".")
    digits = [i for i, p in enumerate(parts) if p.isdigit()]
    return ".".join(parts[digits[-1] + 1:]) if digits else name


def present_heads(model: nn.Module, heads: tuple[str, ...]) -> tuple[str, ...]:
    """The head names of ``heads`` that exist in ``model`` (unknown architectures list several)."""
    names = {n for n, _ in model.named_modules()}
    return tuple(h for h in heads if any(_matches(n, h) for n in names))


def apply_method(model: nn.Module, spec: ModelSpec, method: MethodConfig) -> nn.Module:
    """Adapt ``model`` with the registered ``method.method``; the head stays trainable.

    Returns
    -------
    torch.nn.Module
        A ``peft.PeftModel`` (lora, ia3) or ``model`` itself (full).
    """
    heads = present_heads(model, spec.head_modules)
    if not heads:
        raise ContestedError(
            f"model '{spec.name}': none of the head modules {list(spec.head_modules)} exists; "
            "is this a *ForSequenceClassification model?"
        )
    return METHODS[method.method](model, spec, method, heads)


def _targets(spec: ModelSpec, method: MethodConfig, default: tuple[str, ...]) -> tuple[str, ...]:
    if method.target_modules is not None:
        return method.target_modules
    if not default:
        raise ContestedError(
            f"method.target_modules: cannot infer {method.method} targets for model_type "
            f"'{spec.model_type}'; give them, e.g. --target-modules q_proj,v_proj"
        )
    return default


@register_method("full")
def _full(model: nn.Module, spec: ModelSpec, method: MethodConfig, heads: tuple[str, ...]) -> nn.Module:
    for param in model.parameters():
        param.requires_grad_(True)
    return model


@register_method("lora")
def _lora(model: nn.Module, spec: ModelSpec, method: MethodConfig, heads: tuple[str, ...]) -> nn.Module:
    from peft import LoraConfig, TaskType, get_peft_model

    targets = _targets(spec, method, spec.lora_targets)
    check_targets(model, targets, exclude=heads)
    config = LoraConfig(
        task_type=TaskType.SEQ_CLS, r=method.rank, lora_alpha=method.lora_alpha,
        lora_dropout=method.dropout, bias="none", target_modules=list(targets),
        modules_to_save=list(heads), use_rslora=method.use_rslora, use_dora=method.use_dora,
    )
    return get_peft_model(model, config)


@register_method("ia3")
def _ia3(model: nn.Module, spec: ModelSpec, method: MethodConfig, heads: tuple[str, ...]) -> nn.Module:
    from peft import IA3Config, TaskType, get_peft_model

    targets = _targets(spec, method, spec.ia3_targets)
    check_targets(model, targets, exclude=heads)
    # feed-forward modules must be a subset of the targets (peft checks); with user targets keep
    # only the architecture's feed-forward names among them.
    feedforward = [t for t in spec.ia3_feedforward if t in targets]
    config = IA3Config(
        task_type=TaskType.SEQ_CLS, target_modules=list(targets),
        feedforward_modules=feedforward, modules_to_save=list(heads),
    )
    return get_peft_model(model, config)
