"""Campaign tree pane: a lazy Tree, forms, attribute suggestions to accept/edit/reject, workflow runs."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Log, Static, Tree
from textual.widgets.tree import TreeNode

from lightdom_tui.tui.messages import (
    ChildrenLoaded,
    DataChanged,
    DecisionRequested,
    DeleteNeedsConfirmation,
    NodeChanged,
    NodeLoaded,
    Notice,
    SuggestionsLoaded,
    WorkflowLogLoaded,
    WorkflowRunFinished,
)
from lightdom_tui.tui.screens.form import FormField, FormScreen
from lightdom_tui.tui.widgets.campaign import nodes
from lightdom_tui.tui.widgets.campaign.nodes import CHILD, ICON, NodeRef
from lightdom_tui.tui.widgets.campaign.ops_actions import CampaignOpsActions
from lightdom_tui.tui.widgets.pane import Pane

PLACEHOLDER = "loading…"
LOG_POLL_S = 0.5


class SuggestionTable(DataTable):
    """Pending suggestions of the selected data stream: a accept, e edit, r reject."""

    BINDINGS = [
        Binding("a", "decide('accept')", "Accept", id="campaign.accept"),
        Binding("e", "decide('edit')", "Edit", id="campaign.edit_suggestion"),
        Binding("r", "decide('reject')", "Reject…", id="campaign.reject"),
    ]

    def action_decide(self, decision: str) -> None:
        """Hand the decision to the pane (it owns the workers)."""
        if self.row_count and self.cursor_row is not None:
            key = self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value
            self.post_message(DecisionRequested(decision, int(key)))


class CampaignPane(CampaignOpsActions, Pane):
    """Campaign → workflow → service → data stream → attribute; suggestions and workflow runs."""

    BINDINGS = [
        Binding("c", "new_campaign", "New campaign", id="campaign.new_campaign"),
        Binding("n", "new_child", "New child", id="campaign.new_child"),
        Binding("E", "edit_node", "Edit node", id="campaign.edit_node"),
        Binding("d", "delete_node", "Delete…", id="campaign.delete"),
        Binding("g", "suggest", "Suggest attributes", id="campaign.suggest"),
        Binding("x", "run_workflow", "Run workflow", id="campaign.run"),
        Binding("X", "stop_workflow", "Stop", id="campaign.stop"),
        Binding("B", "bundle", "Bundle wizard", id="campaign.bundle"),
        Binding("tab", "app.focus_next", "Next box", id="campaign.focus_next", show=False),
        Binding("T", "webhook_token", "Webhook token…", id="campaign.webhook_token", show=False),
        Binding("M", "workflow_metrics", "Workflow metrics", id="campaign.workflow_metrics", show=False),
        Binding("O", "export_campaign", "Export document…", id="campaign.export", show=False),
        Binding("I", "import_campaign", "Import campaign…", id="campaign.import", show=False),
        Binding("V", "stream_rows", "Data stream rows", id="campaign.stream_rows", show=False),
        Binding("t", "train_examples", "Training examples from the run…", id="campaign.train_examples",
                show=False),
        Binding("S", "scheduler_tick", "Scheduler: run what is due", id="campaign.scheduler_tick", show=False),
        Binding("U", "scheduler_due", "Scheduler: due times", id="campaign.scheduler_due", show=False),
        Binding("W", "import_workflow", "Import workflow…", id="campaign.import_workflow", show=False),
    ]

    def __init__(self, workspace, **kwargs) -> None:  # noqa: ANN001, ANN003
        super().__init__(workspace, **kwargs)
        self.selected: NodeRef | None = None
        self.selected_row: Any = None
        self._watch_run: int | None = None
        self._want: NodeRef | None = None  # the node the cursor goes back to once the tree is renumbered

    def compose_pane(self) -> ComposeResult:
        with Horizontal():
            tree: Tree[NodeRef] = Tree("campaigns", data=NodeRef("root", None, "campaigns"), id="campaign-tree")
            tree.show_root = False
            yield tree
            with Vertical(id="campaign-side"):
                yield Static("[dim]select a node[/dim]", id="node-detail")
                suggestions = SuggestionTable(id="suggestions", cursor_type="row", zebra_stripes=True)
                suggestions.border_title = "suggestions"
                yield suggestions
                log = Log(id="workflow-log", max_lines=500)
                log.border_title = "workflow log"
                yield log

    def on_built(self) -> None:
        table = self.query_one(SuggestionTable)
        table.add_columns("id", "name", "type", "description", "model")
        self._load_children(self.query_one(Tree).root)

    def focus_main(self) -> None:
        if self.built:
            self.query_one(Tree).focus()

    def palette_commands(self) -> list[tuple[str, str, str]]:
        return [
            ("New campaign…", "c", "new_campaign"),
            ("New child node…", "n", "new_child"),
            ("Suggest attributes for the data stream…", "g", "suggest"),
            ("Run the selected workflow", "x", "run_workflow"),
            ("Stop the selected workflow", "X", "stop_workflow"),
            ("Bundle wizard…", "B", "bundle"),
            ("Webhook token: issue / rotate…", "T: shown once, only its hash is stored", "webhook_token"),
            ("Workflow metrics", "M: per-run pages, rows, invalid values, duration", "workflow_metrics"),
            ("Export the campaign / workflow…", "O: a JSON or YAML document", "export_campaign"),
            ("Import a campaign…", "I: a JSON or YAML document, all or nothing", "import_campaign"),
            ("Data stream rows", "V: the latest rows of its destination", "stream_rows"),
            ("Training examples from the workflow's run…", "t: workflow train-export, attribute generation",
             "train_examples"),
            ("Scheduler: run what is due now", "S: scheduler tick (triggers fire only while a scheduler runs)",
             "scheduler_tick"),
            ("Scheduler: next due times", "U: every scheduled workflow", "scheduler_due"),
            ("Import a workflow into the campaign…", "W: a JSON or YAML document, all or nothing", "import_workflow"),
        ]

    # ------------------------------------------------------------------ lazy tree

    def _add(self, parent: TreeNode[NodeRef], ref: NodeRef) -> TreeNode[NodeRef]:
        label = Text(f"{ICON[ref.kind]} {ref.name}")
        if ref.kind in CHILD:
            node = parent.add(label, data=ref)
            node.add_leaf(PLACEHOLDER)  # children load when the node is first expanded
            return node
        return parent.add_leaf(label, data=ref)

    @on(Tree.NodeExpanded)
    def _expanded(self, event: Tree.NodeExpanded) -> None:
        children = list(event.node.children)
        if len(children) == 1 and children[0].data is None:
            self._load_children(event.node)

    def _load_children(self, node: TreeNode[NodeRef]) -> None:
        ref = node.data
        assert ref is not None

        def work() -> None:
            self.post_message(ChildrenLoaded(node, nodes.list_children(self.workspace, ref)))

        self.run_worker(work, thread=True, name=f"load {CHILD[ref.kind]}s", group=f"tree-{id(node)}",
                        exclusive=True, exit_on_error=False)

    def _fill(self, node: TreeNode[NodeRef], children: list[NodeRef], select: NodeRef | None = None) -> None:
        # A reload keeps what was open: the expanded children are expanded again (their own children
        # load lazily as on a first expand), so a create does not fold the rest of the tree.
        expanded = {child.data for child in node.children if child.data is not None and child.is_expanded}
        tree = self.query_one(Tree)
        # The tree's cursor is a line number: rows added above it would move it to another node,
        # so the node it is on (or the one just created) is looked up again once the lines are renumbered.
        if select is not None:
            self._want = select
        elif self._want is None and tree.cursor_node is not None and not _inside(tree.cursor_node, node):
            self._want = tree.cursor_node.data
        node.remove_children()
        added = [self._add(node, child) for child in children]
        if node.is_root and not children:
            node.add_leaf(Text("no campaigns yet: c creates one, B runs the bundle wizard", style="dim"))
        for child_node, ref in zip(added, children, strict=True):
            if ref in expanded:
                child_node.expand()
        if self._want is not None:
            self.call_after_refresh(self._restore_cursor)
        elif tree.cursor_node is None and added:
            tree.move_cursor(added[0])

    def _restore_cursor(self) -> None:
        """Put the cursor on the wanted node (parents expanded, scrolled into view) once it exists."""
        node = self._node_of(self._want) if self._want is not None else None
        if node is None:
            return  # not loaded yet: a later fill tries again
        self._want = None
        tree = self.query_one(Tree)
        parent = node.parent
        while parent is not None:
            parent.expand()
            parent = parent.parent
        _ = tree.last_line  # renumbers the lines now (move_cursor uses the node's line number)
        tree.move_cursor(node)
        tree.scroll_to_node(node, animate=False)

    def reload_node(self, node: TreeNode[NodeRef], select: NodeRef | None = None) -> None:
        """Re-read one node's children (after a create/edit/delete under it); ``select`` gets the cursor."""
        if select is not None:
            self._want = select
        self._load_children(node)
        node.expand()

    def _node_of(self, ref: NodeRef) -> TreeNode[NodeRef] | None:
        tree = self.query_one(Tree)
        for node in _walk(tree.root):
            if node.data == ref:
                return node
        return None

    # ------------------------------------------------------------------ selection

    @on(Tree.NodeHighlighted)
    def _highlighted(self, event: Tree.NodeHighlighted) -> None:
        ref = event.node.data
        if ref is None or ref.kind == "root":
            return
        self.selected = ref
        self._load_detail(ref)

    @work(thread=True, exclusive=True, group="campaign-detail", name="load node", exit_on_error=False)
    def _load_detail(self, ref: NodeRef) -> None:
        self.post_message(NodeLoaded(ref, nodes.load_row(self.workspace, ref)))
        if ref.kind == "datastream":
            self._post_suggestions(ref.id)
        if ref.kind == "workflow":
            self._post_logs(ref.id)

    def _post_suggestions(self, datastream_id: int) -> None:
        from lightdom_tui.usecases.campaign import list_suggestions

        self.post_message(SuggestionsLoaded(datastream_id, list_suggestions(self.workspace, datastream_id)))

    def _post_logs(self, workflow_id: int) -> None:
        from lightdom_tui.usecases.campaign import workflow_logs

        lines = workflow_logs(self.workspace, workflow_id, limit=200)
        self.post_message(WorkflowLogLoaded(workflow_id, [f"{x.level:5} {x.message}" for x in lines]))

    # ------------------------------------------------------------------ create / edit / delete

    def action_new_campaign(self) -> None:
        """Create a campaign."""
        self._create("campaign", NodeRef("root", None, "campaigns"))

    def action_new_child(self) -> None:
        """Create a child of the selected node (a workflow under a campaign, …)."""
        if self.selected is None or self.selected.kind not in CHILD:
            self.notify("select a campaign, workflow, service or data stream first", severity="warning")
            return
        self._create(CHILD[self.selected.kind], self.selected)

    def _create(self, kind: str, parent: NodeRef) -> None:
        def submitted(values: dict[str, str] | None) -> None:
            if values is not None:
                self._do_create(kind, parent, values)

        self.app.push_screen(FormScreen(f"new {kind}", nodes.form_fields(kind)), submitted)

    @work(thread=True, group="campaign-write", name="create node", exit_on_error=False)
    def _do_create(self, kind: str, parent: NodeRef, values: dict[str, str]) -> None:
        created = nodes.create_node(self.workspace, kind, parent, values)
        self.post_message(NodeChanged(parent, NodeRef(kind, created.id, created.name)))
        for note in created.notes:
            self.post_message(Notice(note, "warning"))
        if created.webhook_token:
            token = created.webhook_token
            self.app.call_from_thread(
                self.app.prompt,  # type: ignore[attr-defined]
                f"Webhook token of workflow #{created.id}: shown once, copy it now (only its hash is kept)",
                lambda _text: None, title="Webhook token", value=token,
            )

    def action_edit_node(self) -> None:
        """Edit the selected node's fields."""
        if self.selected is None or self.selected_row is None:
            return
        ref, row = self.selected, self.selected_row
        fields = nodes.form_fields(ref.kind, row)
        original = {f.key: f.value for f in fields}

        def submitted(values: dict[str, str] | None) -> None:
            if values is not None:
                self._do_update(ref, values, original)

        self.app.push_screen(FormScreen(f"edit {ref.kind} #{ref.id}", fields), submitted)

    @work(thread=True, group="campaign-write", name="update node", exit_on_error=False)
    def _do_update(self, ref: NodeRef, values: dict[str, str], original: dict[str, str]) -> None:
        updated = nodes.update_node(self.workspace, ref, values, original)
        self.post_message(NodeChanged(self._parent_ref(ref), updated))

    def _parent_ref(self, ref: NodeRef) -> NodeRef:
        node = self._node_of(ref)
        if node is None or node.parent is None or node.parent.data is None:
            return NodeRef("root", None, "campaigns")
        return node.parent.data

    def action_delete_node(self) -> None:
        """Delete the selected node (its subtree after a confirmation with counts)."""
        if self.selected is None:
            return
        self._do_delete(self.selected, False)

    @work(thread=True, group="campaign-write", name="delete node", exit_on_error=False)
    def _do_delete(self, ref: NodeRef, confirm: bool) -> None:
        from lightdom_tui.errors import ConfirmationRequired

        try:
            nodes.delete(self.workspace, ref, confirm)
        except ConfirmationRequired as exc:
            self.post_message(DeleteNeedsConfirmation(ref, exc.counts))
            return
        self.post_message(NodeChanged(self._parent_ref(ref), None))

    # ------------------------------------------------------------------ suggestions

    def action_suggest(self) -> None:
        """Ask the deployed model for attributes of the selected data stream."""
        if self.selected is None or self.selected.kind != "datastream":
            self.notify("select a data stream first", severity="warning")
            return
        ref = self.selected
        self.app.prompt(  # type: ignore[attr-defined]
            "Topic to suggest attributes for", lambda topic: self._suggest(ref, topic), title="Suggest attributes",
            value=ref.name,
        )

    @work(thread=True, exclusive=True, group="suggest", name="suggest attributes", exit_on_error=False)
    def _suggest(self, ref: NodeRef, topic: str) -> None:
        from lightdom_tui.usecases.campaign import suggest_attributes

        self.post_message(Notice(f"asking the model about {topic!r}…"))
        result = suggest_attributes(self.workspace, ref.id, topic, 5)
        self.post_message(Notice(f"{len(result.suggestions)} suggestion(s) from {result.model} ({result.engine}, "
                                 f"{result.latency_ms:.0f} ms)"))
        self._post_suggestions(ref.id)

    def on_children_loaded(self, message: ChildrenLoaded) -> None:
        message.stop()
        self._fill(message.node, message.children)

    def on_node_loaded(self, message: NodeLoaded) -> None:
        message.stop()
        if message.ref == self.selected:
            self.selected_row = message.row
            self.query_one("#node-detail", Static).update(nodes.describe(message.ref, message.row))

    def on_suggestions_loaded(self, message: SuggestionsLoaded) -> None:
        message.stop()
        self._show_suggestions(message.datastream_id, message.rows)

    def on_workflow_log_loaded(self, message: WorkflowLogLoaded) -> None:
        message.stop()
        self._show_logs(message.workflow_id, message.lines)

    def on_decision_requested(self, message: DecisionRequested) -> None:
        message.stop()
        self._decide_ui(message.decision, message.suggestion_id)

    def on_node_changed(self, message: NodeChanged) -> None:
        message.stop()
        parent = message.parent
        node = self._node_of(parent) if parent.kind != "root" else self.query_one(Tree).root
        if node is not None:
            self.reload_node(node, select=message.ref)
        self.post_message(DataChanged("campaigns"))

    def on_delete_needs_confirmation(self, message: DeleteNeedsConfirmation) -> None:
        message.stop()
        ref = message.ref
        what = ", ".join(f"{n} {k}" for k, n in message.counts.items())
        self.app.confirm(f"Delete {ref.kind} {ref.name!r} and {what}?",  # type: ignore[attr-defined]
                         lambda: self._do_delete(ref, True))

    def on_workflow_run_finished(self, message: WorkflowRunFinished) -> None:
        message.stop()
        self._watch_run = None
        self.notify(message.text)
        self.post_message(DataChanged("campaigns"))

    def _show_suggestions(self, datastream_id: int, rows: list[Any]) -> None:
        table = self.query_one(SuggestionTable)
        table.clear()
        for row in rows:
            table.add_row(str(row.id), row.name, row.type, row.description, row.model_version or "", key=str(row.id))
        table.border_title = f"suggestions · data stream #{datastream_id} · {len(rows)} pending (a / e / r)"

    def _decide_ui(self, decision: str, suggestion_id: int) -> None:
        if decision == "accept":
            self._decide(suggestion_id, "accept", {})
        elif decision == "reject":
            self.app.prompt("Why reject it?", lambda reason: self._decide(suggestion_id, "reject",  # type: ignore[attr-defined]
                                                                       {"reason": reason}), title="Reject")
        else:
            table = self.query_one(SuggestionTable)
            cells = table.get_row(str(suggestion_id))
            fields = [FormField("name", "name", cells[1]), FormField("type", "type", cells[2]),
                      FormField("description", "description", cells[3])]
            self.app.push_screen(FormScreen(f"edit suggestion #{suggestion_id}", fields),
                                 lambda values: self._decide(suggestion_id, "edit", values) if values else None)

    @work(thread=True, group="suggest-decide", name="decide suggestion", exit_on_error=False)
    def _decide(self, suggestion_id: int, decision: str, values: dict[str, str]) -> None:
        from lightdom_tui.usecases.campaign import SuggestionDecision, decide_suggestion

        result = decide_suggestion(self.workspace, SuggestionDecision(suggestion_id, decision, values))
        self.post_message(Notice(f"suggestion #{suggestion_id}: {result.status}"))
        if self.selected is not None and self.selected.kind == "datastream":
            self._post_suggestions(self.selected.id)
            self.post_message(NodeChanged(self.selected, None))
        self.post_message(DataChanged("examples"))  # a decision is a curated example: the counters move

    # ------------------------------------------------------------------ workflows

    def action_run_workflow(self) -> None:
        """Run the selected workflow in a worker and follow its log."""
        if self.selected is None or self.selected.kind != "workflow":
            self.notify("select a workflow first", severity="warning")
            return
        ref = self.selected
        self._watch_run = ref.id
        self.query_one("#workflow-log", Log).clear()
        self._run(ref)
        self.set_timer(LOG_POLL_S, lambda: self._poll_logs(ref.id))

    @work(thread=True, group="workflow-run", name="run workflow", exit_on_error=False)
    def _run(self, ref: NodeRef) -> None:
        from lightdom_tui.usecases.campaign import run_workflow

        result = run_workflow(self.workspace, ref.id)
        self._post_logs(ref.id)
        status = result.status if result is not None else "already running"
        self.post_message(WorkflowRunFinished(f"workflow {ref.name}: {status}"))

    def _poll_logs(self, workflow_id: int) -> None:
        """Dolphie-style: reschedule while the run is being watched."""
        if self._watch_run != workflow_id:
            return
        self._poll_logs_worker(workflow_id)
        self.set_timer(LOG_POLL_S, lambda: self._poll_logs(workflow_id))

    @work(thread=True, exclusive=True, group="workflow-log", name="read workflow log", exit_on_error=False)
    def _poll_logs_worker(self, workflow_id: int) -> None:
        self._post_logs(workflow_id)

    def _show_logs(self, workflow_id: int, lines: list[str]) -> None:
        if self.selected is None or self.selected.id != workflow_id or self.selected.kind != "workflow":
            return
        log = self.query_one("#workflow-log", Log)
        log.clear()
        log.write_lines(lines)
        log.border_title = f"workflow log · #{workflow_id} · {len(lines)} line(s)"

    def action_stop_workflow(self) -> None:
        """Ask the running run of the selected workflow to stop."""
        if self.selected is None or self.selected.kind != "workflow":
            return
        self._stop(self.selected.id)

    @work(thread=True, group="workflow-stop", name="stop workflow", exit_on_error=False)
    def _stop(self, workflow_id: int) -> None:
        from lightdom_tui.usecases.campaign import stop_workflow

        ids = stop_workflow(self.workspace, workflow_id)
        self.post_message(Notice(f"stop requested for run(s) {ids}" if ids else "no run is running"))

    # ------------------------------------------------------------------ bundle wizard

    def action_bundle(self) -> None:
        """Create a whole campaign branch for some topics in one step."""
        fields = [
            FormField("name", "campaign name"), FormField("topics", "topics", placeholder="comma separated"),
            FormField("category", "category", placeholder="e.g. ecommerce"),
            FormField("urls", "urls", placeholder="comma separated (optional)"),
            FormField("cron", "cron", placeholder="optional, e.g. 0 6 * * *"),
            FormField("timezone", "timezone", "UTC"), FormField("count", "attributes per topic", "5"),
        ]
        self.app.push_screen(
            FormScreen("bundle wizard", fields, note="Creates campaign → workflow → service → data stream and "
                       "asks the model for attributes of each topic."),
            lambda values: self._bundle(values) if values else None,
        )

    @work(thread=True, exclusive=True, group="bundle", name="create bundle", exit_on_error=False)
    def _bundle(self, values: dict[str, str]) -> None:
        from lightdom_tui.usecases.campaign import BundleSpec, create_bundle

        result = create_bundle(self.workspace, BundleSpec(
            values["name"], values["topics"], values["category"], values.get("cron") or None,
            values.get("timezone") or "UTC", values.get("urls", ""), values.get("count")))
        skipped = "".join(f"\nskipped {s['topic']} / {s['item']}: {s['reason']}" for s in result.skipped)
        self.post_message(Notice(f"bundle {values['name']}: {len(result.attributes)} attribute(s)"
                                 + (f", {len(result.skipped)} skipped{skipped}" if skipped else ""),
                                 severity="warning" if skipped else "information"))
        self.post_message(NodeChanged(NodeRef("root", None, "campaigns"), None))

    def refresh_data(self) -> None:
        if self.built:
            self._load_children(self.query_one(Tree).root)

    def data_changed(self, area: str) -> None:
        """Writes elsewhere re-read the selected node's detail, suggestions and log (the tree keeps its shape)."""
        if self.built and self.selected is not None and self.selected.kind != "root":
            self._load_detail(self.selected)


def _inside(node: TreeNode[NodeRef], ancestor: TreeNode[NodeRef]) -> bool:
    """True when ``node`` is a descendant of ``ancestor`` (it goes when the ancestor's children are replaced)."""
    parent = node.parent
    while parent is not None:
        if parent is ancestor:
            return True
        parent = parent.parent
    return False


def _walk(node: TreeNode[NodeRef]):  # noqa: ANN202 - generator of nodes
    yield node
    for child in node.children:
        yield from _walk(child)
