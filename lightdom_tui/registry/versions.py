"""Model versions: register, look up by name / alias / id, hash files.

The registry never points at a missing file: ``register_version`` checks the path
exists (callers write artifacts to a temp name and rename before registering).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from lightdom_tui.db.jsoncol import dumps
from lightdom_tui.db.models import MODEL_FORMAT_VALUES, MODEL_KIND_VALUES, Alias, ModelVersion
from lightdom_tui.bounds import row_id
from lightdom_tui.errors import LightdomError
from lightdom_tui.safepath import safe_filename, validate_name

CHUNK = 1 << 20
# Alias names the product itself uses: a version so named would shadow (or block) the alias.
RESERVED_NAMES = frozenset({"production", "staging"})


_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def sha256_path(path: Path) -> str:
    """sha256 of a file, or of a folder's files (relative names and contents, sorted).

    Files are memoised per process by (path, size, mtime): the embedded model is
    hashed once, not on every `init`.
    """
    path = Path(path)
    if path.is_file():
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in _HASH_CACHE:
            _HASH_CACHE[key] = _sha256_files(path)
        return _HASH_CACHE[key]
    return _sha256_files(path)


def _sha256_files(path: Path) -> str:
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode() + b"\0")
        with file.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def path_size(path: Path) -> int:
    """Size in bytes of a file or a folder's files."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def register_version(
    session: Session,
    *,
    version: str,
    kind: str,
    format: str,
    path: Path,
    sha256: str | None = None,
    architecture: str | None = None,
    quant: str | None = None,
    parent_id: int | None = None,
    run_id: int | None = None,
    dataset_id: int | None = None,
    metrics: dict[str, Any] | None = None,
    verification: dict[str, Any] | None = None,
    prompts: dict[str, Any] | None = None,
    notes: str | None = None,
) -> ModelVersion:
    """Add a model version after checking its file exists; hashes it when no sha256 is given."""
    if kind not in MODEL_KIND_VALUES:
        raise LightdomError(f"model kind '{kind}': expected one of {', '.join(MODEL_KIND_VALUES)}")
    if format not in MODEL_FORMAT_VALUES:
        raise LightdomError(f"model format '{format}': expected one of {', '.join(MODEL_FORMAT_VALUES)}")
    path = Path(path)
    if not path.exists():
        raise LightdomError(f"{path}: no such file or folder; nothing registered")
    version = validate_name(version, "model version")  # it names files under models/
    if version in RESERVED_NAMES or session.exec(select(Alias.id).where(Alias.name == version)).first():
        raise LightdomError(f"model version '{version}': an alias has (or is reserved to have) that name; pick another")
    if session.exec(select(ModelVersion).where(ModelVersion.version == version)).first():
        raise LightdomError(f"model version '{version}' already exists")
    record = ModelVersion(
        version=version,
        kind=kind,
        format=format,
        path=str(path),
        sha256=sha256 or sha256_path(path),
        size_bytes=path_size(path),
        architecture=architecture,
        quant=quant,
        parent_id=parent_id,
        run_id=run_id,
        dataset_id=dataset_id,
        metrics_json=dumps(metrics or {}),
        verification_json=dumps(verification or {}),
        prompts_json=dumps(prompts or {}),
        notes=notes,
    )
    session.add(record)
    session.flush()
    return record


def _run_adapter(session: Session, run_id: int) -> ModelVersion | None:
    """The adapter version a training run produced, if any."""
    from lightdom_tui.db.models import TrainingRun

    run = session.get(TrainingRun, run_id)
    if run is None or run.adapter_version_id is None:
        return None
    return session.get(ModelVersion, run.adapter_version_id)


def find_version(session: Session, ref: str | int) -> ModelVersion | None:
    """A version by ``run:ID`` (the run's adapter), exact name, alias or id; None when nothing matches.

    An ``int`` is a version id (callers inside the code). A bare number typed by a user
    may mean a version id or a training run: when both exist and differ it is refused,
    naming both candidates, rather than guessed (``export 1`` must not silently export
    the base model when run 1's adapter was meant).
    """
    if isinstance(ref, int):
        return session.get(ModelVersion, ref)
    ref = str(ref).strip()
    if ref.startswith("run:"):
        number = ref[len("run:"):]
        if row_id(number) is None:
            raise LightdomError(f"model '{ref}': run:ID needs a run number, e.g. run:3")
        found = _run_adapter(session, int(number))
        if found is None:
            raise LightdomError(f"model '{ref}': training run {number} has no adapter (see `lightdom runs list`)")
        return found
    found = session.exec(select(ModelVersion).where(ModelVersion.version == ref)).first()
    alias = session.exec(select(Alias).where(Alias.name == ref)).first()
    if found is not None and alias is not None and alias.version_id != found.id:
        # Registration refuses this now; an older workspace may still hold both. Never guess.
        raise LightdomError(
            f"model '{ref}' is ambiguous: version '{ref}' (#{found.id}) or alias '{ref}' "
            f"(→ version #{alias.version_id}); use the version's id"
        )
    if found is not None:
        return found
    if alias is not None:
        return session.get(ModelVersion, alias.version_id)
    if row_id(ref) is not None:
        by_id, by_run = session.get(ModelVersion, int(ref)), _run_adapter(session, int(ref))
        if by_id is not None and by_run is not None and by_id.id != by_run.id:
            raise LightdomError(
                f"model '{ref}' is ambiguous: version #{ref} ({by_id.version}) or run:{ref} "
                f"(its adapter {by_run.version}); write the version name or run:{ref}"
            )
        return by_id or by_run
    return None


def get_version(session: Session, ref: str | int) -> ModelVersion:
    """Like ``find_version`` but a clear error when nothing matches."""
    found = find_version(session, ref)
    if found is None:
        raise LightdomError(f"model '{ref}': no such version or alias (see `lightdom models list`)")
    return found


def unique_version_name(session: Session, stem: str) -> str:
    """``stem`` made a valid name if free (of versions and aliases), else ``stem-2``, ``stem-3`` …"""
    stem = safe_filename(stem, max_length=90)
    if stem.isdigit() or stem in RESERVED_NAMES:
        stem = f"v{stem}"
    name, n = stem, 1
    while (session.exec(select(ModelVersion.id).where(ModelVersion.version == name)).first() is not None
           or session.exec(select(Alias.id).where(Alias.name == name)).first() is not None):
        n += 1
        name = f"{stem}-{n}"
    return name
