"""The Prefect UI that ``tripwire flows serve`` prints works: with no Prefect server configured,
serve starts its own on a free port, and that UI's settings (what its pages read to find the
API) name that server's API — not Prefect's default 127.0.0.1:4200, which made every page
say "Can't connect to Server API". A server whose UI calls another API is warned about."""

from __future__ import annotations

import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request

from tests.fixtures import REPO
from tripwire.flows.serve import ui_api_url, ui_problem, ui_url


def test_standalone_serve_prints_a_ui_whose_pages_call_its_api(tmp_path):
    prefect_yaml = tmp_path / "prefect.yaml"
    prefect_yaml.write_text(  # one deployment, its schedule paused: nothing runs during the test
        "deployments:\n"
        "  - name: snapshot_market\n"
        "    entrypoint: tripwire/flows/scheduled/snapshot_market.py:snapshot_market\n"
        "    schedules: [{interval: 86400, active: false}]\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "TRIPWIRE_"))}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    serve = subprocess.Popen(
        [sys.executable, "-m", "tripwire", "flows", "serve", "--prefect-file", str(prefect_yaml)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    settings = None
    try:
        for line in serve.stdout:  # type: ignore[union-attr]  # stdout is a pipe
            lines.append(line)
            if m := re.search(r"serving 1 deployments on (\S+) \(UI: (\S+)\)", line):
                api, ui = m.groups()
                with urllib.request.urlopen(f"{ui}/ui-settings", timeout=30) as r:
                    settings = json.loads(r.read())
                break
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            rest = serve.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            serve.kill()
            rest = serve.communicate()[0]
    out = "".join(lines) + rest
    assert settings is not None, out[-3000:]
    assert not api.endswith(":4200/api")  # a free port, so the default would have been wrong
    assert settings["api_url"] == api, out[-3000:]
    assert "warning:" not in out


class _UiSettings(http.server.BaseHTTPRequestHandler):
    """A Prefect server's /ui-settings as one misconfigured would answer it (Prefect 3.8.8's
    shape): its UI calls the default API, not its own."""

    def do_GET(self) -> None:
        body = json.dumps({"api_url": "http://127.0.0.1:4200/api", "csrf_enabled": False, "auth": None}).encode()
        self.send_response(200 if self.path == "/ui-settings" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_ui_that_calls_another_api_is_named_with_the_fix():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _UiSettings)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        api = f"http://127.0.0.1:{server.server_address[1]}/api"
        assert ui_url(api) == api.removesuffix("/api")
        assert ui_api_url(api) == "http://127.0.0.1:4200/api"
        problem = ui_problem(api)
        assert problem is not None
        assert "calls the API at http://127.0.0.1:4200/api" in problem and f"PREFECT_UI_API_URL={api}" in problem
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_that_does_not_say_is_not_warned_about():
    assert ui_problem("http://127.0.0.1:9/api") is None  # nothing listens on the discard port
