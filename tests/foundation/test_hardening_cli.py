"""The CLI's error boundary under hostile input: one stderr line naming the input, never a traceback.

Commands run in-process through Typer's CliRunner against real workspaces; the read-only
workspace runs a real process on a real read-only mount (or folder, when not root).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lightdom_tui.cli import app
from lightdom_tui.errors import LightdomError

BIG = str(2**64)


def invoke(*args: str, home: Path | None = None, input: str | None = None):  # noqa: A002, ANN201
    """Run ``lightdom [--home HOME] ARGS`` in-process; the environment carries no LIGHTDOM_HOME."""
    env = {"LIGHTDOM_HOME": ""}
    return CliRunner().invoke(app, [*(["--home", str(home)] if home else []), *args], env=env, input=input)


def one_error_line(result) -> str:  # noqa: ANN001
    """The single stderr line of a failed command (asserting there is exactly one and no traceback)."""
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in result.stderr
    return lines[0]


def _params():  # noqa: ANN202
    """(command path, command, param) for every parameter of every command."""
    from typer.main import get_command

    def walk(command, path):  # noqa: ANN001, ANN202
        for param in command.params:
            yield path, command, param
        for name, sub in (getattr(command, "commands", None) or {}).items():
            yield from walk(sub, [*path, name])

    return list(walk(get_command(app), []))


def test_every_number_parameter_is_bounded_at_parse_time() -> None:
    """Each int parameter of every command refuses 2^64 and each float one NaN, through its own parser."""
    import typer

    ints = floats = 0
    for path, command, param in _params():
        annotation = str(getattr(getattr(param, "type_descriptor", None), "annotation", ""))
        ctx = typer.Context(command, info_name=path[-1] if path else "lightdom")
        if annotation in ("<class 'int'>", "int | None", "typing.Optional[int]"):
            ints += 1
            with pytest.raises(typer.BadParameter, match="out of range"):
                param.process_value(ctx, BIG)
            assert param.process_value(ctx, "7") == 7
        elif annotation in ("<class 'float'>", "float | None", "typing.Optional[float]"):
            floats += 1
            for value in ("nan", "inf", "-inf"):
                with pytest.raises(typer.BadParameter, match="not a finite number"):
                    param.process_value(ctx, value)
    assert ints >= 30 and floats >= 5, (ints, floats)  # ids, limits, seeds, ratios … in every group


def test_out_of_range_numbers_on_the_command_line(workspace) -> None:  # noqa: ANN001
    result = invoke("examples", "list", "--limit", BIG, home=workspace.root)
    assert result.exit_code == 2 and "--limit" in one_error_line(result) and "out of range" in result.stderr


def test_int_arguments_and_seeds_are_bounded(workspace) -> None:  # noqa: ANN001
    assert "out of range" in one_error_line(invoke("examples", "show", BIG, home=workspace.root))
    seed = invoke("dataset", "build", "d", "--seed", str(2**32), home=workspace.root)
    assert "--seed" in one_error_line(seed) and "4294967295" in seed.stderr
    # The largest id SQLite holds is a clean "not found", not an OverflowError.
    top = invoke("examples", "show", str(2**63 - 1), home=workspace.root)
    assert result_mentions(top, str(2**63 - 1))
    nan = invoke("examples", "list", "--min-quality", "nan", home=workspace.root)
    assert "not a finite number" in one_error_line(nan)


def result_mentions(result, text: str) -> bool:  # noqa: ANN001
    return result.exit_code == 1 and text in one_error_line(result)


def test_refs_that_look_like_huge_ids_are_not_found_cleanly(workspace) -> None:  # noqa: ANN001
    from lightdom_tui.curation.datasets import get_dataset
    from lightdom_tui.orchestration.tree import find_campaign
    from lightdom_tui.registry.ab import get_ab_test
    from lightdom_tui.registry.versions import find_version

    with workspace.session() as session:
        for ref in (BIG, "9" * 5000, "²"):
            assert find_version(session, ref) is None
            for lookup in (find_campaign, get_ab_test):
                with pytest.raises(LightdomError, match="not found|no such"):
                    lookup(session, ref)
            with pytest.raises(LightdomError, match="not found"):
                get_dataset(session, ref)
            with pytest.raises(LightdomError, match="version after '@' must be a number"):
                get_dataset(session, f"d@{ref}")


def test_a_database_file_that_is_not_sqlite(workspace) -> None:  # noqa: ANN001
    root = workspace.root
    workspace.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{workspace.db_path}{suffix}").unlink(missing_ok=True)
    workspace.db_path.write_bytes(b"this is a text file, not a database\n" * 200)
    for args in (("examples", "list"), ("examples", "list", "--json"), ("models", "list")):
        result = invoke(*args, home=root)
        line = one_error_line(result)
        assert result.exit_code == 1 and result.stdout == ""
        assert str(workspace.db_path) in line and "not a SQLite database" in line
    from lightdom_tui.doctor import check_workspace  # doctor's own check (the CLI's doctor: settings tests)

    assert "not a SQLite database" in check_workspace(root)["error"]


def test_init_home_on_a_file(tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("x")
    line = one_error_line(invoke("init", home=target))
    assert str(target) in line and "is a file" in line
    assert target.read_text() == "x"


def test_deep_and_undecodable_input_files(workspace, tmp_path: Path) -> None:  # noqa: ANN001
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000)
    binary = tmp_path / "latin1.json"
    binary.write_bytes(b'[{"role": "user", "content": "caf\xe9"}]')
    for path, words in ((deep, "nested too deeply"), (binary, "utf-8")):
        line = one_error_line(invoke("examples", "edit", "1", "--messages", str(path), home=workspace.root))
        assert str(path) in line and words in line.lower(), line


def test_deep_json_text_in_an_option_names_the_option(workspace) -> None:  # noqa: ANN001
    from lightdom_tui.orchestration import tree

    with workspace.session() as session:
        workflow = tree.create_workflow(session, tree.create_campaign(session, "c").id, "w")
    result = invoke("service", "create", str(workflow.id), "s", "--type", "file", "--config", "[" * 100_000,
                    home=workspace.root)
    line = one_error_line(result)
    assert "--config" in line and "nested too deeply" in line, line


def test_usage_errors_and_json_errors_are_one_line(workspace) -> None:  # noqa: ANN001
    assert "--bogus" in one_error_line(invoke("examples", "list", "--bogus", home=workspace.root))
    result = invoke("dataset", "build", "../../x", "--json", home=workspace.root)
    assert result.stdout == "" and "dataset name" in one_error_line(result)


def test_a_non_ascii_api_key_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from lightdom_tui.serving.remote import RemoteEngine
    from lightdom_tui.settings import ServingSettings

    stored = invoke("keys", "set", "deepseek", input="sk-caf\u00e9-0123456789\n")
    assert "non-ASCII" in one_error_line(stored)
    # A key from the environment is checked before any request is built (httpx would raise
    # UnicodeEncodeError from inside its header code).
    engine = RemoteEngine(ServingSettings(remote_base_url="http://127.0.0.1:9/v1"), api_key="sk-caf\u00e9-0123")
    with pytest.raises(LightdomError, match="non-ASCII") as caught:
        engine.chat([{"role": "user", "content": "hi"}], max_tokens=4, temperature=0.0)
    assert "caf\u00e9" not in str(caught.value)


def test_two_dataset_builds_of_one_name_at_once(workspace) -> None:  # noqa: ANN001
    """Both builds read the next version number, then wait for the write lock another connection holds:
    one wins, the other gets one clear line and writes nothing."""
    from sqlmodel import select

    from lightdom_tui.curation.datasets import build_dataset
    from lightdom_tui.curation.examples import add_example
    from lightdom_tui.db.models import Dataset

    with workspace.session() as session:
        for i in range(20):
            add_example(session, [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}],
                        task_type="chat", source="t", status="approved")
    holder = sqlite3.connect(workspace.db_path, timeout=30)
    holder.execute("BEGIN IMMEDIATE")
    outcomes: list[object] = []

    def build() -> None:
        try:
            outcomes.append(build_dataset(workspace, "race").version)
        except LightdomError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # both have read max(version) and wait on the lock
    holder.rollback()
    holder.close()
    for thread in threads:
        thread.join(60)
    versions = [o for o in outcomes if isinstance(o, int)]
    errors = [str(o) for o in outcomes if isinstance(o, LightdomError)]
    with workspace.session() as session:
        stored = session.exec(select(Dataset.version).where(Dataset.name == "race")).all()
    assert len(outcomes) == 2 and len(stored) == len(versions) >= 1
    if errors:  # the usual case; on a slow box the second may start after the first committed
        assert len(errors) == 1 and "another build" in errors[0] and "\n" not in errors[0]


def test_a_version_may_not_take_an_alias_name(workspace, tmp_path: Path) -> None:  # noqa: ANN001
    from lightdom_tui.db.models import Alias
    from lightdom_tui.registry.versions import find_version, register_version, unique_version_name

    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    with workspace.session() as session:
        for reserved in ("production", "staging"):
            with pytest.raises(LightdomError, match="alias"):
                register_version(session, version=reserved, kind="base", format="gguf", path=model, sha256="0" * 64)
            assert unique_version_name(session, reserved) != reserved
        for bad in ("../../x", "12", "a b", ""):
            with pytest.raises(LightdomError, match="model version name"):
                register_version(session, version=bad, kind="base", format="gguf", path=model, sha256="0" * 64)
        base = find_version(session, "smollm2-135m-instruct")
        session.add(Alias(name="live", version_id=base.id))
        session.flush()
        with pytest.raises(LightdomError, match="alias"):
            register_version(session, version="live", kind="base", format="gguf", path=model, sha256="0" * 64)
        # An older workspace may already hold both: the lookup refuses to guess.
        other = register_version(session, version="other", kind="base", format="gguf", path=model, sha256="0" * 64)
        other.version = "live"
        session.add(other)
        session.flush()
        with pytest.raises(LightdomError, match="ambiguous"):
            find_version(session, "live")


@pytest.fixture()
def world_readable_workspace() -> Path:
    """A workspace outside pytest's private temp folder (a bind mount needs a plain path)."""
    from lightdom_tui.workspace import create_workspace

    root = Path(tempfile.mkdtemp(prefix="lightdom-ro-"))
    create_workspace(root / "ws").close()
    yield root / "ws"
    for path in root.rglob("*"):
        if not path.is_symlink():
            path.chmod(0o700 if path.is_dir() else 0o600)
    shutil.rmtree(root, ignore_errors=True)


def test_read_only_workspace_is_one_line_per_command(world_readable_workspace: Path) -> None:
    """A real process on a real read-only workspace: a read-only bind mount when root (root
    ignores permissions), else a folder without write permission."""
    ws = world_readable_workspace
    commands = [["examples", "list"], ["settings", "set", "serving.n_threads", "3"]]  # the database, a file
    lightdom = f"{sys.executable} -m lightdom_tui.cli --home {ws}"
    script = "; ".join(f"{lightdom} {' '.join(c)}; echo rc=$?" for c in commands)
    if os.geteuid() == 0:
        if shutil.which("unshare") is None:
            pytest.skip("root without unshare: no way to make a read-only workspace here")
        script = f"mount --bind {ws} {ws} && mount -o remount,bind,ro {ws} && {{ {script}; }}"
        argv = ["unshare", "-m", "sh", "-c", script]
    else:
        for path in [ws, *ws.rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)
        argv = ["sh", "-c", script]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=180, cwd=Path(__file__).parents[2])
    if os.geteuid() == 0 and "rc=" not in result.stdout:
        pytest.skip(f"cannot mount read-only here: {result.stderr.strip()[:200]}")
    codes = [line for line in result.stdout.splitlines() if line.startswith("rc=")]
    assert codes == ["rc=1"] * len(commands), result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == len(commands) and all(line.startswith("error: ") for line in lines), result.stderr
    assert "Traceback" not in result.stderr and "read-only" in result.stderr
