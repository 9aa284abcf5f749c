"""The registry pane's edge-box, gateway and generation operations the CLI has too: `pack`, `unpack`,
`sync export`, `keys gateway add / list / revoke` and `generate --model`. Each calls the same use case as its CLI command, in a thread worker.

A mixin of ``RegistryPane`` (its bindings are declared there, so help and the keymap see them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import work
from textual.message import Message

from lightdom_tui.errors import LightdomError
from lightdom_tui.tui.messages import Notice, RegistryActionDone, VersionDetailLoaded
from lightdom_tui.tui.screens.form import FormField, FormScreen
from lightdom_tui.usecases import serving as uc
from lightdom_tui.usecases.options import parse_int_option

YES_NO = ("yes", "no")


def _path(values: dict[str, str], key: str, what: str) -> Path:
    text = (values.get(key) or "").strip()
    if not text:
        raise LightdomError(f"{key}: give {what}")
    return Path(text).expanduser()


def generation_text(result: Any) -> str:
    """`lightdom generate` as the detail panel shows it: one line per attribute, then model, engine, latency."""
    from rich.markup import escape

    lines = [f"[b]{escape(str(a.get('name')))}[/b] ({escape(str(a.get('type')))}): {escape(str(a.get('description')))}"
             for a in result.attributes]
    return "\n".join([*lines, f"[dim]{escape(str(result.model))} via {escape(str(result.engine))}, "
                                f"{result.latency_ms:.0f} ms[/dim]"])


class GatewayKeysLoaded(Message):
    """The gateway keys (names and creation times), for the keys form."""

    def __init__(self, keys: list[Any]) -> None:
        super().__init__()
        self.keys = keys


class GatewayKeyIssued(Message):
    """A new gateway key: shown once, in a dialog (never in a toast that stays in the log)."""

    def __init__(self, name: str, key: str) -> None:
        super().__init__()
        self.name = name
        self.key = key


GATEWAY_KEY_ACTIONS = ("add", "revoke")


class RegistryEdgeActions:
    """Pack, unpack, sync export, gateway keys and generate, for ``RegistryPane``."""

    workspace: Any
    selected: str | None

    def action_pack(self) -> None:
        """Write the selected GGUF version as one file for an edge box (`lightdom pack V -o FILE`)."""
        version = self.selected
        if version is None:
            self.notify("select a version first", severity="warning")  # type: ignore[attr-defined]
            return
        default = str(self.workspace.root / f"{version}.lightdom-pack")
        self.app.push_screen(FormScreen(f"pack {version}", [FormField("output", "pack file", default)]),  # type: ignore[attr-defined]
                             lambda values: self._pack(version, values) if values else None)

    @work(thread=True, exclusive=True, group="edge", name="pack", exit_on_error=False)
    def _pack(self, version: str, values: dict[str, str]) -> None:
        out = _path(values, "output", "the file to write")
        self.post_message(Notice(f"packing {version}…"))  # type: ignore[attr-defined]
        result = uc.pack_version(self.workspace, version, out)
        self.post_message(Notice(  # type: ignore[attr-defined]
            f"packed {result.version} → {result.path} ({result.size / 2**20:.1f} MiB, sha256 {result.sha256[:12]}…, "
            f"routes: {', '.join(result.task_routes) or 'none'})"))

    def action_unpack(self) -> None:
        """Register a packed model here, sha256 checked, and serve its task routes (`lightdom unpack FILE`)."""
        fields = [FormField("source", "pack file", placeholder="a file written by pack"),
                  FormField("deploy", "serve its task routes", "yes", choices=YES_NO)]
        self.app.push_screen(FormScreen("unpack a model", fields),  # type: ignore[attr-defined]
                             lambda values: self._unpack(values) if values else None)

    @work(thread=True, exclusive=True, group="edge", name="unpack", exit_on_error=False)
    def _unpack(self, values: dict[str, str]) -> None:
        result = uc.unpack_file(self.workspace, _path(values, "source", "the pack file"),
                                deploy=values.get("deploy") != "no")
        text = (f"{'registered' if result.registered else 'already here:'} {result.version} ({result.path}); "
                f"serving: {', '.join(result.deployed) or 'by name'}")
        self.post_message(RegistryActionDone(text, "deploy"))  # type: ignore[attr-defined]

    def action_sync_export(self) -> None:
        """Write this box's logged calls and verdicts as one file for the workstation (`lightdom sync export`)."""
        fields = [FormField("output", "file to write", str(self.workspace.root / "calls.jsonl")),
                  FormField("since", "since", placeholder="ISO date; empty = everything")]
        self.app.push_screen(FormScreen("sync export: calls and verdicts", fields),  # type: ignore[attr-defined]
                             lambda values: self._sync_export(values) if values else None)

    @work(thread=True, exclusive=True, group="edge", name="sync export", exit_on_error=False)
    def _sync_export(self, values: dict[str, str]) -> None:
        result = uc.export_calls(self.workspace, _path(values, "output", "the file to write"),
                                 since=(values.get("since") or "").strip() or None)
        self.post_message(Notice(  # type: ignore[attr-defined]
            f"{result.records} call(s), {result.verdicts} with a verdict, from {result.box} → {result.path}"))

    def action_gateway_keys(self) -> None:
        """The gateway keys clients present off loopback: list them, add one (shown once), revoke one."""
        self._gateway_keys()

    @work(thread=True, exclusive=True, group="gateway-keys", name="gateway keys", exit_on_error=False)
    def _gateway_keys(self) -> None:
        self.post_message(GatewayKeysLoaded(uc.list_gateway_keys(self.workspace).keys))  # type: ignore[attr-defined]

    def on_gateway_keys_loaded(self, message: GatewayKeysLoaded) -> None:
        message.stop()
        from lightdom_tui.safetext import markup_safe

        listed = "\n".join(markup_safe(f"{k.name}  {k.created_at}") for k in message.keys) or "no keys yet"
        fields = [FormField("action", "action", "add", choices=GATEWAY_KEY_ACTIONS),
                  FormField("name", "name", placeholder="who the key is for, e.g. my-app")]
        note = f"Gateway keys (`lightdom serve --host` off loopback needs one; only hashes are stored):\n{listed}"
        self.app.push_screen(FormScreen("gateway keys", fields, note=note),  # type: ignore[attr-defined]
                             lambda values: self._gateway_key_do(values) if values else None)

    @work(thread=True, exclusive=True, group="gateway-keys", name="gateway key", exit_on_error=False)
    def _gateway_key_do(self, values: dict[str, str]) -> None:
        name = (values.get("name") or "").strip()
        if not name:
            raise LightdomError("name: who the key is for, e.g. my-app")
        if values.get("action") == "revoke":
            result = uc.revoke_gateway_key(self.workspace, name)
            self.post_message(Notice(f"{name}: {'revoked' if result.revoked else 'no such key'}"))  # type: ignore[attr-defined]
        else:
            self.post_message(GatewayKeyIssued(name, uc.add_gateway_key(self.workspace, name).key))  # type: ignore[attr-defined]

    def on_gateway_key_issued(self, message: GatewayKeyIssued) -> None:
        message.stop()
        from lightdom_tui.tui.screens.campaign_views import ShownOnceScreen

        self.app.push_screen(ShownOnceScreen(  # type: ignore[attr-defined]
            f"gateway key · {message.name}", message.key,
            "Clients send it as 'Authorization: Bearer …'. Only its hash is stored."))

    def action_generate(self) -> None:
        """Suggest attributes for a topic with the selected version (`lightdom generate TOPIC --model V`)."""
        version = self.selected
        if version is None:
            self.notify("select a version first", severity="warning")  # type: ignore[attr-defined]
            return
        fields = [FormField("topic", "topic", placeholder="e.g. blog post"), FormField("count", "attributes", "8"),
                  FormField("context", "context", placeholder="optional")]
        self.app.push_screen(FormScreen(f"generate with {version}", fields),  # type: ignore[attr-defined]
                             lambda values: self._generate(version, values) if values else None)

    @work(thread=True, exclusive=True, group="generate", name="generate", exit_on_error=False)
    def _generate(self, version: str, values: dict[str, str]) -> None:
        topic = (values.get("topic") or "").strip()
        if not topic:
            raise LightdomError("topic: what the attributes describe, e.g. 'blog post'")
        self.post_message(Notice(f"generating with {version}…"))  # type: ignore[attr-defined]
        result = uc.generate(self.workspace, topic, count=parse_int_option(values.get("count"), "attributes", 8),
                             model=version, context=(values.get("context") or "").strip() or None)
        self.post_message(VersionDetailLoaded(generation_text(result)))  # type: ignore[attr-defined]
