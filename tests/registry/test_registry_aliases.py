"""Aliases, lineage, add-base and safe delete on a real workspace."""

from __future__ import annotations

import json
import threading

import pytest
from sqlmodel import select

from lightdom_tui.db.models import Dataset, Deployment, TrainingRun
from lightdom_tui.errors import LightdomError
from lightdom_tui.registry import aliases, catalog
from lightdom_tui.registry.routing import choose_route
from lightdom_tui.registry.versions import get_version, register_version


def test_promote_rollback_walks_history(workspace, versions):
    assert aliases.promote(workspace, "v1", "production").previous_version is None
    assert aliases.promote(workspace, "v2", "production").previous_version == "v1"
    assert not aliases.promote(workspace, "v2", "production").changed
    aliases.promote(workspace, "v3", "production")
    assert aliases.rollback(workspace, "production").version == "v2"
    assert aliases.rollback(workspace, "production").version == "v1"  # walks back, does not toggle
    with pytest.raises(LightdomError, match="no previous holder"):
        aliases.rollback(workspace, "production")
    with workspace.session() as s:
        assert get_version(s, "production").version == "v1"
        history = aliases.alias_history(s, "production")
    assert [h.action for h in history] == ["rollback", "rollback", "promote", "promote", "promote"]
    assert [h.version for h in history] == ["v1", "v2", "v3", "v2", "v1"]


def test_alias_name_checks(workspace, versions):
    with pytest.raises(LightdomError, match="model version has that name"):
        aliases.promote(workspace, "v1", "v2")
    with pytest.raises(LightdomError, match="alias '9x'"):
        aliases.promote(workspace, "v1", "9x")
    with pytest.raises(LightdomError, match="not set"):
        aliases.rollback(workspace, "staging")


def test_concurrent_readers_never_see_missing_version(workspace, versions):
    aliases.promote(workspace, "v1", "production")
    stop = threading.Event()
    seen: list[str] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not stop.is_set():
                with workspace.session() as s:
                    route = choose_route(s, "attribute_generation")
                    assert route.version is not None and route.version.version in versions
                    assert route.version.path and route.version.sha256
                    seen.append(route.version.version)
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    def writer() -> None:
        try:
            for _ in range(15):
                aliases.promote(workspace, "v2", "production")
                aliases.promote(workspace, "v3", "production")
                aliases.rollback(workspace, "production")
                aliases.rollback(workspace, "production")
        except BaseException as exc:
            errors.append(exc)

    def racer(version: str) -> None:  # a second writer racing on another alias
        try:
            for _ in range(15):
                aliases.promote(workspace, version, "staging")
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=reader) for _ in range(3)]
    writers = [threading.Thread(target=writer), threading.Thread(target=racer, args=("v1",)),
               threading.Thread(target=racer, args=("v3",))]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert not errors, errors
    assert len(seen) > 10
    with workspace.session() as s:
        assert len(aliases.alias_history(s, "production")) == 61  # 1 + 15 × 4, none lost
        staging = aliases.alias_history(s, "staging")
        assert all(h.version != h.previous_version for h in staging)  # every event is a real move
        assert get_version(s, "production").version == "v1"  # every promote was undone


def test_show_lineage_with_run_and_dataset(workspace, embedded_gguf):
    with workspace.session() as s:
        ds = Dataset(name="attrs", version=3, manifest_hash="abc123")
        s.add(ds)
        s.flush()
        run = TrainingRun(status="completed", dataset_id=ds.id, method="qlora")
        s.add(run)
        s.flush()
        base = get_version(s, "smollm2-135m-instruct")
        adapter = register_version(s, version="ad1", kind="adapter", format="peft", path=embedded_gguf,
                                   sha256="1" * 64, parent_id=base.id, run_id=run.id)
        register_version(s, version="ad1-q4", kind="gguf", format="gguf", path=embedded_gguf,
                         sha256="2" * 64, parent_id=adapter.id, quant="q4_k_m")
    with workspace.session() as s:
        detail = catalog.show_model(s, "ad1-q4")
    assert [n.version for n in detail.lineage] == ["ad1-q4", "ad1", "smollm2-135m-instruct"]
    assert detail.lineage[1].run["id"] == run.id
    assert detail.lineage[1].dataset == {"id": ds.id, "name": "attrs@3", "manifest_hash": "abc123",
                                         "n_train": 0, "n_validation": 0}


def test_delete_refused_while_in_use(workspace, versions, workspace_copy_gguf):
    with workspace.session() as s:
        register_version(s, version="solo", kind="gguf", format="gguf", path=workspace_copy_gguf)
    aliases.promote(workspace, "solo", "staging")
    with pytest.raises(LightdomError, match="alias 'staging'"):
        catalog.delete_model(workspace, "solo")
    aliases.promote(workspace, "v1", "staging")
    with workspace.session() as s:
        s.add(Deployment(task_type="graphics", version_id=get_version(s, "solo").id))
    with pytest.raises(LightdomError, match="active deployment"):
        catalog.delete_model(workspace, "solo")
    with workspace.session() as s:
        for d in s.exec(select(Deployment)).all():
            d.status = "superseded"
            s.add(d)
    with pytest.raises(LightdomError, match="derives from it"):
        catalog.delete_model(workspace, "v1")
    result = catalog.delete_model(workspace, "solo")
    assert result.files_removed and not workspace_copy_gguf.exists()
    with workspace.session() as s:
        assert [m.version for m in catalog.list_models(s)] == ["smollm2-135m-instruct", "v1", "v2", "v3"]
    with pytest.raises(LightdomError, match="no previous holder"):
        aliases.rollback(workspace, "staging")  # the deleted holder is gone from the stack


def test_add_base_gguf_and_hf(workspace, embedded_gguf, tmp_path):
    summary = catalog.add_base(workspace, embedded_gguf)
    assert (summary.format, summary.architecture, summary.quant) == ("gguf", "llama", "q4_1")
    hf = tmp_path / "My Model"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    with pytest.raises(LightdomError, match="no weights"):
        catalog.add_base(workspace, hf)
    (hf / "model.safetensors").write_bytes(b"x")
    summary = catalog.add_base(workspace, hf)
    assert (summary.version, summary.format, summary.architecture) == ("my-model", "hf", "qwen2")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"nope")
    with pytest.raises(LightdomError, match="not a GGUF file"):
        catalog.add_base(workspace, bad)
    (hf / "config.json").write_text("{oops")
    with pytest.raises(LightdomError, match="config.json: line 1"):
        catalog.add_base(workspace, hf, name="other")
