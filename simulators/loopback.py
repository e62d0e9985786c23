"""What every simulator is: a threaded HTTP server on loopback, started and stopped with its owner.

The server keeps its open connections, so that stopping it ends idle keep-alive connections (their threads
would otherwise wait out the idle timeout) and lets the requests in flight finish before the owner closes what
they use. A simulator subclasses `LoopbackSimulator`, names itself and answers `handle(request, method)`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import socket
import struct
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from etl.errors import UserError

log = logging.getLogger(__name__)

IDLE_CONNECTION_SECONDS = 30


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, simulator: LoopbackSimulator) -> None:
        self.simulator = simulator
        super().__init__(address, simulator.handler)

    def handle_error(self, request, client_address) -> None:
        """Clients that gave up (timeouts, resets) are routine; anything else is logged with its traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError) or self.simulator.stopping.is_set():
            log.debug("%s: client %s went away", self.simulator.name_en, client_address)
            return
        log.exception("%s: request from %s failed", self.simulator.name_en, client_address)


class LoopbackHandler(BaseHTTPRequestHandler):
    """One request: GET goes to the simulator's `handle`; a subclass adds the other methods it serves."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_CONNECTION_SECONDS
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.simulator.track(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.simulator.track(self.connection, open_=False)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's signature
        log.debug("%s %s - %s", self.server.simulator.name_en, self.address_string(), format % args)

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.server.simulator.handle(self, "GET")

    def send_body(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status: int, document: dict, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(document, ensure_ascii=False).encode("utf-8")
        self.send_body(status, body, "application/json; charset=utf-8", headers)

    def reset(self) -> None:
        """Drop the connection without answering (RST, as a crashed gateway does)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()


def query_int(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter between `low` and `high` (`default` when absent or empty); ValueError, with
    a bilingual message for the client, otherwise."""
    value = query.get(name)
    if value in (None, ""):
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise ValueError(f"{name} 须为 {low}–{high} 的整数 / {name} must be an integer from {low} to {high}")
    return int(value)


class LoopbackSimulator:
    """Start, stop, `with`, port and URL of a simulator's server; `stopping` wakes handlers that sleep in faults."""

    name_zh = "模拟器"
    name_en = "simulator"
    handler: type[LoopbackHandler] = LoopbackHandler

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self._requested_port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_changed = threading.Condition()

    def handle(self, request: LoopbackHandler, method: str) -> None:
        raise NotImplementedError

    def opening(self) -> None:
        """What the simulator opens before it serves (undone by `closing`)."""

    def closing(self) -> None:
        """What the simulator closes once no request is in flight."""

    def start(self):  # noqa: ANN201 - the subclass itself
        if self._server is not None:
            return self
        self.opening()
        self.stopping.clear()
        try:
            self._server = _Server((self.host, self._requested_port), self)
        except OSError as exc:
            self.closing()
            raise UserError(f"{self.name_zh}无法监听 {self.host}:{self._requested_port}（{exc.strerror or exc}），"
                            f"请换一个端口 / The {self.name_en} cannot listen on {self.host}:{self._requested_port} "
                            f"({exc.strerror or exc}); choose another port.") from None
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=self.name_en.replace(" ", "-"), daemon=True)
        self._thread.start()
        log.info("%s listening on %s", self.name_en, self.url)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self.stopping.set()
        server.shutdown()
        server.server_close()
        with self._connections_changed:
            open_connections = list(self._connections)
        for connection in open_connections:  # idle keep-alive connections would hold their threads
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        with self._connections_changed:  # let handlers finish before what they use is closed under them
            self._connections_changed.wait_for(lambda: not self._connections, timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.closing()

    def __enter__(self):  # noqa: ANN204 - the subclass itself
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"the {self.name_en} is not running; call start() first")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_changed:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)
            self._connections_changed.notify_all()


@contextlib.contextmanager
def stop_signals() -> Iterator[threading.Event]:
    """Ctrl-C and SIGTERM set the yielded event (handlers only where Python allows them: the main thread).

    Installed before anything is printed: a caller may send the signal as soon as it reads the first line.
    """
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        yield stop
    except KeyboardInterrupt:
        pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def wait_for_stop(stop: threading.Event) -> None:
    while not stop.wait(0.5):
        pass
