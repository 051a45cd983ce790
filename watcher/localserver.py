"""A local HTTP server in a daemon thread: the base of the simulated platforms, the simulated
modern.gov web service and the simulated GOV.UK Notify and Teams endpoints, which the demo and
the tests run as real servers on loopback."""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self

from watcher import logs

log = logs.get(__name__)


class _QuietServer(ThreadingHTTPServer):
    # A held (delayed) request must not block stop().
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up (its timeout) is routine for a simulator; the default
        # prints a traceback to stderr.
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return
        log.warning("localserver.request_failed", error=repr(exc)[:200])


class LocalHTTPServer:
    """Serves ``handler_class`` on 127.0.0.1 at a free port, in a daemon thread.

    Subclasses set ``handler_class`` (its instances reach the server object as ``self.sim``)
    and ``thread_name``, and may override ``_on_start``/``_on_stop``. ``_stopping`` is set
    while stopping, so a handler holding a request (a simulated delay) can give up early.
    """

    handler_class: ClassVar[type[BaseHTTPRequestHandler]]
    thread_name: ClassVar[str] = "local-http"
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def _stopping(self) -> threading.Event:
        event = self.__dict__.get("_stopping_event")
        if event is None:
            event = self.__dict__["_stopping_event"] = threading.Event()
        return event

    def start(self) -> Self:
        """Bind to 127.0.0.1 on a free port and serve in a daemon thread; return self."""
        if self._server is not None:
            return self
        self._stopping.clear()
        handler = type("_BoundHandler", (self.handler_class,), {"sim": self})
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        self._on_start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (held requests are abandoned)."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._on_stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (raises RuntimeError before ``start()``)."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _on_start(self) -> None:
        """Called once serving (log, reset clocks)."""

    def _on_stop(self) -> None:
        """Called once stopped."""
