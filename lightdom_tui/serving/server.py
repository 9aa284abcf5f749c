"""`lightdom serve`: the deployed model behind llama-cpp-python's OpenAI-compatible server.

Binds 127.0.0.1 only. The model is: an explicit ``--model``, else the active
deployment for attribute generation (or ``*``), else the ``production`` alias,
else the embedded base. The served model's name (``model`` in requests) is the
version name; the chat template is the GGUF's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightdom_tui.errors import LightdomError
from lightdom_tui.modelio.embedded import EMBEDDED_VERSION
from lightdom_tui.prompts import ATTRIBUTE_TASK
from lightdom_tui.registry.routing import ALL_TASK_TYPES, PRODUCTION_ALIAS, active_deployment
from lightdom_tui.registry.versions import find_version, get_version
from lightdom_tui.serving.local import thread_count
from lightdom_tui.workspace import Workspace

HOST = "127.0.0.1"


@dataclass
class ServeTarget:
    """What `serve` will serve, and where."""

    version: str
    path: str
    host: str
    port: int
    source: str  # explicit / deployment / alias / embedded

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL clients use."""
        return f"http://{self.host}:{self.port}/v1"


def serve_target(ws: Workspace, *, model: str | None = None, port: int | None = None) -> ServeTarget:
    """Decide which GGUF to serve (see the module docstring)."""
    port = port or ws.settings.serving.port
    with ws.session() as session:
        version, source = None, "embedded"
        if model:
            version, source = get_version(session, model), "explicit"
        if version is None:
            for task in (ATTRIBUTE_TASK, ALL_TASK_TYPES):
                deployment = active_deployment(session, task)
                if deployment is not None:
                    version, source = get_version(session, deployment.version_id), "deployment"
                    break
        if version is None:
            version = find_version(session, PRODUCTION_ALIAS)
            source = "alias" if version is not None else source
        if version is None:
            version = get_version(session, EMBEDDED_VERSION)
        if version.format != "gguf":
            raise LightdomError(f"model '{version.version}' is {version.format}, not GGUF: run `lightdom export`")
        if not Path(version.path).is_file():
            raise LightdomError(f"model '{version.version}': file {version.path} is missing")
        return ServeTarget(version=version.version, path=version.path, host=HOST, port=port, source=source)


def build_app(ws: Workspace, target: ServeTarget) -> Any:
    """The FastAPI app of llama-cpp-python's server for ``target``."""
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    settings = ws.settings.serving
    model_settings = ModelSettings(
        model=target.path,
        model_alias=target.version,
        n_ctx=settings.n_ctx,
        n_batch=settings.n_batch,
        n_threads=thread_count(settings),
        n_threads_batch=thread_count(settings),
        verbose=False,
    )
    server_settings = ServerSettings(host=target.host, port=target.port)
    return create_app(server_settings=server_settings, model_settings=[model_settings])


def serve(ws: Workspace, target: ServeTarget) -> None:
    """Run the server in this process until interrupted."""
    import uvicorn

    app = build_app(ws, target)
    uvicorn.run(app, host=target.host, port=target.port, log_level="warning")
