"""A local HTTP endpoint that plays an n8n webhook: records requests, answers scripted statuses."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """``statuses`` are answered in order (the last one repeats), with ``body`` (by default what
    the trigger workflow answers once tripwire applied its decision); ``delay_s`` delays the
    first answer, to play a webhook that times out once."""

    APPLIED = b'{"go": true, "tripwire": {"status": 200, "answer": {"kind": "keep"}}}'

    def __init__(self, statuses: tuple[int, ...] = (200,), delay_first_s: float = 0.0, body: bytes = APPLIED):
        self.statuses = list(statuses)
        self.body = body
        self.delay_first_s = delay_first_s
        self.requests: list[dict[str, Any]] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.arrived:
                    n = len(receiver.requests)
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    receiver.arrived.notify_all()
                if n == 0 and receiver.delay_first_s:
                    time.sleep(receiver.delay_first_s)
                status = receiver.statuses[min(n, len(receiver.statuses) - 1)]
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(receiver.body)))
                self.end_headers()
                self.wfile.write(receiver.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhook/tripwire-trigger"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, n: int, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.requests) >= n, timeout_s)
            return list(self.requests)

    def wait_for_match(self, match, timeout_s: float = 10.0) -> dict[str, Any]:
        """The first request for which ``match(request)`` holds; AssertionError if none comes."""
        with self.arrived:
            self.arrived.wait_for(lambda: any(match(r) for r in self.requests), timeout_s)
            found = [r for r in self.requests if match(r)]
        assert found, f"no matching request among {len(self.requests)}"
        return found[0]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
