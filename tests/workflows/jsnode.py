"""Run an n8n Code node's JavaScript in Node.js with the few n8n globals the workflows use.

The shim provides ``$input`` (``first()``, ``all()``), ``$env``, ``$('Node name')`` (a node
that did not run throws, as in n8n), ``$getWorkflowStaticData``, ``require`` and
``this.helpers.getBinaryDataBuffer``. It is not n8n; it lets the tests check what the code
computes (prompt, answer checks, signature check, report) on the same inputs as Python.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

NODE = shutil.which("node")

_RUNNER = r"""
const fs = require('fs');
const ctx = JSON.parse(fs.readFileSync(0, 'utf8'));
const items = (list) => (list || []).map((j) => (j && j.json !== undefined ? j : { json: j }));
const input = items(ctx.input);
const $input = { first: () => input[0], all: () => input };
const $ = (name) => {
  if (!(name in (ctx.nodes || {}))) throw new Error(`Referenced node is unexecuted: ${name}`);
  const out = items(ctx.nodes[name]);
  return { first: () => out[0], all: () => out };
};
const staticData = ctx.staticData || {};
const helpers = {
  getBinaryDataBuffer: async (i, prop) => Buffer.from(input[i].binary[prop].data, 'base64'),
};
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
const fn = new AsyncFunction('$input', '$env', '$', '$getWorkflowStaticData', 'require', ctx.code);
fn.call({ helpers }, $input, ctx.env || {}, $, () => staticData, require)
  .then((out) => process.stdout.write(JSON.stringify({ out, staticData })))
  .catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
"""


def run_code(
    code: str,
    input: list[Any],
    *,
    env: dict[str, str] | None = None,
    nodes: dict[str, list[Any]] | None = None,
    static: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(the items the code returned, the workflow static data afterwards)."""
    assert NODE, "node is not installed"
    ctx = {"code": code, "input": input, "env": env or {}, "nodes": nodes or {}, "staticData": static or {}}
    done = subprocess.run([NODE, "-e", _RUNNER], input=json.dumps(ctx), capture_output=True, text=True, timeout=30)
    if done.returncode:
        raise RuntimeError(f"the Code node failed: {done.stderr.strip()}")
    result = json.loads(done.stdout)
    return result["out"], result["staticData"]
