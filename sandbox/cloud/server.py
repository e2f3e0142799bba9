"""HTTP transport: RPC calls at `/`, the admin API under `/_sandbox/`, keep-alive connections."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from sandbox.cloud.admin import ADMIN_PREFIX, handle_admin
from sandbox.cloud.signature import SignedRequest

if TYPE_CHECKING:
    from sandbox.cloud.simulator import CloudSimulator

log = logging.getLogger(__name__)


class SimulatorServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its simulator and can drop idle keep-alive connections."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, simulator: CloudSimulator, address: tuple[str, int]) -> None:
        super().__init__(address, SimulatorHandler)
        self.simulator = simulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def track(self, connection: socket.socket, open_: bool) -> None:
        """Remember or forget a client connection."""
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Shut down every client connection (idle keep-alive ones would otherwise linger)."""
        with self._connections_lock:
            connections = list(self._connections)
            self._connections.clear()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class SimulatorHandler(BaseHTTPRequestHandler):
    """One connection; every request is answered with JSON and a Content-Length."""

    protocol_version = "HTTP/1.1"
    server_version = "AliyunSandbox/1.0"
    # Headers and body go out in two writes; without TCP_NODELAY each answer waits for a delayed ACK.
    disable_nagle_algorithm = True
    server: SimulatorServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        super().finish()

    def do_POST(self) -> None:
        self._dispatch()

    def do_GET(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if parts.path == ADMIN_PREFIX or parts.path.startswith(f"{ADMIN_PREFIX}/"):
            status, headers, payload = handle_admin(
                self.server.simulator, self.command, parts.path, query, body
            )
        else:
            content_type = self.headers.get("Content-Type") or ""
            if body and content_type.startswith("application/x-www-form-urlencoded"):
                for key, value in parse_qsl(body.decode("utf-8"), keep_blank_values=True):
                    query.setdefault(key, value)
            names = {name.lower() for name in self.headers}
            headers_by_name = {name: self.headers.get_all(name) or [] for name in names}
            request = SignedRequest(
                method=self.command,
                path=parts.path or "/",
                query=query,
                headers=headers_by_name,
                body=body,
            )
            response = self.server.simulator.handle_api(request)
            status, headers, payload = response.status, response.headers, response.body
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        # Request lines carry query strings (STS tokens, signatures): keep them out of the log.
        log.debug("%s %s", self.command, urlsplit(self.path).path)


def make_server(simulator: CloudSimulator, host: str, port: int) -> SimulatorServer:
    """Bind a server for `simulator` (port 0 picks a free one)."""
    return SimulatorServer(simulator, (host, port))
