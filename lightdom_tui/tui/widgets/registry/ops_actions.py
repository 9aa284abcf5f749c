"""The registry pane's operations the CLI has too: deploy widen, simulate, A/B record / promote / end,
alerts check, alias history, version delete and the continuous-training status. Each calls the same use case as its CLI command.

A mixin of ``RegistryPane`` (its bindings are declared there, so help and the keymap see them).
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.message import Message

from lightdom_tui.tui.messages import Notice, RegistryActionDone, VersionDetailLoaded
from lightdom_tui.tui.screens.form import FormField, FormScreen
from lightdom_tui.usecases import registry as uc
from lightdom_tui.usecases.options import parse_float_option

AB_ACTIONS = {"record": "record an outcome", "promote": "promote the winner", "end": "end without promoting"}


class RunningTestsLoaded(Message):
    """The running A/B tests, for the form of ``action`` (record / promote / end)."""

    def __init__(self, action: str, tests: list[Any]) -> None:
        super().__init__()
        self.action = action
        self.tests = tests


def simulation_line(result: Any) -> str:
    """A replay's verdict and headline numbers, as `lightdom simulate` prints them."""
    numbers = ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in list(result.summary.items())[:4])
    return f"simulate {result.version} on {result.n} {result.source} prompt(s): {result.verdict} ({numbers})"


class RegistryOpsActions:
    """Widen, simulate, A/B record/promote/end, alerts check, alias history, delete, continuous status."""

    workspace: Any
    selected: str | None

    # ------------------------------------------------------------------ deployments

    def action_widen(self) -> None:
        """Widen the selected version's staged rollout (more task types / the next stage), health-checked."""
        version = self.selected
        if version is None:
            self.notify("select a version first", severity="warning")  # type: ignore[attr-defined]
            return
        self.app.prompt(f"Task types to widen {version} to (empty = the next stage)",  # type: ignore[attr-defined]
                        lambda types: self._widen(version, types), title="Widen rollout")

    @work(thread=True, exclusive=True, group="deploy", name="widen rollout", exit_on_error=False)
    def _widen(self, version: str, task_types: str) -> None:
        self.post_message(Notice(f"widening {version}: health check running…"))  # type: ignore[attr-defined]
        result = uc.deploy(self.workspace, uc.DeployRequest(version, task_types or None, widen=True))
        self.post_message(RegistryActionDone(result.message, "deploy"))  # type: ignore[attr-defined]

    def action_alerts_check(self) -> None:
        """Check every active deployment's metrics now (alerts, auto-rollback as configured)."""
        self._alerts_check()

    @work(thread=True, exclusive=True, group="registry-write", name="alerts check", exit_on_error=False)
    def _alerts_check(self) -> None:
        result = uc.alerts(self.workspace, check=True)
        text = (f"checked {len(result.metrics)} deployment(s): {len(result.new_alerts)} new alert(s), "
                f"{len(result.alerts)} open")
        if result.rolled_back:
            text += f"; rolled back: {', '.join(result.rolled_back)}"
        self.post_message(RegistryActionDone(text, "deploy"))  # type: ignore[attr-defined]

    def action_simulate(self) -> None:
        """Replay logged (or a dataset's) prompts through the selected version; nothing live changes."""
        version = self.selected
        if version is None:
            self.notify("select a version first", severity="warning")  # type: ignore[attr-defined]
            return
        fields = [FormField("dataset", "dataset", placeholder="empty = logged requests"),
                  FormField("limit", "prompts", "50")]
        self.app.push_screen(FormScreen(f"simulate {version}", fields),  # type: ignore[attr-defined]
                             lambda values: self._simulate(version, values) if values is not None else None)

    @work(thread=True, exclusive=True, group="evaluate", name="simulate", exit_on_error=False)
    def _simulate(self, version: str, values: dict[str, str]) -> None:
        from lightdom_tui.usecases.options import parse_int_option

        limit = parse_int_option(values.get("limit") or "50", "limit")
        self.post_message(Notice(f"simulating {version} on up to {limit} prompt(s)…"))  # type: ignore[attr-defined]
        result = uc.simulate(self.workspace, version, dataset=(values.get("dataset") or "").strip() or None,
                             limit=limit)
        self.post_message(RegistryActionDone(simulation_line(result)))  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ A/B tests

    def action_ab(self, action: str) -> None:
        """Record an outcome for, promote the winner of, or end a running A/B test."""
        self._running_tests(action)

    @work(thread=True, exclusive=True, group="ab-list", name="list A/B tests", exit_on_error=False)
    def _running_tests(self, action: str) -> None:
        tests = [t for t in uc.list_ab_tests(self.workspace) if t.status == "running"]
        self.post_message(RunningTestsLoaded(action, tests))  # type: ignore[attr-defined]

    def on_running_tests_loaded(self, message: RunningTestsLoaded) -> None:
        message.stop()
        if not message.tests:
            self.notify("no A/B test is running: m marks a, select b, t starts one")  # type: ignore[attr-defined]
            return
        names = tuple(t.name for t in message.tests)
        fields = [FormField("test", "A/B test", names[0], choices=names)]
        if message.action == "record":
            fields += [FormField("arm", "arm", "a", choices=("a", "b")),
                       FormField("success", "success", "yes", choices=("yes", "no")),
                       FormField("latency_ms", "latency (ms)", placeholder="optional")]
        elif message.action == "promote":
            fields += [FormField("arm", "winner", placeholder="the report's recommendation",
                                 choices=("a", "b"))]
        action = message.action
        self.app.push_screen(FormScreen(f"A/B: {AB_ACTIONS[action]}", fields),  # type: ignore[attr-defined]
                             lambda values: self._ab_do(action, values) if values is not None else None)

    @work(thread=True, exclusive=True, group="registry-write", name="A/B test", exit_on_error=False)
    def _ab_do(self, action: str, values: dict[str, str]) -> None:
        test = values["test"]
        if action == "record":
            uc.record_ab_outcome(self.workspace, uc.OutcomeRequest(
                test, values.get("arm") or "a", values.get("success") != "no",
                latency_ms=parse_float_option(values.get("latency_ms", ""), "latency (ms)")))
            text = f"recorded a {'success' if values.get('success') != 'no' else 'failure'} for arm " \
                   f"{values.get('arm') or 'a'} of {test}"
        elif action == "promote":
            promotion = uc.promote_ab(self.workspace, test, arm=values.get("arm") or None)
            text = f"A/B test {test} ended: arm {promotion.winner_arm} promoted"
        else:
            info = uc.end_ab_test(self.workspace, test)
            text = f"A/B test {info.name} ended (nothing promoted)"
        self.post_message(RegistryActionDone(text, "deploy"))  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ versions

    def action_history(self) -> None:
        """Every alias move, newest first (`lightdom models history`), in the detail panel."""
        self._history()

    @work(thread=True, exclusive=True, group="registry-detail", name="alias history", exit_on_error=False)
    def _history(self) -> None:
        from rich.markup import escape

        moves = uc.alias_history(self.workspace)
        lines = ["[b]alias history[/b] (newest first)"] + [
            escape(f"{m.created_at:%Y-%m-%d %H:%M}  {m.alias}  {m.action}  {m.previous_version or '–'} → "
                   f"{m.version or '–'}  {m.reason or ''}") for m in moves]
        self.post_message(VersionDetailLoaded("\n".join(lines) if moves else "no alias has moved yet"))  # type: ignore[attr-defined]

    def action_delete_version(self) -> None:
        """Delete the selected version if nothing uses it (`lightdom models delete`), after confirmation."""
        version = self.selected
        if version is None:
            return
        self.app.confirm(  # type: ignore[attr-defined]
            f"Delete model version {version}? Its files go too if they live in the workspace's models/ folder.",
            lambda: self._delete_version(version))

    @work(thread=True, exclusive=True, group="registry-write", name="delete version", exit_on_error=False)
    def _delete_version(self, version: str) -> None:
        result = uc.delete_model(self.workspace, version)
        text = f"deleted {result.version}{' and its files' if result.files_removed else ''}"
        self.post_message(RegistryActionDone(text))  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ continuous training

    def action_continuous_status(self) -> None:
        """Where the continuous-training loop stands against its policy (`lightdom continuous status`)."""
        self._continuous_status()

    @work(thread=True, exclusive=True, group="continuous", name="continuous status", exit_on_error=False)
    def _continuous_status(self) -> None:
        from lightdom_tui.usecases.loop import loop_status

        status = loop_status(self.workspace)
        self.post_message(Notice(f"continuous training: {status.stage}: {status.message}"))  # type: ignore[attr-defined]
