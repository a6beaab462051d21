"""The operator's own HTTP port: /metrics (Prometheus), /livez and /readyz.

Served from a thread of its own, not the event loop: a scrape costs the loop
nothing, and /livez still answers (500) when the loop is stuck, which is the
one thing a liveness probe served from that loop could never say."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from astra_token_operator.observability.health import Health, Verdict

StartResponse = Callable[..., Any]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per probe and scrape would drown the operator's log


def build_app(health: Health, registry: CollectorRegistry | None) -> Callable[[dict[str, Any], StartResponse],
                                                                              Iterable[bytes]]:
    metrics = make_wsgi_app(registry) if registry is not None else None

    def answer(verdict: Verdict, start_response: StartResponse) -> Iterable[bytes]:
        status = "200 OK" if verdict.ok else "503 Service Unavailable"
        start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
        return [verdict.message.encode() + b"\n"]

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/livez":
            return answer(health.liveness(), start_response)
        if path == "/readyz":
            return answer(health.readiness(), start_response)
        if path == "/metrics" and metrics is not None:
            result: Iterable[bytes] = metrics(environ, start_response)
            return result
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"/metrics, /livez, /readyz\n"]

    return app


class OpsServer:
    def __init__(self, addr: str, port: int, health: Health, registry: CollectorRegistry | None) -> None:
        self._server = make_server(addr, port, build_app(health, registry), server_class=_ThreadingServer,
                                   handler_class=_QuietHandler)
        self.port: int = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="astra-ops-http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
