"""Nothing escapes the workspace: file names made from data, names users give, paths checked by one module."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import update

from lightdom_tui.errors import LightdomError
from lightdom_tui.safepath import child_path, inside, safe_filename, validate_name
from tests.foundation.test_hardening_cli import invoke, one_error_line

HOSTILE = ["../../../../x", "/etc/passwd", "..", ".", "", "a/b", "a\\b", "con", "x\x00y", "\x1b[2J", "é" * 300,
           "~root", "$(rm -rf /)", " lead", "-rf"]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=120), st.sampled_from(HOSTILE)))
def test_safe_filename_is_always_one_harmless_component(text: str) -> None:
    name = safe_filename(text)
    assert name and len(name) <= 80 and name not in (".", "..")
    assert "/" not in name and "\\" not in name and "\x00" not in name and not name.startswith(".")
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in name)
    assert Path(name).name == name
    if name == text:
        return
    assert safe_filename(text) == name  # stable: the same data always maps to the same file


@given(st.lists(st.text(max_size=20), min_size=2, max_size=2, unique=True))
def test_different_values_never_share_a_file(pair: list[str]) -> None:
    assert safe_filename(pair[0]) != safe_filename(pair[1])


def test_inside_refuses_parents_absolute_paths_and_symlinks_out(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "out-link").symlink_to(tmp_path)
    assert inside(root, "sub/file.jsonl") == (root / "sub" / "file.jsonl").resolve()
    for escape in ("../x", "/etc/passwd", "sub/../../x", "out-link/x"):
        with pytest.raises(LightdomError, match="outside"):
            inside(root, escape)
    assert child_path(root, "../../../../x").parent == root.resolve()


@pytest.mark.parametrize("name", ["../../../../N", "/abs", "a/b", "..", ".hidden", "12", "a b", "x@1", "", "é"])
def test_dataset_names_are_validated_before_anything_is_written(workspace, name: str) -> None:  # noqa: ANN001
    line = one_error_line(invoke("dataset", "build", name, home=workspace.root))
    assert "dataset name" in line
    assert validate_name("ok-name_1.v2", "dataset") == "ok-name_1.v2"


def test_per_task_type_export_stays_in_its_folder(workspace, tmp_path: Path) -> None:  # noqa: ANN001
    """Task types are data: ``../../../../x`` or an absolute path name a file inside the export folder."""
    from lightdom_tui.curation.datasets import build_dataset
    from lightdom_tui.curation.examples import add_example
    from lightdom_tui.curation.export import export_dataset
    from lightdom_tui.db.models import Example

    hostile = {"a": "../../../../escaped", "b": str(tmp_path / "absolute"), "c": "chat"}
    with workspace.session() as session:
        for i, kind in enumerate(hostile):
            for j in range(3):
                add_example(session, [{"role": "user", "content": f"q{i}-{j}"},
                                      {"role": "assistant", "content": f"a{i}-{j}"}],
                            task_type=kind, source="t", status="approved")
    with workspace.session() as session:  # rows imported before task types were checked
        for kind, value in hostile.items():
            session.exec(update(Example).where(Example.task_type == kind).values(task_type=value))
    build_dataset(workspace, "ds", split=1.0)
    before = set(os.listdir(tmp_path)) | set(os.listdir(workspace.root.parent))
    result = export_dataset(workspace, "ds", per_task_type=True)
    directory = Path(result.directory).resolve()
    assert directory.parent == workspace.exports_dir.resolve()
    written = {Path(f.path).resolve() for f in result.files}
    assert len(written) == 3 and all(p.parent == directory and p.is_file() for p in written)
    assert {f.task_type for f in result.files} == set(hostile.values())  # the manifest keeps the real value
    assert set(os.listdir(tmp_path)) | set(os.listdir(workspace.root.parent)) == before
    assert not (tmp_path / "absolute_train.jsonl").exists() and not Path("/escaped_train.jsonl").exists()
