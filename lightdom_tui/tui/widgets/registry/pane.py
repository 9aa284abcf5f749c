"""Model registry pane: versions, lineage, export with progress, eval/compare, A/B, deploy, promote, rollback."""

from __future__ import annotations

import time
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Label, ProgressBar, Static

from lightdom_tui.tui.messages import (
    DataChanged,
    ExportProgress,
    Notice,
    RegistryActionDone,
    RegistryOpsLoaded,
    VersionDetailLoaded,
    VersionsLoaded,
)
from lightdom_tui.tui.screens.form import FormField, FormScreen
from lightdom_tui.tui.widgets.pane import Pane
from lightdom_tui.tui.widgets.registry import views
from lightdom_tui.tui.widgets.registry.edge_actions import RegistryEdgeActions
from lightdom_tui.tui.widgets.registry.ops_actions import RegistryOpsActions

PROGRESS_EVERY_S = 0.25  # Toolong-style batching of progress messages


class RegistryPane(RegistryOpsActions, RegistryEdgeActions, Pane):
    """Every model version; actions apply to the selected one."""

    BINDINGS = [
        Binding("x", "export", "Export GGUF…", id="registry.export"),
        Binding("p", "promote", "Promote…", id="registry.promote"),
        Binding("b", "rollback_alias", "Rollback alias…", id="registry.rollback_alias"),
        Binding("D", "deploy", "Deploy…", id="registry.deploy"),
        Binding("R", "rollback_deploy", "Rollback deploy…", id="registry.rollback_deploy"),
        Binding("v", "evaluate", "Evaluate…", id="registry.evaluate"),
        Binding("m", "mark", "Mark for compare", id="registry.mark"),
        Binding("c", "compare", "Compare", id="registry.compare"),
        Binding("t", "ab_test", "A/B test…", id="registry.ab_test"),
        Binding("k", "ack_alerts", "Ack alerts", id="registry.ack_alerts", show=False),
        Binding("L", "loop_round", "Loop round…", id="registry.loop_round", show=False),
        Binding("ctrl+r", "reload", "Reload", id="registry.reload", show=False),
        Binding("W", "widen", "Widen rollout…", id="registry.widen", show=False),
        Binding("s", "simulate", "Simulate…", id="registry.simulate", show=False),
        Binding("o", "ab('record')", "A/B: record outcome…", id="registry.ab_record", show=False),
        Binding("P", "ab('promote')", "A/B: promote winner…", id="registry.ab_promote", show=False),
        Binding("E", "ab('end')", "A/B: end test…", id="registry.ab_end", show=False),
        Binding("a", "alerts_check", "Check alerts", id="registry.alerts_check", show=False),
        Binding("C", "continuous_status", "Continuous status", id="registry.continuous_status", show=False),
        Binding("H", "history", "Alias history", id="registry.history", show=False),
        Binding("delete", "delete_version", "Delete version…", id="registry.delete", show=False),
        Binding("A", "add_base", "Add a base model…", id="registry.add_base", show=False),
        Binding("g", "generate", "Generate…", id="registry.generate", show=False),
        Binding("K", "pack", "Pack for an edge box…", id="registry.pack", show=False),
        Binding("U", "unpack", "Unpack a model…", id="registry.unpack", show=False),
        Binding("S", "sync_export", "Sync export calls…", id="registry.sync_export", show=False),
        Binding("G", "gateway_keys", "Gateway keys…", id="registry.gateway_keys", show=False),
    ]

    def __init__(self, workspace, **kwargs) -> None:  # noqa: ANN001, ANN003
        super().__init__(workspace, **kwargs)
        self.marked: str | None = None
        self._loaded_once = False

    def compose_pane(self) -> ComposeResult:
        with Horizontal():
            with Vertical(id="versions-box"):
                yield DataTable(id="versions", cursor_type="row", zebra_stripes=True)
                with Horizontal(id="export-row"):
                    yield Label("", id="export-stage")
                    yield ProgressBar(total=1.0, id="export-progress", show_eta=False)
            with Vertical(id="registry-side"):
                with VerticalScroll(id="version-detail-box"):
                    yield Static("[dim]select a version[/dim]", id="version-detail")
                with VerticalScroll(id="registry-ops-box"):
                    yield Static("", id="registry-ops")

    def on_built(self) -> None:
        table = self.query_one("#versions", DataTable)
        table.add_columns("version", "kind", "quant", "size", "aliases", "deployed", "created")
        table.border_title = "model versions"
        self.query_one("#export-row").display = False

    def on_shown(self) -> None:
        if not self._loaded_once:
            self._loaded_once = True
            self.refresh_data()

    def focus_main(self) -> None:
        if self.built:
            self.query_one("#versions").focus()

    def palette_commands(self) -> list[tuple[str, str, str]]:
        return [
            ("Export the selected version to GGUF…", "x: merge + GGUF + quantize + verify", "export"),
            ("Promote the selected version…", "p: move an alias", "promote"),
            ("Roll back an alias…", "b", "rollback_alias"),
            ("Deploy the selected version…", "D: health-checked", "deploy"),
            ("Roll back the deployment…", "R", "rollback_deploy"),
            ("Evaluate the selected version…", "v", "evaluate"),
            ("Compare marked and selected versions", "m then c", "compare"),
            ("Start an A/B test (marked = a, selected = b)…", "t", "ab_test"),
            ("Acknowledge alerts", "k", "ack_alerts"),
            ("Run a continuous-training round…", "L: dataset → train → export → evaluate → staging", "loop_round"),
            ("Continuous training: status", "C: where the loop stands against its policy", "continuous_status"),
            ("Widen the selected version's rollout…", "W: deploy widen, health-checked", "widen"),
            ("Simulate the selected version…", "s: replay logged prompts, nothing live changes", "simulate"),
            ("A/B: record an outcome…", "o", "ab('record')"),
            ("A/B: promote the winner…", "P", "ab('promote')"),
            ("A/B: end a test…", "E: without promoting", "ab('end')"),
            ("Check alerts now", "a: deployment metrics, alerts, auto-rollback", "alerts_check"),
            ("Alias history", "H: every alias move, newest first", "history"),
            ("Delete the selected version…", "delete: only if nothing uses it", "delete_version"),
            ("Add a base model…", "A: a local HF folder or .gguf file, registered in place", "add_base"),
            ("Generate attributes with the selected version…", "g: lightdom generate --model", "generate"),
            ("Pack the selected version for an edge box…", "K: GGUF, sha256, prompts, routes in one file", "pack"),
            ("Unpack a model…", "U: register a pack file (sha256 checked), serve its routes", "unpack"),
            ("Sync export: calls and verdicts…", "S: one file for `lightdom ingest` on the workstation",
             "sync_export"),
            ("Gateway keys: list, add, revoke…", "G: keys clients present off loopback (shown once)",
             "gateway_keys"),
        ]

    def refresh_data(self) -> None:
        if self.built:
            self._load_versions()
            self._load_ops()

    def action_reload(self) -> None:
        """Re-read everything."""
        self.refresh_data()

    # ------------------------------------------------------------------ loading

    @work(thread=True, exclusive=True, group="registry-list", name="list models", exit_on_error=False)
    def _load_versions(self) -> None:
        from lightdom_tui.usecases.registry import list_models

        self.post_message(VersionsLoaded(list_models(self.workspace)))

    @work(thread=True, exclusive=True, group="registry-ops", name="read deployments", exit_on_error=False)
    def _load_ops(self) -> None:
        from lightdom_tui.usecases.registry import registry_ops

        ops = registry_ops(self.workspace)
        self.post_message(RegistryOpsLoaded(views.ops_text(ops.status, ops.tests, ops.reports, ops.alerts)))

    @on(DataTable.RowHighlighted, "#versions")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self._load_detail(event.row_key.value)

    @work(thread=True, exclusive=True, group="registry-detail", name="show model", exit_on_error=False)
    def _load_detail(self, version: str) -> None:
        from lightdom_tui.usecases.registry import show_model

        self.post_message(VersionDetailLoaded(views.detail_text(show_model(self.workspace, version))))

    @property
    def selected(self) -> str | None:
        """The version under the cursor."""
        table = self.query_one("#versions", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value

    def on_versions_loaded(self, message: VersionsLoaded) -> None:
        message.stop()
        self._show_versions(message.models)

    def on_version_detail_loaded(self, message: VersionDetailLoaded) -> None:
        message.stop()
        self.query_one("#version-detail", Static).update(message.text)

    def on_registry_ops_loaded(self, message: RegistryOpsLoaded) -> None:
        message.stop()
        self.query_one("#registry-ops", Static).update(message.text)

    def on_export_progress(self, message: ExportProgress) -> None:
        message.stop()
        self.query_one("#export-row").display = True
        self.query_one("#export-stage", Label).update(f"export: {message.stage} ")
        self.query_one("#export-progress", ProgressBar).update(progress=message.fraction)

    def on_registry_action_done(self, message: RegistryActionDone) -> None:
        """A write finished: say so, then the refresh bus updates every pane (this one included)."""
        message.stop()
        self.query_one("#export-row").display = False
        self.notify(message.text)
        self.post_message(DataChanged(message.area))

    def _show_versions(self, models: list[Any]) -> None:
        table = self.query_one("#versions", DataTable)
        keep = self.selected
        table.clear()
        for m in models:
            mark = "◎ " if m.version == self.marked else ""
            table.add_row(mark + m.version, m.kind, m.quant or "–", views.human_size(m.size_bytes),
                          ", ".join(m.aliases), ", ".join(m.deployed_to), m.created_at[:16], key=m.version)
        table.border_title = f"model versions · {len(models)}"
        if keep is not None and keep in table.rows:
            table.move_cursor(row=table.get_row_index(keep))

    # ------------------------------------------------------------------ actions

    def _need_selected(self) -> str | None:
        version = self.selected
        if version is None:
            self.notify("no version selected", severity="warning")
        return version

    def action_export(self) -> None:
        """Merge (adapters) + convert to GGUF + quantize + verify, with progress."""
        version = self._need_selected()
        if version is None:
            return
        self.app.prompt(  # type: ignore[attr-defined]
            f"Quantization for {version} (q4_k_m, q5_k_m, q8_0, f16)", lambda quant: self._export(version, quant),
            title="Export", value="q4_k_m",
        )

    @work(thread=True, exclusive=True, group="export", name="export model", exit_on_error=False)
    def _export(self, version: str, quant: str) -> None:
        last = [0.0]

        def progress(stage: str, fraction: float) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY_S or fraction >= 1.0:
                last[0] = now
                self.post_message(ExportProgress(stage, fraction))

        from lightdom_tui.usecases.registry import ExportRequest, export_model

        self.post_message(ExportProgress("starting", 0.0))
        result = export_model(self.workspace, ExportRequest(version, quant), progress=progress)
        self.post_message(RegistryActionDone(f"exported {result.version} ({result.quant}, "
                                             f"{views.human_size(result.size)})"))

    def action_promote(self) -> None:
        """Move an alias (production by default) to the selected version."""
        version = self._need_selected()
        if version is None:
            return
        self.app.prompt(f"Alias to point at {version}", lambda alias: self._promote(version, alias),  # type: ignore[attr-defined]
                        title="Promote", value="production")

    @work(thread=True, group="registry-write", name="promote", exit_on_error=False)
    def _promote(self, version: str, alias: str) -> None:
        from lightdom_tui.usecases.registry import AliasMoveRequest, promote

        move = promote(self.workspace, AliasMoveRequest(alias, version))
        self.post_message(RegistryActionDone(f"{move.alias} → {move.version} "
                                             f"(was {move.previous_version or 'unset'})"))

    def action_add_base(self) -> None:
        """Register a local HF folder or GGUF file as a base version (`lightdom models add-base`)."""
        fields = [FormField("path", "path", placeholder="a Hugging Face model folder or a .gguf file"),
                  FormField("name", "version name", placeholder="empty = from the path")]
        self.app.push_screen(FormScreen("add a base model", fields),
                             lambda values: self._add_base(values) if values else None)

    @work(thread=True, group="registry-write", name="add base model", exit_on_error=False)
    def _add_base(self, values: dict[str, str]) -> None:
        from pathlib import Path

        from lightdom_tui.errors import LightdomError
        from lightdom_tui.usecases.registry import add_base

        path = (values.get("path") or "").strip()
        if not path:
            raise LightdomError("path: give a Hugging Face model folder or a .gguf file")
        summary = add_base(self.workspace, Path(path), name=(values.get("name") or "").strip() or None)
        self.post_message(RegistryActionDone(f"registered {summary.version}: {summary.format} "
                                             f"{summary.architecture or '?'}"))

    def action_rollback_alias(self) -> None:
        """Point an alias back at its previous version (the reason is kept in the history)."""
        from lightdom_tui.usecases.registry import DEFAULT_ROLLBACK_REASON

        fields = [FormField("alias", "alias", "production"),
                  FormField("reason", "reason", DEFAULT_ROLLBACK_REASON)]
        self.app.push_screen(FormScreen("roll back an alias", fields),
                             lambda values: self._rollback_alias(values) if values else None)

    @work(thread=True, group="registry-write", name="rollback alias", exit_on_error=False)
    def _rollback_alias(self, values: dict[str, str]) -> None:
        from lightdom_tui.usecases.registry import AliasMoveRequest, rollback_alias

        move = rollback_alias(self.workspace, AliasMoveRequest(values.get("alias", ""), None, values.get("reason")))
        self.post_message(RegistryActionDone(f"{move.alias} rolled back to {move.version}"))

    def action_deploy(self) -> None:
        """Health-check and deploy the selected version (task types: comma separated, empty = all)."""
        version = self._need_selected()
        if version is None:
            return
        self.app.prompt(f"Task types {version} serves (empty = all)", lambda t: self._deploy(version, t),  # type: ignore[attr-defined]
                        title="Deploy")

    @work(thread=True, exclusive=True, group="deploy", name="deploy", exit_on_error=False)
    def _deploy(self, version: str, task_types: str) -> None:
        from lightdom_tui.usecases.registry import DeployRequest, deploy

        # the health check loads and asks the model (seconds): say at once that it is under way
        self.post_message(Notice(f"deploying {version}: health check running…"))
        result = deploy(self.workspace, DeployRequest(version, task_types))
        self.post_message(RegistryActionDone(result.message, "deploy"))

    def action_rollback_deploy(self) -> None:
        """Restore the previous deployment (of a task type; empty = the latest rollout), with a reason."""
        from lightdom_tui.usecases.registry import DEFAULT_ROLLBACK_REASON

        fields = [FormField("task_type", "task type", placeholder="empty = the latest rollout"),
                  FormField("reason", "reason", DEFAULT_ROLLBACK_REASON)]
        self.app.push_screen(FormScreen("roll back the deployment", fields),
                             lambda values: self._rollback_deploy(values) if values else None)

    @work(thread=True, group="deploy", name="rollback deployment", exit_on_error=False)
    def _rollback_deploy(self, values: dict[str, str]) -> None:
        from lightdom_tui.usecases.registry import DeployRollbackRequest, rollback_deployment

        result = rollback_deployment(self.workspace, DeployRollbackRequest(values.get("task_type"),
                                                                           values.get("reason")))
        self.post_message(RegistryActionDone(result.message, "deploy"))

    def action_evaluate(self) -> None:
        """Evaluate the selected version on a dataset's validation split."""
        version = self._need_selected()
        if version is None:
            return
        self.app.prompt(f"Dataset to evaluate {version} on (NAME or NAME@VERSION)",  # type: ignore[attr-defined]
                        lambda d: self._evaluate(version, d), title="Evaluate")

    @work(thread=True, exclusive=True, group="evaluate", name="evaluate", exit_on_error=False)
    def _evaluate(self, version: str, dataset: str) -> None:
        from lightdom_tui.usecases.registry import EvaluationRequest, evaluate

        result = evaluate(self.workspace, EvaluationRequest(version, dataset))
        self.post_message(RegistryActionDone(views.evaluation_text(result)))

    def action_mark(self) -> None:
        """Remember the selected version (a side of compare / A/B)."""
        self.marked = self.selected
        self.notify(f"marked {self.marked}")
        self._load_versions()

    def action_compare(self) -> None:
        """Side-by-side latest evaluations of the marked and the selected version."""
        if self.marked is None or self.selected is None:
            self.notify("mark a version with m, then select another and press c", severity="warning")
            return
        self._compare(self.marked, self.selected)

    @work(thread=True, group="evaluate", name="compare", exit_on_error=False)
    def _compare(self, a: str, b: str) -> None:
        from lightdom_tui.usecases.registry import compare

        self.post_message(VersionDetailLoaded(views.comparison_text(compare(self.workspace, a, b))))

    def action_ab_test(self) -> None:
        """Start an A/B test between the marked (a) and the selected (b) version."""
        if self.marked is None or self.selected is None:
            self.notify("mark version a with m, select version b, then press t", severity="warning")
            return
        a, b = self.marked, self.selected
        if a == b:  # the service refuses it too; saying so here spares filling in the form
            self.notify(f"{a} is both a and b: select another version for b (an A/B test needs two)",
                        severity="warning")
            return
        fields = [FormField("name", "name", f"{a}-vs-{b}"), FormField("split", "share of traffic for b", "0.5"),
                  FormField("task_types", "task types", "attribute_generation")]
        self.app.push_screen(FormScreen(f"A/B test {a} vs {b}", fields),
                             lambda values: self._ab(a, b, values) if values else None)

    @work(thread=True, group="registry-write", name="create A/B test", exit_on_error=False)
    def _ab(self, a: str, b: str, values: dict[str, str]) -> None:
        from lightdom_tui.usecases.registry import ABTestRequest, create_ab_test

        info = create_ab_test(self.workspace, ABTestRequest(a, b, values.get("split"), values.get("task_types"),
                                                            values.get("name") or None))
        self.post_message(RegistryActionDone(f"A/B test {info.name} running"))

    def action_ack_alerts(self) -> None:
        """Acknowledge every open alert."""
        self._ack()

    @work(thread=True, group="registry-write", name="acknowledge alerts", exit_on_error=False)
    def _ack(self) -> None:
        from lightdom_tui.usecases.registry import alerts

        count = alerts(self.workspace, ack=True).acknowledged
        self.post_message(RegistryActionDone(f"{count} alert(s) acknowledged"))

    def action_loop_round(self) -> None:
        """Run the loop pipeline's continuous-training round (the same stages as `lightdom demo`)."""
        self.app.confirm(  # type: ignore[attr-defined]
            "Run a continuous-training round now (dataset → train → export → evaluate → staging)?",
            self._loop_round,
        )

    @work(thread=True, exclusive=True, group="loop", name="continuous round", exit_on_error=False)
    def _loop_round(self) -> None:
        from lightdom_tui.usecases.loop import run_round

        result = run_round(self.workspace, auto=True, force=True)
        self.post_message(RegistryActionDone(f"round {result.action}: {result.message}"))
