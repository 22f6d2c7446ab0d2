"""The package map in docs/ARCHITECTURE.md holds: who may import whom.

The leaves (config, contracts, bus, hyperliquid, errors) import nothing else of tripwire's, so
every package can use them without loading the hot path's internals; the hot path imports none
of the flows' or the control plane's code, nor their heavy dependencies (it must never wait on a
database, an LLM or Prefect); only the CLI imports the commands.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures import REPO

PACKAGE = REPO / "tripwire"
LEAVES = ("config", "contracts", "bus", "hyperliquid", "errors")
# importer (first part under tripwire.) -> packages it must not import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    **{leaf: ("hotpath", "sim", "flows", "api", "commands", "data") for leaf in LEAVES},
    "hotpath": ("sim", "flows", "api", "commands", "data"),
    "sim": ("flows", "api", "commands", "data"),
    "flows": ("api", "commands", "data"),
    "api": ("commands", "data"),
    "watch": ("hotpath", "sim", "flows", "api", "commands", "data"),  # a client: the API and the bus only
    # getting market data: the hot path's feed connection and the replay reader's format, no more
    "data": ("flows", "api", "commands", "watch"),
}
HOT_PATH_NEVER = (
    "prefect",
    "pymongo",
    "openai",
    "anthropic",
    "fastapi",
    "uvicorn",
    "sqlalchemy",
    # the learned model runs beside the hot path (tripwire alpha serve), never in it
    "torch",
    "gymnasium",
    "stable_baselines3",
)
# The optional alpha extra: only tripwire.flows.alpha (and the commands that load it lazily) may
# name these; the default install never needs them.
ALPHA_ONLY = ("torch", "gymnasium", "stable_baselines3")


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


def _owner(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    return rel.parts[0]


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_no_package_imports_one_it_must_not():
    bad = []
    for path in _modules():
        owner = _owner(path)
        for line, name in _imports(path):
            parts = name.split(".")
            if parts[0] != "tripwire" or len(parts) < 2:
                continue
            if parts[1] in FORBIDDEN.get(owner, ()):
                bad.append(f"{path.relative_to(REPO)}:{line}: tripwire.{owner} imports {name}")
    assert not bad, "\n".join(bad)


def test_the_hot_path_source_never_names_the_flows_heavy_dependencies():
    bad = [
        f"{p.relative_to(REPO)}:{line}: {name}"
        for p in _modules()
        if _owner(p) == "hotpath"
        for line, name in _imports(p)
        if name.split(".")[0] in HOT_PATH_NEVER
    ]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("module", ["tripwire.hotpath.runtime.process", "tripwire.commands.hotpath"])
def test_loading_the_running_hot_path_loads_none_of_them(module):
    code = f"import sys, {module}; print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HOT_PATH_NEVER)!r}))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    ).stdout.strip()
    assert out == "[]"


def test_only_the_alpha_package_names_the_learning_libraries():
    bad = [
        f"{p.relative_to(REPO)}:{line}: {name}"
        for p in _modules()
        if "alpha" not in p.relative_to(PACKAGE).parts[:2]
        for line, name in _imports(p)
        if name.split(".")[0] in ALPHA_ONLY
    ]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("module", ["tripwire.commands.demo", "tripwire.flows.scheduled.retrain_model"])
def test_the_demo_and_the_retraining_flow_load_without_the_alpha_extra(module):
    code = f"import sys, {module}; print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(ALPHA_ONLY)!r}))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120, check=True
    ).stdout.strip()
    assert out == "[]"
