"""Fine-tuning methods, registered by name (peft style), all through one code path.

A method is a function ``(model, spec, method, head_modules) -> model`` registered with
:func:`register_method`; :func:`apply_method` looks it up. Built in: ``full`` (every weight
trainable), ``lora`` (with rsLoRA and DoRA switches) and ``ia3``. The classification head is
trainable in every method (peft ``modules_to_save``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import ClassVar

from torch import nn

from contested.config import Config
from contested.errors import ContestedError
from contested.models.registry import ModelSpec

MethodFn = Callable[[nn.Module, ModelSpec, "MethodConfig", tuple[str, ...]], nn.Module]
METHODS: dict[str, MethodFn] = {}


def register_method(name: str) -> Callable[[MethodFn], MethodFn]:
    """Decorator: make ``fn`` available as ``MethodConfig(method=name)``."""

    def deco(fn: MethodFn) -> MethodFn:
        METHODS[name] = fn
        return fn

    return deco


@dataclasses.dataclass(frozen=True)
class MethodConfig(Config):
    """How the pretrained model is adapted.

    Attributes
    ----------
    method
        ``full`` | ``lora`` | ``ia3`` (any name registered with :func:`register_method`).
    rank
        LoRA rank r (≥ 1).
    alpha
        LoRA α; ``None`` means 2·r, i.e. scaling α/r = 2 at every rank (the study's choice).
    dropout
        LoRA dropout probability.
    target_modules
        Module-name suffixes to adapt; ``None`` uses the architecture's defaults. A comma-separated
        string is accepted and split.
    use_rslora
        Rank-stabilised LoRA: scaling α/√r instead of α/r.
    use_dora
        Weight-decomposed LoRA (DoRA): adds a trainable magnitude vector per adapted weight.
    """

    section: ClassVar[str] = "method"

    method: str = "lora"
    rank: int = 4
    alpha: float | None = None
    dropout: float = 0.05
    target_modules: tuple[str, ...] | None = None
    use_rslora: bool = False
    use_dora: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.target_modules, str):
            parts = tuple(t.strip() for t in self.target_modules.split(",") if t.strip())
            object.__setattr__(self, "target_modules", parts)
        elif isinstance(self.target_modules, list):
            object.__setattr__(self, "target_modules", tuple(self.target_modules))
        if self.method not in METHODS:
            raise ContestedError(f"method: unknown method '{self.method}'; choose one of {', '.join(METHODS)}")
        if isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank <= 0:
            raise ContestedError(f"method.rank: must be a positive integer (got {self.rank!r}); e.g. --rank 4")
        if self.alpha is not None and not self.alpha > 0:
            raise ContestedError(f"method.alpha: must be > 0 (got {self.alpha!r}); omit it for α = 2·rank")
        if not 0.0 <= self.dropout < 1.0:
            raise ContestedError(f"method.dropout: must be in [0, 1) (got {self.dropout!r})")
        if self.target_modules is not None and not self.target_modules:
            raise ContestedError("method.target_modules: empty; omit it to use the architecture's defaults")
        if self.method != "lora" and (self.use_rslora or self.use_dora):
            raise ContestedError(f"method: use_rslora / use_dora apply to method 'lora', not '{self.method}'")

    @property
    def lora_alpha(self) -> float:
        """α actually used: the given one or 2·r."""
        return float(self.alpha) if self.alpha is not None else 2.0 * self.rank

    def canonical(self) -> MethodConfig:
        """Copy with the fields this method ignores reset to defaults.

        Two configs that train identically then have the same :meth:`digest` (e.g. full fine-tuning
        with ``rank=4`` and ``rank=16``).
        """
        if self.method == "lora":
            return self
        defaults = MethodConfig()
        keep_targets = self.target_modules if self.method == "ia3" else None
        return dataclasses.replace(self, rank=defaults.rank, alpha=None, dropout=defaults.dropout,
                                   target_modules=keep_targets)


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
