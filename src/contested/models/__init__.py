"""Model registry, fine-tuning methods and loading (the models layer).

``resolve_model(name)`` turns a built-in name, folder or Hugging Face id into a :class:`ModelSpec`;
``load_for_classification(spec, num_labels=, method=, seed=)`` returns a ready-to-train model
(peft-wrapped for LoRA/IA³) and its tokenizer.

Names are imported lazily (PEP 562) so that ``contested models list`` and the registry do not pay
for importing torch, transformers and peft.
"""

from __future__ import annotations

from contested._lazy import lazy_exports

_EXPORTS = {
    "METHODS": "adapters", "MethodConfig": "config", "METHOD_NAMES": "config", "apply_method": "adapters",
    "register_method": "adapters", "check_targets": "adapters",
    "load_for_classification": "loading", "load_tokenizer": "loading",
    "trainable_parameter_names": "loading",
    "cache_root": "prepare", "prepare_model": "prepare", "prepared_dir": "prepare",
    "ARCHITECTURES": "registry", "BUILTINS": "registry", "ModelSpec": "registry",
    "resolve_model": "registry",
    "TINY_MODEL_TYPES": "tiny", "build_tiny_model_dir": "tiny",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
