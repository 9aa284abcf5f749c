"""The workspace: one folder holding the database, model files, data and settings.

Chosen by ``--home``, else ``LIGHTDOM_HOME``, else the current directory (as MLflow
uses ./mlruns). A folder is a workspace when it has ``lightdom.toml``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from lightdom_tui.db.engine import create_db_engine, migrate, session_scope
from lightdom_tui.errors import LightdomError, NotAWorkspaceError, database_error
from lightdom_tui.settings import (
    SETTINGS_FILE,
    Settings,
    load_settings,
    read_settings,
    save_settings,
    settings_to_dict,
    split_key,
    update_setting,
)

HOME_ENV = "LIGHTDOM_HOME"
DB_FILE = "lightdom.db"
WORKSPACE_DIRS = (
    "storage",
    "models/base",
    "models/adapters",
    "models/merged",
    "models/gguf",
    "models/runs",
    "training_data/inbox",
    "training_data/inbox/processed",
    "training_data/quarantine",
    "training_data/exports",
    "training_data/samples",
)


def resolve_home(home: Path | str | None = None) -> Path:
    """The workspace folder: explicit argument, else $LIGHTDOM_HOME, else the current directory."""
    if home:
        return Path(home).expanduser().resolve()
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return Path.cwd().resolve()


def is_workspace(root: Path) -> bool:
    """True when ``root`` has been initialised."""
    return (root / SETTINGS_FILE).is_file()


@dataclass
class Workspace:
    """An opened workspace; services take one of these as their first argument."""

    root: Path
    settings: Settings = field(default_factory=Settings)

    @property
    def db_path(self) -> Path:
        return self.root / "storage" / DB_FILE

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def runs_dir(self) -> Path:
        return self.models_dir / "runs"

    @property
    def data_dir(self) -> Path:
        return self.root / "training_data"

    @property
    def inbox_dir(self) -> Path:
        return self.data_dir / "inbox"

    @property
    def processed_dir(self) -> Path:
        return self.inbox_dir / "processed"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def exports_dir(self) -> Path:
        return self.data_dir / "exports"

    @property
    def samples_dir(self) -> Path:
        return self.data_dir / "samples"

    @cached_property
    def engine(self) -> Engine:
        """The SQLite engine (created on first use; the schema is migrated by ``open_workspace``)."""
        return create_db_engine(self.db_path)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A short transaction on the workspace database."""
        with session_scope(self.engine) as session:
            yield session

    def save_settings(self) -> Path:
        """Persist the current settings to ``lightdom.toml``."""
        return save_settings(self.root, self.settings)

    def close(self) -> None:
        """Dispose of pooled connections (tests and the TUI call this on exit)."""
        if "engine" in self.__dict__:
            self.engine.dispose()


def open_workspace(home: Path | str | None = None, *, lenient_settings: bool = False) -> Workspace:
    """Open an initialised workspace, migrating an older database; refuse anything else.

    An invalid ``lightdom.toml`` is refused with a line naming the problem, except with
    ``lenient_settings`` (``doctor``), where its invalid keys are left at their defaults.
    """
    root = resolve_home(home)
    if not is_workspace(root):
        raise NotAWorkspaceError(f"not a LightDom workspace: {root}: run `lightdom init`")
    settings = read_settings(root).settings if lenient_settings else load_settings(root)
    workspace = Workspace(root=root, settings=settings)
    _ensure_dirs(root)
    try:
        migrate(workspace.engine)
    except Exception as exc:
        workspace.close()
        failure = database_error(workspace.db_path, exc)
        if failure is None:
            raise
        raise failure from None
    return workspace


def _ensure_dirs(root: Path) -> None:
    for relative in WORKSPACE_DIRS:
        (root / relative).mkdir(parents=True, exist_ok=True)


def create_workspace(home: Path | str | None = None) -> Workspace:
    """Create folders, settings file and database (idempotent) and return the open workspace."""
    root = resolve_home(home)
    if root.exists() and not root.is_dir():
        raise LightdomError(f"{root}: is a file, not a folder; choose another --home")
    root.mkdir(parents=True, exist_ok=True)
    _ensure_dirs(root)
    if not is_workspace(root):
        save_settings(root, Settings())
    return open_workspace(root)


@dataclass
class SettingChange:
    """One setting changed and saved; ``repaired`` lists what was wrong with the file before."""

    key: str
    value: object
    file: str
    repaired: list[str] = field(default_factory=list)
    backup: str | None = None  # the invalid file as it was, kept next to the new one


def change_setting(home: Path | str | None, dotted_key: str, raw_value: str) -> SettingChange:
    """Validate and save one setting, even when ``lightdom.toml`` is invalid today.

    An invalid file is read leniently (its valid keys are kept), copied to
    ``lightdom.toml.invalid`` (nothing the user wrote is lost) and replaced by a valid one.
    """
    root = resolve_home(home)
    if not is_workspace(root):
        raise NotAWorkspaceError(f"not a LightDom workspace: {root}: run `lightdom init`")
    section, key = split_key(dotted_key)
    read = read_settings(root)
    settings = update_setting(read.settings, dotted_key, raw_value)
    backup = None
    if read.problems:
        backup = root / f"{SETTINGS_FILE}.invalid"
        backup.write_bytes((root / SETTINGS_FILE).read_bytes())
    path = save_settings(root, settings)
    value = settings_to_dict(settings)[section][key]
    return SettingChange(dotted_key, value, str(path), read.problems, str(backup) if backup else None)
