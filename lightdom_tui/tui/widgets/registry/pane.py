"""Model registry pane: versions, lineage, export with progress, eval/compare, A/B, deploy, promote, rollback."""

from __future__ import annotations

import time
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Label, ProgressBar, Static

from lightdom_tui.tui.messages import DataChanged, Loaded
from lightdom_tui.tui.screens.form import FormField, FormScreen
from lightdom_tui.tui.services import service
from lightdom_tui.tui.widgets.pane import Pane
from lightdom_tui.tui.widgets.registry import views

PROGRESS_EVERY_S = 0.25  # Toolong-style batching of progress messages


class RegistryPane(Pane):
    """Every model version; actions apply to the selected one."""

    REQUIRES = ("registry.catalog", "registry.aliases", "registry.deploy", "registry.ab", "registry.evaluation",
                "registry.monitoring", "modelio.pipeline")
    WHAT = "The model registry"
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
        Binding("ctrl+r", "reload", "Reload", id="registry.reload", show=False),
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
        if not self.missing_services() and not self._loaded_once:
            self._loaded_once = True
            self.refresh_data()

    def focus_main(self) -> None:
        if not self.missing_services():
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
        ]

    def refresh_data(self) -> None:
        if not self.missing_services():
            self._load_versions()
            self._load_ops()

    def action_reload(self) -> None:
        """Re-read everything."""
        self.refresh_data()

    # ------------------------------------------------------------------ loading

    @work(thread=True, exclusive=True, group="registry-list", name="list models", exit_on_error=False)
    def _load_versions(self) -> None:
        with self.workspace.session() as session:
            models = service("registry.catalog").list_models(session)
        self.post_message(Loaded("versions", models, replaceable=True))

    @work(thread=True, exclusive=True, group="registry-ops", name="read deployments", exit_on_error=False)
    def _load_ops(self) -> None:
        ab, monitoring = service("registry.ab"), service("registry.monitoring")
        status = service("registry.deploy").deploy_status(self.workspace)
        with self.workspace.session() as session:
            tests = ab.list_ab_tests(session)
            reports = {t.id: ab.ab_report(session, t.id) for t in tests if t.status == "running"}
            alerts = monitoring.list_alerts(session)
        self.post_message(Loaded("ops", views.ops_text(status, tests, reports, alerts), replaceable=True))

    @on(DataTable.RowHighlighted, "#versions")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self._load_detail(event.row_key.value)

    @work(thread=True, exclusive=True, group="registry-detail", name="show model", exit_on_error=False)
    def _load_detail(self, version: str) -> None:
        with self.workspace.session() as session:
            detail = service("registry.catalog").show_model(session, version)
        self.post_message(Loaded("detail", views.detail_text(detail), replaceable=True))

    @property
    def selected(self) -> str | None:
        """The version under the cursor."""
        table = self.query_one("#versions", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value

    def on_loaded(self, message: Loaded) -> None:
        message.stop()
        kind, payload = message.kind, message.payload
        if kind == "versions":
            self._show_versions(payload)
        elif kind == "detail":
            self.query_one("#version-detail", Static).update(payload)
        elif kind == "ops":
            self.query_one("#registry-ops", Static).update(payload)
        elif kind == "progress":
            stage, fraction = payload
            row = self.query_one("#export-row")
            row.display = True
            self.query_one("#export-stage", Label).update(f"export: {stage} ")
            self.query_one("#export-progress", ProgressBar).update(progress=fraction)
        elif kind == "done":
            self.query_one("#export-row").display = False
            self.notify(str(payload))
            self.refresh_data()
            self.post_message(DataChanged("registry"))
        elif kind == "notify":
            self.notify(str(payload))

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
                self.post_message(Loaded("progress", (stage, fraction), replaceable=True))

        self.post_message(Loaded("progress", ("starting", 0.0)))
        result = service("modelio.pipeline").export_model(self.workspace, version, quant=quant.strip() or "q4_k_m",
                                                          progress=progress)
        self.post_message(Loaded("done", f"exported {result.version} ({result.quant}, "
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
        move = service("registry.aliases").promote(self.workspace, version, alias.strip() or "production")
        self.post_message(Loaded("done", f"{move.alias} → {move.version} (was {move.previous_version or 'unset'})"))

    def action_rollback_alias(self) -> None:
        """Point an alias back at its previous version."""
        self.app.prompt("Alias to roll back", self._rollback_alias, title="Rollback alias",  # type: ignore[attr-defined]
                        value="production")

    @work(thread=True, group="registry-write", name="rollback alias", exit_on_error=False)
    def _rollback_alias(self, alias: str) -> None:
        move = service("registry.aliases").rollback(self.workspace, alias.strip() or "production")
        self.post_message(Loaded("done", f"{move.alias} rolled back to {move.version}"))

    def action_deploy(self) -> None:
        """Health-check and deploy the selected version (task types: comma separated, empty = all)."""
        version = self._need_selected()
        if version is None:
            return
        self.app.prompt(f"Task types {version} serves (empty = all)", lambda t: self._deploy(version, t),  # type: ignore[attr-defined]
                        title="Deploy")

    @work(thread=True, exclusive=True, group="deploy", name="deploy", exit_on_error=False)
    def _deploy(self, version: str, task_types: str) -> None:
        types = [t.strip() for t in task_types.split(",") if t.strip()] or None
        result = service("registry.deploy").deploy(self.workspace, version, types)
        self.post_message(Loaded("done", result.message))

    def action_rollback_deploy(self) -> None:
        """Restore the previous deployment (of a task type; empty = all)."""
        self.app.prompt("Task type to roll back (empty = *)", self._rollback_deploy,  # type: ignore[attr-defined]
                        title="Rollback deployment")

    @work(thread=True, group="deploy", name="rollback deployment", exit_on_error=False)
    def _rollback_deploy(self, task_type: str) -> None:
        result = service("registry.deploy").rollback(self.workspace, task_type.strip() or None)
        self.post_message(Loaded("done", result.message))

    def action_evaluate(self) -> None:
        """Evaluate the selected version on a dataset's validation split."""
        version = self._need_selected()
        if version is None:
            return
        self.app.prompt(f"Dataset to evaluate {version} on (NAME or NAME@VERSION)",  # type: ignore[attr-defined]
                        lambda d: self._evaluate(version, d), title="Evaluate")

    @work(thread=True, exclusive=True, group="evaluate", name="evaluate", exit_on_error=False)
    def _evaluate(self, version: str, dataset: str) -> None:
        result = service("registry.evaluation").evaluate(self.workspace, version, dataset=dataset.strip())
        self.post_message(Loaded("done", views.evaluation_text(result)))

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
        with self.workspace.session() as session:
            comparison = service("registry.evaluation").compare(session, a, b)
        self.post_message(Loaded("detail", views.comparison_text(comparison), replaceable=True))

    def action_ab_test(self) -> None:
        """Start an A/B test between the marked (a) and the selected (b) version."""
        if self.marked is None or self.selected is None:
            self.notify("mark version a with m, select version b, then press t", severity="warning")
            return
        a, b = self.marked, self.selected
        fields = [FormField("name", "name", f"{a}-vs-{b}"), FormField("split", "share of traffic for b", "0.5"),
                  FormField("task_types", "task types", "attribute_generation")]
        self.app.push_screen(FormScreen(f"A/B test {a} vs {b}", fields),
                             lambda values: self._ab(a, b, values) if values else None)

    @work(thread=True, group="registry-write", name="create A/B test", exit_on_error=False)
    def _ab(self, a: str, b: str, values: dict[str, str]) -> None:
        from lightdom_tui.errors import LightdomError

        try:
            split = float(values.get("split") or "0.5")
        except ValueError:
            raise LightdomError(f"split: {values.get('split')!r} is not a number") from None
        types = [t.strip() for t in values.get("task_types", "").split(",") if t.strip()] or None
        info = service("registry.ab").create_ab_test(self.workspace, a, b, split=split, task_types=types,
                                                     name=values.get("name") or None)
        self.post_message(Loaded("done", f"A/B test {info.name} running"))

    def action_ack_alerts(self) -> None:
        """Acknowledge every open alert."""
        self._ack()

    @work(thread=True, group="registry-write", name="acknowledge alerts", exit_on_error=False)
    def _ack(self) -> None:
        count = service("registry.monitoring").acknowledge_alerts(self.workspace)
        self.post_message(Loaded("done", f"{count} alert(s) acknowledged"))
