"""Settings under hostile input: validated by type and range on write and on read, always a valid file left.

An invalid ``lightdom.toml`` must not lock the user out: ``settings set`` repairs it (keeping
the old text) and ``doctor`` lists what is wrong, while every other command says so in one line.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightdom_tui.errors import LightdomError
from lightdom_tui.settings import (
    SETTINGS_FILE,
    Settings,
    load_settings,
    read_settings,
    render_settings,
    save_settings,
    settings_to_dict,
    update_setting,
)
from lightdom_tui.workspace import change_setting
from tests.foundation.test_hardening_cli import invoke, one_error_line

KEYS = [f"{s.name}.{k.name}" for s in fields(Settings) if is_dataclass(getattr(Settings(), s.name))
        for k in fields(getattr(Settings(), s.name))]


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("serving.port", "99999", "allowed 1 … 65535"),
        ("serving.port", "0", "allowed 1 … 65535"),
        ("serving.n_ctx", "0", "allowed 16 …"),
        ("serving.temperature", "nan", "finite"),
        ("serving.temperature", "inf", "finite"),
        ("monitoring.error_rate", "1.5", "allowed 0 … 1"),
        ("serving.n_threads", "1.5", "must be int"),
        ("serving.n_threads", str(2**70), "out of range"),
        ("serving.remote_model", "a\nb", "control characters"),
        ("serving.remote_model", "a\x1b]0;x\x07", "control characters"),
        ("serving.remote_base_url", "file:///etc/passwd", "http"),
        ("serving.api_key_env", "A B", "environment variable"),
        ("curation.pii_kinds", '["email", "a\\nb"]', "control characters"),
        ("orchestration.allowed_paths", '["data/in"]', "'data/in' is not an absolute folder"),
        ("orchestration.allowed_networks", '["10.0.0.0/8", "lan"]', "'lan' is not a network"),
        ("__class__.x", "1", "SECTION.KEY"),
        ("serving.__class__", "1", "unknown setting"),
        ("serving.__dict__", "{}", "unknown setting"),
        ("serving", "1", "SECTION.KEY"),
    ],
)
def test_bad_values_are_refused_with_the_key_and_the_allowed_range(tmp_path: Path, key: str, value: str,
                                                                   words: str) -> None:
    save_settings(tmp_path, Settings())
    before = (tmp_path / SETTINGS_FILE).read_bytes()
    with pytest.raises(LightdomError) as caught:
        change_setting(tmp_path, key, value)
    message = str(caught.value)
    assert words in message and "\n" not in message
    assert key.split(".")[0][:9] in message
    assert (tmp_path / SETTINGS_FILE).read_bytes() == before  # validated first: nothing written


def test_good_values_round_trip(tmp_path: Path) -> None:
    save_settings(tmp_path, Settings())
    for key, value, expected in [("serving.port", "8080", 8080), ("serving.temperature", "0", 0.0),
                                 ("serving.remote_model", "deep seek \u00e9", "deep seek \u00e9"),
                                 ("curation.pii_kinds", '["email"]', ["email"]), ("tui.theme", "nord", "nord"),
                                 ("orchestration.allowed_paths", '["/data", "~/in"]', ["/data", "~/in"]),
                                 ("orchestration.allowed_networks", '["127.0.0.0/8", "::1"]', ["127.0.0.0/8", "::1"])]:
        assert change_setting(tmp_path, key, value).value == expected
        section, name = key.split(".")
        assert settings_to_dict(load_settings(tmp_path))[section][name] == expected


def test_an_invalid_file_blocks_commands_but_not_settings_set_or_doctor(workspace) -> None:  # noqa: ANN001
    root = workspace.root
    path = root / SETTINGS_FILE
    path.write_text('[serving]\nport = 99999\nn_threads = 3\nremote_model = "a\nb"\n[tui]\npage_size = 50\n',
                    encoding="utf-8")
    blocked = one_error_line(invoke("examples", "list", home=root))
    assert str(path) in blocked and "settings set" in blocked

    doctor = invoke("doctor", "--json", home=root)
    assert doctor.exit_code == 0, doctor.stderr
    report = json.loads(doctor.stdout)["settings"]
    assert report["valid"] is False and len(report["problems"]) == 2
    assert any("'port' 99999" in p for p in report["problems"])
    assert json.loads(doctor.stdout)["workspace"]["examples"] == 0  # the database is still checked

    fixed = invoke("settings", "set", "serving.max_tokens", "200", "--json", home=root)
    assert fixed.exit_code == 0, fixed.stderr
    change = json.loads(fixed.stdout)
    assert change["value"] == 200 and len(change["repaired"]) == 2
    assert Path(change["backup"]).read_text(encoding="utf-8").startswith("[serving]\nport = 99999")
    repaired = load_settings(root)  # valid again; what was valid is kept
    assert (repaired.serving.max_tokens, repaired.serving.n_threads, repaired.tui.page_size) == (200, 3, 50)
    assert repaired.serving.port == Settings().serving.port
    assert invoke("examples", "list", home=root).exit_code == 0


@pytest.mark.parametrize(
    "content",
    [b"\xff\xfe[serving]\nport = 1\n", b"x = " + b"[" * 100_000, b"[serving]\n" + b"a = {" * 5000,
     b"[serving\n", b"serving = 3\n", b"[serving]\nport = true\n", b'serving = 3\n[serving]\n"a\\nb" = 1\n'],
    ids=["utf16-bom", "deep-array", "deep-table", "broken-header", "section-not-table", "wrong-type", "redefined"],
)
def test_undecodable_or_deep_settings_files(workspace, content: bytes) -> None:  # noqa: ANN001
    (workspace.root / SETTINGS_FILE).write_bytes(content)
    line = one_error_line(invoke("settings", "show", home=workspace.root))
    assert SETTINGS_FILE in line
    assert read_settings(workspace.root).problems  # doctor's view: each problem described
    assert invoke("settings", "set", "serving.n_threads", "2", home=workspace.root).exit_code == 0
    assert load_settings(workspace.root).serving.n_threads == 2


def test_a_failed_write_names_the_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    blocker = tmp_path / "sub"
    blocker.mkdir()
    (blocker / SETTINGS_FILE).mkdir()  # a folder where the file should be: the rename fails
    with pytest.raises(LightdomError, match="cannot write"):
        save_settings(blocker, Settings())
    assert [p.name for p in blocker.iterdir()] == [SETTINGS_FILE]  # no temp file left behind


_values = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["true", "false", "nan", "inf", "[]", '["a"]', '"x"', "{a=1}", "1979-05-27", '"a\\nb"']),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.one_of(st.sampled_from(KEYS), st.text(max_size=20)), value=_values)
def test_settings_set_never_escapes_and_always_leaves_a_valid_file(tmp_path: Path, key: str, value: str) -> None:
    """Any key and any text: a LightdomError or a saved value that reads back; the file always valid."""
    if not (tmp_path / SETTINGS_FILE).exists():
        save_settings(tmp_path, Settings())
    before = load_settings(tmp_path)
    try:
        change = change_setting(tmp_path, key, value)
    except LightdomError as exc:
        assert "\n" not in str(exc)  # the message quotes the input escaped: one line
        assert load_settings(tmp_path) == before
        return
    after = load_settings(tmp_path)
    section, name = key.split(".")
    assert settings_to_dict(after)[section][name] == change.value
    assert tomllib.loads((tmp_path / SETTINGS_FILE).read_text(encoding="utf-8"))  # valid TOML on disk


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(lambda t: t.encode("utf-8", "replace")),
                         st.builds(lambda a, b: (a + b).encode("utf-8", "replace"),
                                   st.just(render_settings(Settings())), st.text(max_size=60))))
def test_any_settings_file_is_read_leniently_and_repaired(tmp_path: Path, content: bytes) -> None:
    """Whatever bytes lightdom.toml holds: read_settings never raises and settings set repairs it."""
    (tmp_path / SETTINGS_FILE).write_bytes(content)
    read = read_settings(tmp_path)
    try:
        strict = load_settings(tmp_path)
    except LightdomError as exc:
        assert read.problems, str(exc)
        assert "\n" not in str(exc)
    else:
        assert strict == read.settings and not read.problems
    change_setting(tmp_path, "serving.n_threads", "5")
    assert load_settings(tmp_path).serving.n_threads == 5
    update_setting(load_settings(tmp_path), "serving.port", "8000")  # the repaired settings validate
