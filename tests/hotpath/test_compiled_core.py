"""The compiled core (make compile) and the pure-Python one give byte-identical results.

Each side runs the bundled hour (as tests/hotpath/features/golden.py) in its own interpreter:
``TRIPWIRE_PURE=1`` forces the sources, the other uses the mypyc extensions when they are built.
The digest covers the whole feature dict after every message (orjson bytes, so every float to
the last bit) and the triggers fired. Without a build the compiled side is skipped, saying how
to build it; the pure side always runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.fixtures import REPO

SCRIPT = """
import json
from tests.hotpath.features.golden import build
from tripwire.compiled import compiled_modules
d = build()
print(json.dumps({"compiled": compiled_modules(), "digest": d["all_values_sha256"], "triggers": d["triggers"]}))
"""


def run_hour(pure: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TRIPWIRE_PURE"}
    if pure:
        env["TRIPWIRE_PURE"] = "1"
    env["PYTHONPATH"] = str(REPO)
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def pure():
    return run_hour(pure=True)


def test_the_pure_core_runs_from_source_even_where_a_compiled_one_is_built(pure):
    assert pure["compiled"] == []
    assert [t["rule"] for t in pure["triggers"]] == [
        "breakout_continuation_long",
        "reversion_fade_up",
        "breakout_continuation_short",
    ]


def test_compiled_and_pure_cores_agree_to_the_bit_on_the_bundled_hour(pure):
    compiled = run_hour(pure=False)
    if not compiled["compiled"]:
        pytest.skip("no compiled core built here (make compile)")
    assert compiled["digest"] == pure["digest"]
    assert compiled["triggers"] == pure["triggers"]
