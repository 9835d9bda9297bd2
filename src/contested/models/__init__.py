"""Model registry, fine-tuning methods and loading (the models layer).

``resolve_model(name)`` turns a built-in name, folder or Hugging Face id into a :class:`ModelSpec`;
``load_for_classification(spec, num_labels=, method=, seed=)`` returns a ready-to-train model
(peft-wrapped for LoRA/IA³) and its tokenizer.
"""

from contested.models.adapters import METHODS, MethodConfig, apply_method, register_method
from contested.models.loading import (
    load_for_classification,
    load_tokenizer,
    trainable_parameter_names,
)
from contested.models.prepare import cache_root, prepare_model, prepared_dir
from contested.models.registry import ARCHITECTURES, BUILTINS, ModelSpec, resolve_model
from contested.models.tiny import TINY_MODEL_TYPES, build_tiny_model_dir

__all__ = [
    "ARCHITECTURES",
    "BUILTINS",
    "METHODS",
    "TINY_MODEL_TYPES",
    "MethodConfig",
    "ModelSpec",
    "apply_method",
    "build_tiny_model_dir",
    "cache_root",
    "load_for_classification",
    "load_tokenizer",
    "prepare_model",
    "prepared_dir",
    "register_method",
    "resolve_model",
    "trainable_parameter_names",
]
