"""Hardening (issue 18): campaign imports under generated hostile documents, bundles, scheduler bounds.

Hypothesis writes campaign documents (JSON and YAML files) mixing good and hostile
paths, destinations, watched folders, addresses and tokens. Each import either
succeeds or raises one LightdomError — never anything else — and whatever was
imported then runs: nothing outside the workspace is read (a secret beside it never
shows in a row) or written (the files beside it are unchanged).
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from lightdom_tui.db.jsoncol import loads
from lightdom_tui.errors import LightdomError
from lightdom_tui.orchestration import tree
from lightdom_tui.orchestration.bundles import create_bundle
from lightdom_tui.orchestration.destinations import streams_db_path
from lightdom_tui.orchestration.documents import import_campaign, read_document
from lightdom_tui.orchestration.executor import run_workflow
from lightdom_tui.orchestration.scheduler import check_interval, run_scheduler
from lightdom_tui.workspace import Workspace, create_workspace

SECRET = "SECRET-BESIDE-THE-WORKSPACE"


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, Path]]:
    """A workspace with one page inside, and beside it a folder holding a secret page."""
    base = tmp_path_factory.mktemp("imports")
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.html").write_text(f"<title>{SECRET}</title>")
    ws = create_workspace(base / "ws")
    (ws.root / "pages").mkdir()
    (ws.root / "pages" / "a.html").write_text("<title>inside</title>")
    (ws.root / "pages" / "link.html").symlink_to(outside / "secret.html")
    yield ws, outside
    ws.close()


def _beside(base: Path, ws_root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in base.rglob("*") if p.is_file() and ws_root not in p.parents}


PATHS = st.one_of(
    st.sampled_from(["pages/*.html", "pages/**/*.html", "/etc/passwd", "~/.ssh/*", "../outside/*", "../outside/secret.html",
                     "pages/../../outside/*", "pages/**/../../outside/*", "/", "//etc//passwd", "pages/\x00x",
                     "~nosuchuser/x", "pages/link.html", "./pages/a.html", "file:///etc/passwd"]),
    st.text(max_size=20),
)
DESTINATIONS = st.one_of(
    st.sampled_from(["", "sqlite:items", "jsonl:out/items.jsonl", "jsonl:/tmp/leak.jsonl", "jsonl:../leak.jsonl",
                     "jsonl:out/../../leak.jsonl", "jsonl:~/leak.jsonl", "sqlite:../x", "jsonl:"]),
    st.text(max_size=20).map(lambda t: "jsonl:" + t),
)
URLS = st.sampled_from(["http://127.0.0.1:9/", "http://10.1.2.3/", "http://169.254.169.254/", "http://[::1]:9/",
                        "http://localhost:9/", "http://[::ffff:10.0.0.1]/", "ftp://example.com/", "http://0.0.0.0:9/"])
TOKENS = st.one_of(st.none(), st.text(alphabet="0123456789abcdef", min_size=64, max_size=64), st.integers())


@st.composite
def documents(draw: st.DrawFn) -> dict:
    workflows = []
    for _ in range(draw(st.integers(1, 2))):
        trigger = draw(st.sampled_from(["manual", "webhook", "file", "schedule"]))
        config: dict = {}
        if trigger == "file":
            config["path"] = draw(PATHS)
        if trigger == "schedule":
            config["cron"] = "0 6 * * *"
        token = draw(TOKENS)
        if token is not None:
            config["token_sha256"] = token
        services = []
        for _ in range(draw(st.integers(0, 2))):
            kind = draw(st.sampled_from(["file", "html"]))
            service_config = ({"paths": draw(st.lists(PATHS, max_size=3))} if kind == "file"
                              else {"urls": draw(st.lists(URLS, max_size=2))})
            streams = [{"name": f"s{i}", "destination": draw(DESTINATIONS),
                        "attributes": [{"name": "title", "selector": "title"}]}
                       for i in range(draw(st.integers(0, 2)))]
            services.append({"name": f"svc{len(services)}", "type": kind, "config": service_config,
                             "datastreams": streams})
        workflows.append({"name": f"w{len(workflows)}", "trigger": trigger, "trigger_config": config,
                          "services": services})
    return {"lightdom": "campaign", "version": 1, "campaign": {"name": "x", "workflows": workflows}}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(doc=documents(), as_yaml=st.booleans())
def test_a_hostile_import_is_one_error_or_a_campaign_that_stays_inside(place, tmp_path_factory, doc, as_yaml):
    ws, outside = place
    base = ws.root.parent
    before = _beside(base, ws.root)
    path = tmp_path_factory.mktemp("doc") / ("doc.yaml" if as_yaml else "doc.json")
    path.write_text(yaml.safe_dump(doc) if as_yaml else json.dumps(doc))
    try:
        with ws.session() as s:
            campaign = import_campaign(s, read_document(path), name=f"c-{uuid.uuid4().hex[:8]}")
            workflows = [(w.id, loads(w.trigger_config_json, {})) for w in tree.list_workflows(s, campaign.id)]
    except LightdomError as exc:
        assert "\n" not in str(exc).strip()
        event("import refused")
        return
    event("imported and run")
    for workflow_id, config in workflows:
        assert "token_sha256" not in config  # never the document's token
        try:
            result = run_workflow(ws, workflow_id)
        except LightdomError as exc:  # e.g. a destination the run refuses: one line
            assert "\n" not in str(exc).strip()
            continue
        assert result.status in ("completed", "failed")
    assert _beside(base, ws.root) == before  # nothing written beside the workspace
    if streams_db_path(ws.root).exists():
        assert SECRET.encode() not in streams_db_path(ws.root).read_bytes()
    for jsonl in ws.root.rglob("*.jsonl"):
        assert SECRET not in jsonl.read_text(errors="replace")


# --------------------------------------------------------------------------- bundles


class _Answer:
    def __init__(self, attributes: list[dict]) -> None:
        self.attributes, self.model, self.engine = attributes, "test-model", "llama.cpp"
        self.latency_ms, self.arm, self.ab_test_id, self.request_log_id = 1.0, None, None, None


def test_a_bundle_takes_topics_as_people_write_them(tmp_path):
    ws = create_workspace(tmp_path / "ws")

    def answers(ws_, topic, **kwargs):  # failure injection: names as a model writes them, one bad type
        element = topic.split(" ", 1)[1]
        return _Answer([{"name": f"{element} Text", "type": "string", "description": "d"},
                        {"name": "Has It?", "type": "boolean"},
                        {"name": "weird", "type": "blob"}])

    result = create_bundle(ws, "seo", topics="page title, Meta Description, título, 1st heading, !!!, page-title",
                           category="seo", generator=answers)
    names = [(a["topic"], a["name"]) for a in result.attributes]
    assert names == [("page title", "page_title_text"), ("page title", "has_it"),
                     ("Meta Description", "meta_description_text"), ("Meta Description", "meta_description_has_it"),
                     ("título", "titulo_text"), ("título", "titulo_has_it"),
                     ("1st heading", "n_1st_heading_text"), ("1st heading", "n_1st_heading_has_it")]
    reasons = {(s["item"], s["reason"].split(":")[0]) for s in result.skipped}
    assert ("!!!", "no letters or digits to name it by") in reasons
    assert ("page-title", "same name as an earlier topic (page_title)") in reasons
    assert sum(s["item"] == "weird" for s in result.skipped) == 4  # one per topic, reported, the rest kept
    ws.close()


def test_bundle_create_says_what_it_left_out(tmp_path):
    """The human output lists each skipped topic with its reason (it was only in --json)."""
    from typer.testing import CliRunner

    from lightdom_tui.cli import app

    home = str(tmp_path / "ws")
    assert CliRunner().invoke(app, ["--home", home, "init"]).exit_code == 0  # registers the embedded base
    result = CliRunner().invoke(app, ["--home", home, "bundle", "create", "seo [/]", "--topics", "title,!!!",
                                      "--category", "seo", "--count", "1"])
    assert result.exit_code == 0, result.output
    assert "bundle 'seo [/]': campaign 1" in result.stdout
    assert "skipped !!! / !!!: no letters or digits to name it by" in result.stdout


# --------------------------------------------------------------------------- scheduler


@pytest.mark.parametrize("interval", [0, -1, 0.5, math.nan, math.inf, 86_401, True, "30"])
def test_scheduler_interval_out_of_range_is_one_line(tmp_path, interval):
    with pytest.raises(LightdomError, match=r"scheduler interval: .* must be from 1 to 86400 seconds"):
        check_interval(interval)
    ws = create_workspace(tmp_path / "ws")
    with pytest.raises(LightdomError, match="scheduler interval"):
        run_scheduler(ws, interval_s=interval, max_ticks=1)
    ws.close()
    assert check_interval(1) == 1.0 and check_interval(86_400) == 86_400.0


# --------------------------------------------------------------------------- through the CLI


def test_the_cli_says_one_line_for_hostile_imports_and_a_bad_interval(tmp_path):
    from typer.testing import CliRunner

    from lightdom_tui.cli import app

    ws = create_workspace(tmp_path / "ws")
    hostile = tmp_path / "hostile.json"
    hostile.write_text(json.dumps({"lightdom": "campaign", "version": 1, "campaign": {"name": "x", "workflows": [
        {"name": "w", "trigger": "schedule", "trigger_config": {"cron": "* * * * *"}, "status": "active",
         "services": [{"name": "s", "type": "file", "config": {"paths": ["/etc/passwd"]},
                       "datastreams": [{"name": "d", "destination": "jsonl:/tmp/stolen.jsonl"}]}]}]}}))
    laughs = tmp_path / "laughs.yaml"
    laughs.write_text("a: &a [x, x]\nb: [*a, *a]\n")
    for args, message in [
        (["campaign", "import", str(hostile)], "campaign.workflows[0].services[0].config.paths[0]: '/etc/passwd' is "
                                               "outside the workspace"),
        (["campaign", "import", str(laughs)], "laughs.yaml:1: not valid YAML: anchors (&a) are not allowed"),
        (["scheduler", "run", "--interval", "0", "--no-webhooks", "--no-watch"],
         "scheduler interval: 0.0 must be from 1 to 86400 seconds"),
    ]:
        result = CliRunner().invoke(app, ["--home", str(ws.root), *args])
        assert result.exit_code == 1, (args, result.output)
        assert message in result.stderr and "Traceback" not in result.output + result.stderr
        assert "scheduler running" not in result.output  # refused before anything starts
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and errors[0] == result.stderr.strip().splitlines()[-1], result.stderr
    ws.close()
