"""``tripwire llm serve``: llama.cpp's OpenAI-compatible server with the bundled model.

One process: the model is loaded first (its load time printed), then ``/v1/chat/completions``
and ``/v1/models`` are served on loopback by llama-cpp-python's own server app, behind
:class:`~tripwire.commands.llm.openai_compat.OpenAiCompat` (OpenAI's ``json_schema`` response
format in the form that server takes). The JSON schema becomes a llama.cpp grammar, so the
analysis's strict schema constrains what the model can write (docs/ANALYSIS.md). The line
``llm ready`` says it is up (the demo waits for it).

Loopback only: the server has no authentication.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import time
from pathlib import Path

from tripwire.commands.llm.model import MODEL_ALIAS, MODEL_NAME, require
from tripwire.commands.llm.openai_compat import OpenAiCompat
from tripwire.errors import UserError

DEFAULT_PORT = 8080
# System prompt (~520 tokens) + a user prompt with 50 candles (~1,300 with SmolLM2's tokenizer)
# + the answer (~100): 4,096 leaves room for a longer feature vector (BENCHMARKS.md).
DEFAULT_N_CTX = 4096
READY_LINE = "llm ready"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument(
        "--model", metavar="PATH", help=f"a GGUF file (default: the bundled {MODEL_NAME} from the llm extra)"
    )
    p.add_argument(
        "--alias",
        default=MODEL_ALIAS,
        help=f"the model name the API answers to; analysis.llm.model (default {MODEL_ALIAS})",
    )
    p.add_argument(
        "--n-ctx", type=int, default=DEFAULT_N_CTX, help=f"context window in tokens (default {DEFAULT_N_CTX})"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for the model (default: the cores this process may run on)",
    )


def default_threads() -> int:
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    return max(1, len(cpus))


def warm_up(alias: str) -> float:
    """Read the analysis's system prompt once before serving: the first evaluation is the slow
    one (measured 9–50 s on the shared 2-core machine, against ~3 s after), and llama.cpp keeps
    the last prompt's prefix cached — the system prompt comes first in every analysis call. The
    seconds it took."""
    from llama_cpp.server import app as server_app

    from tripwire.flows.analysis.prompt import SYSTEM_PROMPT

    start = time.perf_counter()
    llama = server_app._llama_proxy(alias)  # type: ignore[misc]  # the app's model, loaded by create_app
    llama.create_chat_completion(
        messages=[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "warm-up"}],
        max_tokens=1,
        temperature=0,
    )
    return time.perf_counter() - start


def check_loopback(host: str) -> None:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise UserError(f"--host {host}: the model server has no authentication; bind a loopback address (127.0.0.1)")


def run(args: argparse.Namespace) -> int:
    check_loopback(args.host)
    if not 1 <= args.port <= 65535:
        raise UserError(f"--port {args.port}: a port is 1..65535")
    if args.n_ctx < 512:
        raise UserError(f"--n-ctx {args.n_ctx}: the analysis prompt alone is ~1,800 tokens; use 4096")
    if args.model is not None and not Path(args.model).is_file():
        raise UserError(f"--model {args.model}: no such file")
    installed = require("tripwire llm serve", model=args.model is None)
    model = installed.model_path or Path(args.model).resolve()
    threads = args.threads or default_threads()

    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    print(f"loading {model} ({model.stat().st_size / 1e6:.0f} MB, llama-cpp-python {installed.llama_cpp_version}) …")
    start = time.perf_counter()
    app = create_app(
        server_settings=ServerSettings(host=args.host, port=args.port),
        model_settings=[
            ModelSettings(
                model=str(model),
                model_alias=args.alias,
                n_ctx=args.n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            )
        ],
    )
    load_s = time.perf_counter() - start
    warm_s = warm_up(args.alias)
    print(
        f"{READY_LINE}: http://{args.host}:{args.port}/v1 model {args.alias!r} (loaded in {load_s:.2f} s, "
        f"system prompt read in {warm_s:.2f} s, n_ctx {args.n_ctx}, {threads} threads)",
        flush=True,
    )
    uvicorn.run(OpenAiCompat(app), host=args.host, port=args.port, log_level="warning")
    return 0
