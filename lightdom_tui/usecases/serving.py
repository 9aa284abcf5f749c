"""The gateway as a background service of a long-running face (the TUI): start it, say its URL, stop it.

`lightdom serve` runs the same app (``serving.server.build_app``) in the foreground until Ctrl-C;
here uvicorn runs it in a thread of this process, so the window stays usable.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from lightdom_tui.errors import LightdomError
from lightdom_tui.workspace import Workspace

START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0


@dataclass
class RunningGateway:
    """A gateway serving in a thread: where it listens, and the handle that stops it."""

    base_url: str
    host: str
    port: int
    auth: bool
    _server: Any
    _thread: threading.Thread

    @property
    def running(self) -> bool:
        """True while the server thread is alive."""
        return self._thread.is_alive()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Ask uvicorn to finish the requests in flight and exit; wait for the thread (its lifespan writes
        the queued call logs)."""
        self._server.should_exit = True
        self._thread.join(timeout_s)


def start_gateway(ws: Workspace, *, host: str = "127.0.0.1", port: int | None = None) -> RunningGateway:
    """Serve every version, alias and task route on ``host:port`` (default ``serving.port``) in a thread.

    Like `lightdom serve`, a non-loopback host needs gateway keys (``build_app`` refuses otherwise).
    Returns once the server accepts connections; a port in use is one clear error.
    """
    import uvicorn

    from lightdom_tui.serving.server import ServeInfo, build_app

    info = ServeInfo(host=host, port=port or ws.settings.serving.port)
    app = build_app(ws, info.host)
    server = uvicorn.Server(uvicorn.Config(app, host=info.host, port=info.port, log_level="critical"))
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run()
        except SystemExit as exc:  # uvicorn exits when it cannot bind
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"gateway:{info.port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise LightdomError(f"serve {info.host}:{info.port}: could not listen (port in use, or not allowed); "
                                "set serving.port in Settings (F2)")
        time.sleep(0.02)
    return RunningGateway(info.base_url, info.host, info.port, info.auth, server, thread)
