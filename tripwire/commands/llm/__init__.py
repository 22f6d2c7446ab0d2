"""``tripwire llm …``: a small language model on this machine, offline (the ``llm`` extra).

``tripwire llm serve`` starts llama.cpp's OpenAI-compatible server (llama-cpp-python) on
loopback with the model the extra installs, so the analysis's ``openai`` client asks a real model
with no key and no network (docs/ANALYSIS.md, "A small model on this machine").
"""

from __future__ import annotations

import argparse
import importlib

# name → (module with add_arguments/run, one-line help)
LLM_COMMANDS: dict[str, tuple[str, str]] = {
    "serve": (
        "tripwire.commands.llm.serve",
        "serve the bundled small model (SmolLM2-135M-Instruct) as an OpenAI-compatible API on loopback",
    ),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="llm_command", metavar="LLM_COMMAND", required=True)
    for name, (modname, help_text) in LLM_COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        mod = importlib.import_module(modname)
        mod.add_arguments(sp)
        sp.set_defaults(_llm_run=mod.run)


def run(args: argparse.Namespace) -> int:
    return int(args._llm_run(args) or 0)
