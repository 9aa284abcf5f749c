"""What a user does with the serving side: generate, the gateway, pack/unpack, sync export and keys.

`lightdom serve` runs the gateway app (``serving.server.build_app``) in the foreground until Ctrl-C
(:func:`serve_gateway`); the TUI runs the same app in a thread of its process (:func:`start_gateway`),
so the window stays usable. Services are imported inside the functions: ``lightdom --help`` stays fast.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lightdom_tui.errors import LightdomError
from lightdom_tui.workspace import Workspace, open_workspace

if TYPE_CHECKING:
    from lightdom_tui.serving.pack import PackResult, UnpackResult
    from lightdom_tui.serving.router import GenerationResult
    from lightdom_tui.serving.sync import SyncExport

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


@dataclass
class GatewayAddress:
    """Where a foreground gateway listens (the one JSON object `lightdom serve` prints)."""

    base_url: str
    host: str
    port: int
    auth: bool


def serve_gateway(ws: Workspace, on_listening: Callable[[GatewayAddress], None], *,
                  host: str = "127.0.0.1", port: int | None = None) -> None:
    """Serve every version, alias and task route on ``host:port`` in this process until interrupted.

    The app is built first (a non-loopback host without gateway keys is refused there), then
    ``on_listening`` gets the address (so scripts can read the URL), then this blocks serving.
    """
    from lightdom_tui.serving.server import ServeInfo, build_app, serve

    info = ServeInfo(host=host, port=port or ws.settings.serving.port)
    app = build_app(ws, info.host)
    on_listening(GatewayAddress(info.base_url, info.host, info.port, info.auth))
    serve(app, info)


def generate(ws: Workspace, topic: str, *, count: int = 8, model: str | None = None,
             context: str | None = None) -> GenerationResult:
    """``count`` attributes for ``topic`` from the routed (or named) model; the remote API as fallback."""
    from lightdom_tui.serving.router import generate_attributes

    return generate_attributes(ws, topic, count=count, model=model, context=context)


def pack_version(ws: Workspace, ref: str, out: Path) -> PackResult:
    """Write one file with a GGUF version, its sha256, prompts, schema, task routes and lineage."""
    from lightdom_tui.serving.pack import pack

    return pack(ws, ref, out)


def unpack_file(ws: Workspace, source: Path, *, deploy: bool = True) -> UnpackResult:
    """Register a packed model here (sha256 checked); with ``deploy``, serve it for its task routes."""
    from lightdom_tui.serving.pack import unpack

    return unpack(ws, source, deploy=deploy)


def export_calls(ws: Workspace, out: Path, *, since: str | None = None) -> SyncExport:
    """Write this box's logged gateway calls and verdicts (since an ISO date) as one JSONL file."""
    from lightdom_tui.serving.sync import export_calls as write_calls

    return write_calls(ws, out, since=since)


@dataclass
class StoredKey:
    """A remote API key just stored: masked, and the keyring that holds it."""

    provider: str
    stored: bool
    key: str
    backend: str


@dataclass
class KeyInfo:
    """Whether a remote API key is set, masked, and where it comes from (environment or keyring)."""

    provider: str
    set: bool
    key: str
    source: str | None
    problem: str | None = None  # why the keyring could not be read (the key counts as not set)


@dataclass
class DeletedKey:
    """Whether a keyring entry was removed."""

    provider: str
    deleted: bool


def set_remote_key(provider: str, key: str) -> StoredKey:
    """Store a remote API key in the system keyring (the TUI's key screen uses the same store)."""
    from lightdom_tui.serving.secrets import KEYRING_TIMEOUT_S, keyring_backend, mask
    from lightdom_tui.usecases.status import store_api_key

    store_api_key(provider, key, KEYRING_TIMEOUT_S)
    return StoredKey(provider, True, mask(key), keyring_backend())


def show_remote_key(home: Path | None, provider: str) -> KeyInfo:
    """The remote API key for ``provider`` as a workspace in ``home`` would find it (masked).

    Keys are per user, not per workspace: outside a workspace the default variable name is used.
    """
    from lightdom_tui.serving.secrets import find_api_key, mask

    try:
        settings = open_workspace(home).settings.serving
    except Exception:  # no (readable) workspace here: still show the user's key
        settings = None
    found = find_api_key(provider, settings)
    return KeyInfo(provider, bool(found.key), mask(found.key), found.source, found.problem)


def delete_remote_key(provider: str) -> DeletedKey:
    """Remove a remote API key from the keyring (False when none was stored)."""
    from lightdom_tui.serving.secrets import delete_api_key

    return DeletedKey(provider, delete_api_key(provider))


@dataclass
class NewGatewayKey:
    """A gateway key just created: the only time the key itself is shown."""

    name: str
    key: str


@dataclass
class GatewayKeyInfo:
    """A stored gateway key's name and creation time (never the key or its hash)."""

    name: str
    created_at: str


@dataclass
class GatewayKeys:
    """The gateway keys of a workspace."""

    keys: list[GatewayKeyInfo]


@dataclass
class RevokedGatewayKey:
    """Whether a gateway key of that name was deleted."""

    name: str
    revoked: bool


def add_gateway_key(ws: Workspace, name: str) -> NewGatewayKey:
    """Create a gateway key for ``name``; only its salted hash is stored."""
    from lightdom_tui.serving.gatewaykeys import add_key

    return NewGatewayKey(name, add_key(ws.root, name))


def list_gateway_keys(ws: Workspace) -> GatewayKeys:
    """Names and creation times of the workspace's gateway keys."""
    from lightdom_tui.serving.gatewaykeys import load_keys

    return GatewayKeys([GatewayKeyInfo(k.name, k.created_at) for k in load_keys(ws.root)])


def revoke_gateway_key(ws: Workspace, name: str) -> RevokedGatewayKey:
    """Delete a gateway key; a running gateway refuses it from its next request."""
    from lightdom_tui.serving.gatewaykeys import revoke_key

    return RevokedGatewayKey(name, revoke_key(ws.root, name))
