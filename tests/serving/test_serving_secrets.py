"""Keys: keyring first-class, env var fallback, masked output, and never written anywhere."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from typer.testing import CliRunner


class MemoryKeyring(KeyringBackend):
    """A real keyring backend holding passwords in memory (the desktop one is off limits in tests)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


@pytest.fixture()
def memory_keyring():  # noqa: ANN201
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def _files_containing(root: Path, needle: bytes) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_key_from_keyring_used_for_fallback_and_never_stored_printed_or_logged(
    workspace, fake_api, valid_key, memory_keyring, monkeypatch, caplog, capsys
):
    from lightdom_tui.cli import app
    from lightdom_tui.registry.versions import register_version
    from lightdom_tui.serving.router import generate_attributes

    base_url, state = fake_api
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    serving = workspace.settings.serving
    serving.remote_base_url, serving.remote_timeout_s, serving.remote_retries = base_url, 0.5, 0
    workspace.save_settings()
    caplog.set_level(logging.DEBUG)
    runner = CliRunner()
    home = ["--home", str(workspace.root)]

    stored = runner.invoke(app, [*home, "keys", "set", "deepseek", "--json"], input=valid_key + "\n")
    assert stored.exit_code == 0, stored.output
    assert json.loads(stored.stdout) == {"provider": "deepseek", "stored": True, "key": "…" + valid_key[-4:],
                                         "backend": "MemoryKeyring"}
    shown = runner.invoke(app, [*home, "keys", "show", "deepseek", "--json"])
    assert json.loads(shown.stdout) == {"provider": "deepseek", "set": True, "key": "…" + valid_key[-4:],
                                        "source": "keyring", "problem": None}

    # A run that uses the key (local model broken → remote), and one that fails on the API side.
    broken = workspace.models_dir / "gguf" / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    with workspace.session() as session:
        register_version(session, version="broken", kind="gguf", format="gguf", path=broken)
    result = generate_attributes(workspace, "blog post", count=2, model="broken")
    assert result.engine == "remote" and state.auth_headers[-1] == f"Bearer {valid_key}"
    state.script = ["malformed"]
    cli = runner.invoke(app, [*home, "generate", "blog post", "--model", "broken", "--json"])
    assert cli.exit_code == 1 and "malformed response" in cli.output
    workspace.close()

    secret = valid_key.encode()
    assert _files_containing(workspace.root, secret) == []  # DB (+ WAL), settings, exports, models
    assert valid_key not in caplog.text
    assert valid_key not in stored.output + shown.output + cli.output
    out, err = capsys.readouterr()
    assert valid_key not in out + err
    assert memory_keyring.store[("lightdom-tui", "deepseek")] == valid_key

    deleted = runner.invoke(app, [*home, "keys", "delete", "deepseek", "--json"])
    assert json.loads(deleted.stdout) == {"provider": "deepseek", "deleted": True}
    assert json.loads(runner.invoke(app, [*home, "keys", "show", "deepseek", "--json"]).stdout)["set"] is False


def test_env_var_wins_and_a_hung_keyring_times_out(monkeypatch, memory_keyring):
    import threading

    from lightdom_tui.errors import LightdomError
    from lightdom_tui.serving.secrets import get_api_key, mask
    from lightdom_tui.settings import ServingSettings

    settings = ServingSettings()
    memory_keyring.set_password("lightdom-tui", "deepseek", "sk-from-keyring-aaaa1111")
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-from-env-bbbb2222")
    assert get_api_key("deepseek", settings) == "sk-from-env-bbbb2222"
    monkeypatch.delenv("DEEPSEEK_API_KEY")
    assert get_api_key("deepseek", settings) == "sk-from-keyring-aaaa1111"
    assert mask("sk-from-keyring-aaaa1111") == "…1111" and mask("short") == "…"

    release = threading.Event()
    monkeypatch.setattr(memory_keyring, "get_password", lambda *a: release.wait(10))  # a locked keyring
    with pytest.raises(LightdomError, match="did not answer within"):
        get_api_key("deepseek", settings, timeout_s=0.2)
    release.set()
