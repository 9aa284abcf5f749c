"""The gateway from the TUI (issue 19's audit): ctrl+g serves as `lightdom serve` does, a port in use is one
line (it used to leave "starting the gateway…" as the last word), and the registry pane's G lists, adds (shown
once) and revokes the gateway keys `lightdom keys gateway` manages."""

from __future__ import annotations

import asyncio
import socket

import httpx

from lightdom_tui.tui.app import create_app
from tests.tui.conftest import settle


def _messages(app) -> list[str]:  # noqa: ANN001
    return [str(n.message) for n in app._notifications]


async def _until(pilot, condition, timeout: float = 30.0) -> None:  # noqa: ANN001
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await pilot.pause(0.1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_serve_from_the_tui_and_a_port_in_use(workspace) -> None:  # noqa: ANN001
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    app = create_app(workspace)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            workspace.settings.serving.port = busy.getsockname()[1]
            await pilot.press("ctrl+g")
            await settle(pilot)
            port = workspace.settings.serving.port
            assert f"serve 127.0.0.1:{port}: could not listen (port in use, or not allowed); set serving.port in " \
                   "Settings (F2)" in _messages(app)
            assert app.gateway is None
            workspace.settings.serving.port = _free_port()
            await pilot.press("ctrl+g")
            await _until(pilot, lambda: app.gateway is not None)
            url = app.gateway.base_url
            assert url in str(app.query_one("#status-bar").render())
            health = httpx.get(f"{url.removesuffix('/v1')}/health", timeout=10)
            assert health.status_code == 200
            await pilot.press("ctrl+g")
            await settle(pilot)
            assert "gateway stopped" in _messages(app) and app.gateway is None
            assert url not in str(app.query_one("#status-bar").render())
    finally:
        app.stop_gateway_now()
        busy.close()


async def test_gateway_keys_from_the_registry_pane(workspace) -> None:  # noqa: ANN001
    from lightdom_tui.serving.gatewaykeys import check_key, load_keys
    from lightdom_tui.tui.screens.campaign_views import ShownOnceScreen

    app = create_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("G")
        await settle(pilot)
        assert "no keys yet" in str(app.screen.query(".dialog-text").first().render())
        app.screen.query_one("#form-name").value = "my-app"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ShownOnceScreen)
        key = str(app.screen.query_one("#shown-secret").render())
        await pilot.press("escape")
        assert check_key(load_keys(workspace.root), key) == "my-app"  # what `serve` checks a client's key with
        await pilot.press("G")
        await settle(pilot)
        assert "my-app  " in str(app.screen.query(".dialog-text").first().render())
        app.screen.query_one("#form-action").value = "revoke"
        app.screen.query_one("#form-name").value = "my-app"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "my-app: revoked" in _messages(app)
    assert load_keys(workspace.root) == []


async def test_the_api_key_dialog_shows_and_deletes_the_stored_key(workspace, monkeypatch) -> None:  # noqa: ANN001
    """F3 says whether the remote key is set and where from, masked (`keys show`); enter stores one (`keys set`);
    ctrl+d removes it from the keyring (`keys delete`). A real keyring backend, in memory."""
    import keyring

    from tests.serving.test_serving_secrets import MemoryKeyring

    secret = "sk-test-0123456789abcdef"
    provider = workspace.settings.serving.remote_provider
    monkeypatch.delenv(f"{provider.upper()}_API_KEY", raising=False)
    previous, backend = keyring.get_keyring(), MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        app = create_app(workspace)
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            await pilot.press("f3")
            await settle(pilot)
            assert str(app.screen.query_one("#api-key-current").render()) == "current: not set"
            await pilot.press(*secret, "enter")
            await settle(pilot)
            assert backend.store[("lightdom-tui", provider)] == secret
            await pilot.press("f3")
            await settle(pilot)
            assert str(app.screen.query_one("#api-key-current").render()) == "current: …cdef (keyring)"
            await pilot.press("ctrl+d")
            await settle(pilot)
            assert str(app.screen.query_one("#api-key-status").render()) == "deleted from the keyring"
            assert str(app.screen.query_one("#api-key-current").render()) == "current: not set"
            assert all(secret not in str(n.message) for n in app._notifications)
    finally:
        keyring.set_keyring(previous)
    assert backend.store == {}
