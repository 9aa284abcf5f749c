"""Hardening (issue 18): what a workflow — an imported one above all — may read, write and fetch.

Workspaces here allow nothing beyond themselves unless a test says so. Real files,
real symlinks, real HTTP servers on loopback addresses (127.0.0.2 stands in for a
public host: it is the only address the test allows).
"""

from __future__ import annotations

import glob
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlmodel import select

from lightdom_tui.db.jsoncol import loads
from lightdom_tui.db.models import Workflow, WorkflowRun
from lightdom_tui.errors import LightdomError
from lightdom_tui.orchestration import tree
from lightdom_tui.orchestration.destinations import read_rows
from lightdom_tui.orchestration.documents import import_campaign, read_document
from lightdom_tui.orchestration.executor import run_logs, run_workflow
from lightdom_tui.orchestration.fetch import Fetcher, FetchOptions
from lightdom_tui.orchestration.policy import build_policy, load_policy
from lightdom_tui.orchestration.triggers import hash_token, token_matches
from lightdom_tui.workspace import Workspace, create_workspace

SECRET = "SECRET-OUTSIDE-THE-WORKSPACE"


@pytest.fixture()
def bare(tmp_path: Path) -> Iterator[tuple[Workspace, Path]]:
    """A workspace that allows nothing beyond itself, and a folder outside it holding a secret."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.html").write_text(f"<html><title>{SECRET}</title><h1>{SECRET}</h1></html>")
    workspace = create_workspace(tmp_path / "ws")
    yield workspace, outside
    workspace.close()


def _allow(ws: Workspace, *, paths: list[str] = (), networks: list[str] = ()) -> None:  # type: ignore[assignment]
    ws.settings.orchestration.allowed_paths = list(paths)
    ws.settings.orchestration.allowed_networks = list(networks)
    ws.save_settings()


def _doc(workflows: list[dict]) -> dict:
    return {"lightdom": "campaign", "version": 1, "campaign": {"name": "imported", "workflows": workflows}}


def _file_workflow(paths: list[str], destination: str = "", **extra: object) -> dict:
    return {"name": "w", "trigger": extra.get("trigger", "manual"), "trigger_config": extra.get("config", {}),
            "services": [{"name": "files", "type": "file", "config": {"paths": paths},
                          "datastreams": [{"name": "pages", "destination": destination,
                                           "attributes": [{"name": "title", "selector": "title"}]}]}]}


def _files_outside(root: Path, ws_root: Path) -> dict[str, bytes]:
    """Every file under ``root`` that is not inside the workspace, with its content."""
    return {str(p): p.read_bytes() for p in root.rglob("*") if p.is_file() and ws_root not in p.parents}


# --------------------------------------------------------------------------- imports


@pytest.mark.parametrize("paths, destination, where", [
    (["/etc/passwd"], "", "services[0].config.paths[0]"),
    (["~/.ssh/*"], "", "services[0].config.paths[0]"),
    (["../outside/*.html"], "", "services[0].config.paths[0]"),
    (["pages/**/../../../outside/*"], "", "services[0].config.paths[0]"),
    (["pages/*.html"], "jsonl:/tmp/lightdom-hardening-out.jsonl", "services[0].datastreams[0].destination"),
    (["pages/*.html"], "jsonl:../../stolen.jsonl", "services[0].datastreams[0].destination"),
])
def test_an_imported_document_cannot_point_outside_the_workspace(bare, paths, destination, where):
    ws, _outside = bare
    with pytest.raises(LightdomError, match=rf"campaign\.workflows\[0\]\.{re.escape(where)}: .*(outside the workspace|climbs out)"), \
            ws.session() as s:
        import_campaign(s, _doc([_file_workflow(paths, destination)]))
    with ws.session() as s:
        assert tree.list_campaigns(s) == []  # all or nothing


def test_an_imported_document_cannot_watch_or_fetch_private_addresses(bare):
    ws, outside = bare
    watch = _file_workflow(["pages/*.html"], trigger="file", config={"path": str(outside)})
    with pytest.raises(LightdomError, match=r"trigger_config\.path: .* outside the workspace"), ws.session() as s:
        import_campaign(s, _doc([watch]))
    for url in ("http://127.0.0.1:8080/admin", "http://169.254.169.254/latest/meta-data/", "http://[::1]/",
                "http://10.0.0.1/", "http://localhost:9/"):
        doc = _doc([{"name": "w", "services": [{"name": "s", "type": "html", "config": {"urls": [url]}}]}])
        with pytest.raises(LightdomError, match=r"services\[0\]\.config\.urls\[0\]: blocked"), ws.session() as s:
            import_campaign(s, doc)


def test_an_imported_document_never_brings_a_webhook_token(bare):
    ws, _outside = bare
    chosen = "a-token-the-document-author-chose"
    doc = _doc([{"name": "hook", "trigger": "webhook", "trigger_config": {"token_sha256": hash_token(chosen)}}])
    with ws.session() as s:
        campaign = import_campaign(s, doc)
        [workflow] = tree.list_workflows(s, campaign.id)
        config = loads(workflow.trigger_config_json, {})
    assert "token_sha256" not in config and not token_matches(config, chosen)
    with ws.session() as s:  # nor can a hash be supplied by hand: tokens are issued
        tree.update_workflow(s, workflow.id, trigger_config={"token_sha256": hash_token(chosen)})
        assert "token_sha256" not in loads(s.get(Workflow, workflow.id).trigger_config_json, {})


def test_allowed_folders_in_settings_open_exactly_those_folders(bare):
    ws, outside = bare
    _allow(ws, paths=[str(outside)])
    with ws.session() as s:
        campaign = import_campaign(s, _doc([_file_workflow([str(outside / "*.html")], f"jsonl:{outside / 'out.jsonl'}")]))
        [workflow] = tree.list_workflows(s, campaign.id)
    result = run_workflow(ws, workflow.id)
    assert result.status == "completed" and result.metrics["rows"] == 1
    assert SECRET in (outside / "out.jsonl").read_text()


# --------------------------------------------------------------------------- runs


def test_a_run_reads_and_writes_only_inside_the_workspace(bare, tmp_path):
    ws, outside = bare
    pages = ws.root / "pages"
    pages.mkdir()
    (pages / "ok.html").write_text("<title>inside</title>")
    (pages / "link.html").symlink_to(outside / "secret.html")  # a link inside pointing out
    (pages / "dir").symlink_to(outside, target_is_directory=True)
    before = _files_outside(tmp_path, ws.root)
    with ws.session() as s:  # created directly (not imported): the run checks again
        c = tree.create_campaign(s, "direct")
        w = tree.create_workflow(s, c.id, "w")
        svc = tree.create_service(s, w.id, "files", type="file",
                                  config={"paths": ["pages/**/*.html", "/etc/passwd", str(outside / "*")]})
        ds = tree.create_datastream(s, svc.id, "pages", destination="sqlite:pages")
        tree.create_attribute(s, ds.id, "title", selector="title")
    result = run_workflow(ws, w.id)
    assert result.status == "completed" and result.metrics["pages"] == 1
    rows = read_rows(ws.root, "sqlite:pages", ds.id, "pages")
    assert [r["title"] for r in rows] == ["inside"]
    with ws.session() as s:
        errors = [log.message for log in run_logs(s, run_id=result.run_id, level="error")]
    assert any("'/etc/passwd' is outside the workspace" in e for e in errors)
    assert any("2 match(es) lead outside" in e for e in errors)  # link.html and dir/secret.html
    assert _files_outside(tmp_path, ws.root) == before

    with ws.session() as s:  # a jsonl destination outside refuses the run before anything is fetched
        ds2 = tree.create_datastream(s, svc.id, "leak", destination=f"jsonl:{outside / 'leak.jsonl'}")
    with pytest.raises(LightdomError, match=rf"datastream {ds2.id} \(leak\)\.destination: .* outside the workspace"):
        run_workflow(ws, w.id)
    assert not (outside / "leak.jsonl").exists()
    with ws.session() as s:  # the claimed run is failed, not left running
        statuses = [r.status for r in s.exec(select(WorkflowRun).where(WorkflowRun.workflow_id == w.id))]
    assert "running" not in statuses
    with pytest.raises(LightdomError, match="outside the workspace"):
        read_rows(ws.root, f"jsonl:{outside / 'secret.html'}", ds2.id, "leak")


def test_a_files_pattern_finds_what_glob_finds_and_keeps_what_the_policy_allows(bare):
    """One listing for ``folder/*.html`` must agree with glob plus the per-folder link check."""
    ws, outside = bare
    pages = ws.root / "pages"
    (pages / "sub").mkdir(parents=True)
    for name in ("a.html", "b.html", "page1.html", "page2.htm", ".hidden.html", "sub/c.html", "x[1].html"):
        (pages / name).write_text("<title>t</title>")
    (pages / "folder.html").mkdir()  # glob matches a folder too (a page error later)
    (pages / "out.html").symlink_to(outside / "secret.html")  # leads outside
    (pages / "in.html").symlink_to(pages / "a.html")  # a link that stays inside
    (pages / "gone.html").symlink_to(pages / "missing.html")  # dangling: glob lists it too
    policy = load_policy(ws.root)
    patterns = ["pages/*.html", "pages/*", "pages/.*", "pages/page?.htm*", "pages/[ab].html", "pages/x[[]1].html",
                str(pages / "*.html"), "pages/**/*.html", "pages/*/c.html", "pages/a.html", "nowhere/*.html",
                str(outside / "*.html")]
    for pattern in patterns:
        expected = policy.allowed_files(sorted(glob.glob(str(policy.absolute(pattern)), recursive=True)))
        assert policy.matching_files(pattern) == expected, pattern
    kept, refused = policy.matching_files("pages/*.html")
    assert [Path(p).name for p in kept] == ["a.html", "b.html", "folder.html", "gone.html", "in.html",
                                            "page1.html", "x[1].html"]
    assert refused == 1  # out.html
    assert policy.matching_files(str(outside / "*.html")) == ([], 1)


# --------------------------------------------------------------------------- fetches


class _Redirects(BaseHTTPRequestHandler):
    """On 127.0.0.2: /loop/N redirects to /loop/N+1 forever, /to?u=URL redirects to URL, /ok is a page."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: object) -> None:
        return

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        if self.path.startswith("/loop/"):
            n = int(self.path.rsplit("/", 1)[1])
            self._send(302, b"", location=f"/loop/{n + 1}")
        elif self.path.startswith("/to?u="):
            self._send(302, b"", location=self.path[len("/to?u="):])
        else:
            self._send(200, b"<html><title>public</title></html>")

    def _send(self, code: int, body: bytes, location: str | None = None) -> None:
        self.send_response(code)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def public_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.2", 0), _Redirects)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.2:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_fetches_are_checked_at_every_hop_and_a_redirect_loop_fails_its_page_only(bare, public_server, http_server):
    ws, _outside = bare
    _allow(ws, networks=["127.0.0.2/32"])  # stands in for the public internet
    urls = [f"{public_server}/ok", f"{public_server}/loop/0", f"{public_server}/to?u={http_server.url('/page/1')}",
            http_server.url("/page/2"), "http://localhost:9/x", f"{public_server}/to?u=http://[::ffff:127.0.0.1]:9/"]
    with ws.session() as s:
        c = tree.create_campaign(s, "net")
        w = tree.create_workflow(s, c.id, "w", concurrency=2)
        svc = tree.create_service(s, w.id, "pages", type="html", config={"urls": urls, "retries": 0})
        ds = tree.create_datastream(s, svc.id, "pages", destination="sqlite:net")
        tree.create_attribute(s, ds.id, "title", selector="title")
    result = run_workflow(ws, w.id)
    assert result.status == "completed"
    assert (result.metrics["pages"], result.metrics["pages_ok"]) == (6, 1)
    with ws.session() as s:
        errors = sorted(log.message for log in run_logs(s, run_id=result.run_id, level="error"))
    assert any("/loop/0: too many redirects (more than 5)" in e for e in errors)
    assert any("/to?u=" in e and "blocked: 127.0.0.1, a private" in e for e in errors)
    assert any("/page/2: blocked: 127.0.0.1" in e for e in errors)
    assert any("localhost:9/x: blocked: localhost resolves to" in e for e in errors)  # DNS answers are checked
    assert any("[::ffff:127.0.0.1]:9/: blocked: ::ffff:7f00:1" in e for e in errors)  # that is 127.0.0.1
    assert http_server.count("/page/1") == 0 and http_server.count("/page/2") == 0  # never reached


def test_the_connected_address_is_checked_even_when_dns_said_public(bare, http_server):
    """DNS rebinding: the name passed the check (cached as public), then connects to 127.0.0.1."""
    ws, _outside = bare
    fetcher = Fetcher(FetchOptions(retries=0), load_policy(ws.root))
    fetcher._hosts["localhost"] = None  # the first answer was a public address
    port = http_server.base.rsplit(":", 1)[1]
    result = fetcher.fetch(f"http://localhost:{port}/page/3")
    fetcher.close()
    assert result.body is None and result.error.startswith("blocked: 127.0.0.1")


def test_a_settings_edit_counts_from_the_next_policy(bare, tmp_path):
    """The file is parsed again only when its bytes change; allowed folders are resolved every time."""
    ws, outside = bare
    other = tmp_path / "other"
    other.mkdir()
    link = tmp_path / "allowed-link"
    link.symlink_to(outside, target_is_directory=True)
    secret = str(outside / "secret.html")
    assert not load_policy(ws.root).inside(secret)
    _allow(ws, paths=[str(link)])
    assert load_policy(ws.root).inside(secret) and load_policy(ws.root).inside(secret)
    link.unlink()
    link.symlink_to(other, target_is_directory=True)  # same file, the link now leads elsewhere
    assert not load_policy(ws.root).inside(secret)
    assert load_policy(ws.root).inside(str(other / "x.html"))
    _allow(ws, paths=[])  # revoked
    assert not load_policy(ws.root).inside(str(other / "x.html"))
    settings_file = ws.root / "lightdom.toml"
    settings_file.write_text(settings_file.read_text() + '\n[orchestration]\nallowed_paths = ["relative/dir"]\n')
    with pytest.raises(LightdomError, match="lightdom.toml"):
        load_policy(ws.root)


def test_policy_settings_errors_name_the_setting(tmp_path):
    with pytest.raises(LightdomError, match=r"orchestration\.allowed_networks\[0\]: 'not-a-net'"):
        build_policy(tmp_path, [], ["not-a-net"])
    with pytest.raises(LightdomError, match=r"orchestration\.allowed_paths: 'relative/dir' must be an absolute"):
        build_policy(tmp_path, ["relative/dir"], [])
    policy = build_policy(tmp_path, [], [])
    with pytest.raises(LightdomError, match="not a usable path"):
        policy.check_path("a\x00b", "x")


def test_read_document_refuses_what_it_cannot_read_in_one_line(tmp_path):
    (tmp_path / "bin.json").write_bytes(b'{"a": "\xff\xfe"}')
    with pytest.raises(LightdomError, match=r"bin\.json: not UTF-8 text \(byte 7\)"):
        read_document(tmp_path / "bin.json")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(LightdomError, match=r"deep\.json: not a usable JSON document: RecursionError"):
        read_document(tmp_path / "deep.json")
    (tmp_path / "big.json").write_text(json.dumps({"x": "y" * (5 * 1024 * 1024)}))
    with pytest.raises(LightdomError, match=r"big\.json: larger than 4 MiB"):
        read_document(tmp_path / "big.json")


def test_the_file_watcher_watches_only_allowed_folders(bare):
    from lightdom_tui.orchestration.filewatch import file_workflows

    ws, outside = bare
    (ws.root / "drop").mkdir()
    with ws.session() as s:
        c = tree.create_campaign(s, "watch")
        inside = tree.create_workflow(s, c.id, "in", trigger="file", status="active", trigger_config={"path": "drop"})
        beside = tree.create_workflow(s, c.id, "out", trigger="file", status="active",
                                      trigger_config={"path": str(outside)})
    assert [spec.workflow_id for spec in file_workflows(ws)] == [inside.id]
    _allow(ws, paths=[str(outside)])
    assert [spec.workflow_id for spec in file_workflows(ws)] == [inside.id, beside.id]
