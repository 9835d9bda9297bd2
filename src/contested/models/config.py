"""How the pretrained model is adapted: :class:`MethodConfig` (torch-free, so every CLI can read it).

The method functions themselves (full, LoRA, IA³) live in :mod:`contested.models.adapters`, which
imports torch; this module only keeps their names, so a config can be validated without them.
"""

from __future__ import annotations

import dataclasses

from contested.config import Config, Range, configclass, option

#: Names of the registered fine-tuning methods. The built-ins are listed here; a method registered
#: with :func:`contested.models.adapters.register_method` is appended.
METHOD_NAMES: list[str] = ["full", "lora", "ia3"]


def method_names() -> tuple[str, ...]:
    """The methods a :class:`MethodConfig` may name (built-in and registered)."""
    return tuple(METHOD_NAMES)


@configclass
class MethodConfig(Config):
    """How the pretrained model is adapted (peft style); the head is trainable in every method.

    Options a method ignores (``rank`` for full fine-tuning) are reset by :meth:`canonical`, so
    they never change a run's digest.
    """

    section = "method"

    method: str = option("lora", choices=method_names, help="Fine-tuning method: full | lora | ia3.")
    rank: int = option(4, check=Range(ge=1), hint="e.g. --rank 4", help="LoRA rank r.")
    alpha: float | None = option(None, check=Range(gt=0), hint="omit it for α = 2·rank",
                                 help="LoRA alpha (default 2·rank: scale 2 at every rank, the study's).")
    dropout: float = option(0.05, check=Range(ge=0, lt=1), help="LoRA dropout probability.")
    target_modules: tuple[str, ...] | None = option(
        None, check=lambda v: None if v else "is empty; omit it to use the architecture's defaults",
        help="Module-name suffixes to adapt (repeat or comma-separate); default: the architecture's.")
    use_rslora: bool = option(False, help="Rank-stabilised LoRA (scale alpha/sqrt(r)).")
    use_dora: bool = option(False, help="Weight-decomposed LoRA (DoRA): a trainable magnitude per weight.")

    def validate(self) -> None:
        if self.method != "lora":
            for name in ("use_rslora", "use_dora"):
                if getattr(self, name):
                    raise self.fail(name, f"applies to method 'lora', not '{self.method}'")

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


__all__ = ["METHOD_NAMES", "MethodConfig", "method_names"]
