"""Command palette provider: app actions plus those of the pane on screen."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


class LightdomCommands(Provider):
    """Main actions by name; the list follows the pane that is shown."""

    def _commands(self) -> list[tuple[str, str, str, object]]:
        app = self.app
        entries: list[tuple[str, str, str, object]] = [
            (f"Go to {title}", f"pane {number}", f"show_pane('{pane_id}')", app)
            for number, (pane_id, title) in enumerate(app.pane_titles(), start=1)  # type: ignore[attr-defined]
        ]
        entries += [
            ("Settings", "edit lightdom.toml", "settings", app),
            ("Set API key", "store the remote API key in the keyring", "api_key", app),
            ("Toggle light/dark theme", "switch and save settings.tui.theme", "toggle_dark_theme", app),
            ("Help: keys", "every binding", "help", app),
            ("Serve: start / stop the gateway", "ctrl+g: lightdom serve on serving.port, URL on the status bar",
             "serve", app),
            ("Watch the inbox: on / off", "ctrl+w: ingest files dropped into the inbox, as 'lightdom watch'",
             "watch", app),
            ("Doctor: check the environment", "f4: torch/GPU, llama.cpp, keyring, disk, workspace, as 'lightdom doctor'",
             "doctor", app),
        ]
        pane = app.active_pane()  # type: ignore[attr-defined]
        if pane is not None:
            entries += [(name, help_text, action, pane) for name, help_text, action in pane.palette_commands()]
        return entries

    async def discover(self) -> Hits:
        for name, help_text, action, target in self._commands():
            yield DiscoveryHit(name, partial(self._run, target, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, action, target in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(self._run, target, action), help=help_text)

    async def _run(self, target: object, action: str) -> None:
        await self.app.run_action(action, target)  # type: ignore[arg-type]
