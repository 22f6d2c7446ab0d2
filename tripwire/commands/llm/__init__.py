"""``tripwire llm …``: a small language model on this machine, offline (the ``llm`` extra).

``tripwire llm serve`` starts llama.cpp's OpenAI-compatible server (llama-cpp-python) on
loopback with the model the extra installs, so the analysis's ``openai`` client asks a real model
with no key and no network (docs/ANALYSIS.md, "A small model on this machine").
"""

from __future__ import annotations

import argparse

from tripwire.commands.common import add_subcommands, run_subcommand

# name → (module with add_arguments/run, one-line help)
LLM_COMMANDS: dict[str, tuple[str, str]] = {
    "serve": (
        "tripwire.commands.llm.serve",
        "serve the bundled small model (SmolLM2-135M-Instruct) as an OpenAI-compatible API on loopback",
    ),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_subcommands(p, "llm_command", LLM_COMMANDS)


def run(args: argparse.Namespace) -> int:
    return run_subcommand(args)
