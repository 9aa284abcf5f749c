"""Start and stop the OpenAI-compatible gateway from the TUI (what `lightdom serve` runs), with its URL on
the status bar. The gateway stops when the app exits."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.message import Message


class GatewayChanged(Message):
    """The gateway started (``gateway`` a ``usecases.serving.RunningGateway``) or stopped (None)."""

    def __init__(self, gateway: Any) -> None:
        super().__init__()
        self.gateway = gateway


class GatewayActions:
    """Mixin of ``LightdomApp``: the serve toggle and its clean-up."""

    gateway: Any = None

    def action_serve(self) -> None:
        """Start the gateway on serving.port, or stop the one running."""
        if self.gateway is not None:
            self._stop_gateway()
        else:
            self.notify("starting the gateway…")  # type: ignore[attr-defined]
            self._start_gateway()

    @work(thread=True, exclusive=True, group="gateway", name="serve", exit_on_error=False)
    def _start_gateway(self) -> None:
        from lightdom_tui.usecases.serving import start_gateway

        self.post_message(GatewayChanged(start_gateway(self.workspace)))  # type: ignore[attr-defined]

    @work(thread=True, exclusive=True, group="gateway", name="stop serving", exit_on_error=False)
    def _stop_gateway(self) -> None:
        gateway, self.gateway = self.gateway, None
        if gateway is not None:
            gateway.stop()
        self.post_message(GatewayChanged(None))  # type: ignore[attr-defined]

    def on_gateway_changed(self, message: GatewayChanged) -> None:
        """Say where it listens (or that it stopped) and show it on the status bar."""
        self.gateway = message.gateway
        if message.gateway is not None:
            auth = " (clients need a gateway key)" if message.gateway.auth else ""
            self.notify(f"gateway at {message.gateway.base_url}{auth}: ctrl+g stops it", timeout=10)  # type: ignore[attr-defined]
        else:
            self.notify("gateway stopped")  # type: ignore[attr-defined]
        from lightdom_tui.tui.widgets.status_bar import StatusBar

        self.query_one(StatusBar).set_gateway(message.gateway.base_url if message.gateway else None)  # type: ignore[attr-defined]

    def stop_gateway_now(self) -> None:
        """Stop the gateway before the app exits (blocking, bounded)."""
        if self.gateway is not None:
            self.gateway.stop()
            self.gateway = None
