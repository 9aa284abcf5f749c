"""Workspace creation/refusal, settings, SQLite PRAGMAs, migrations and the default model."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

from lightdom_tui.db.engine import create_db_engine, current_revision, head_revision, migrate
from lightdom_tui.db.models import Example, ModelVersion
from lightdom_tui.errors import LightdomError, NotAWorkspaceError, SchemaTooNewError
from lightdom_tui.settings import load_settings, update_setting
from lightdom_tui.workspace import HOME_ENV, create_workspace, open_workspace, resolve_home


def test_open_refuses_a_folder_that_is_not_a_workspace(tmp_path: Path) -> None:
    with pytest.raises(NotAWorkspaceError, match="not a LightDom workspace.*run `lightdom init`"):
        open_workspace(tmp_path)


def test_create_makes_every_folder_settings_and_database(tmp_path: Path) -> None:
    ws = create_workspace(tmp_path / "w")
    for relative in ("storage", "models/base", "models/adapters", "models/merged", "models/gguf",
                     "training_data/inbox", "training_data/quarantine", "training_data/exports",
                     "training_data/samples"):
        assert (ws.root / relative).is_dir(), relative
    assert (ws.root / "lightdom.toml").is_file()
    assert ws.db_path.is_file()
    assert current_revision(ws.engine) == head_revision()
    ws.close()


def test_home_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(HOME_ENV, raising=False)
    assert resolve_home(None) == tmp_path.resolve()
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "env"))
    assert resolve_home(None) == (tmp_path / "env").resolve()
    assert resolve_home(tmp_path / "explicit") == (tmp_path / "explicit").resolve()


def test_wal_foreign_keys_and_busy_timeout_are_on(workspace) -> None:
    with workspace.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
    # Foreign keys really enforced: a metric for a run that does not exist is refused.
    with pytest.raises(Exception, match="FOREIGN KEY"):
        with workspace.engine.begin() as conn:
            conn.execute(text("INSERT INTO runmetric (run_id, step, created_at) VALUES (999, 1, '2026-01-01')"))


def test_models_and_migrations_agree() -> None:
    """A model change without a migration fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        engine = create_db_engine(Path(folder) / "m.db")
        migrate(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        engine.dispose()
    assert diff == [], f"models differ from migrations: {diff}"


def test_older_database_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    ws = create_workspace(tmp_path / "w")
    ws.close()
    db = ws.db_path
    # Bring a copy down to the first revision with a row in it, as an older release left it.
    engine = create_db_engine(db)
    from alembic import command

    from lightdom_tui.db.engine import _alembic_config

    first = "0001"
    config = _alembic_config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, first)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO example (created_at, updated_at, source, task_type, status, messages_json, "
            "content_hash, metadata_json) VALUES ('2026-01-01', '2026-01-01', 's', 't', 'pending', '[]', 'h1', '{}')"
        ))
    engine.dispose()
    assert current_revision(create_db_engine(db)) == first
    reopened = open_workspace(ws.root)
    assert current_revision(reopened.engine) == head_revision()
    with reopened.session() as session:
        assert session.get(Example, 1).content_hash == "h1"
    reopened.close()


def test_newer_database_is_refused_clearly(tmp_path: Path) -> None:
    ws = create_workspace(tmp_path / "w")
    ws.close()
    with sqlite3.connect(ws.db_path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffff_from_the_future'")
    with pytest.raises(SchemaTooNewError, match="newer than this LightDom knows"):
        open_workspace(ws.root)


def test_default_model_registered_with_correct_sha256(workspace, embedded_gguf: Path) -> None:
    digest = hashlib.sha256(embedded_gguf.read_bytes()).hexdigest()
    with workspace.session() as session:
        from sqlmodel import select

        version = session.exec(select(ModelVersion).where(ModelVersion.version == "smollm2-135m-instruct")).one()
    assert version.kind == "base" and version.format == "gguf"
    assert version.sha256 == digest
    assert Path(version.path) == embedded_gguf
    assert version.size_bytes == embedded_gguf.stat().st_size


def test_settings_round_trip_and_errors_name_the_key(tmp_path: Path) -> None:
    ws = create_workspace(tmp_path / "w")
    ws.settings = update_setting(ws.settings, "serving.n_threads", "4")
    ws.save_settings()
    assert load_settings(ws.root).serving.n_threads == 4
    with pytest.raises(LightdomError, match="'n_threads' must be int"):
        update_setting(ws.settings, "serving.n_threads", '"four"')
    (ws.root / "lightdom.toml").write_text("[serving]\nn_thread = 2\n")
    with pytest.raises(LightdomError, match="unknown setting 'n_thread'"):
        load_settings(ws.root)
    ws.close()
