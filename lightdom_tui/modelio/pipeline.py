"""`lightdom export`: adapter → merged HF → f16 GGUF → quantized GGUF → verified → registered.

Order matters for safety: every file is written under a temp name and renamed;
nothing is registered until verification passes, and then the merged folder and
the GGUF are registered in one transaction. A failed verification deletes what
this export wrote, registers nothing and raises :class:`ExportVerificationError`
naming the reasons.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from lightdom_tui.db.jsoncol import loads
from lightdom_tui.db.models import DatasetItem, Example, ModelVersion, TrainingRun
from lightdom_tui.errors import LightdomError
from lightdom_tui.registry.versions import find_version, register_version, sha256_path, unique_version_name
from lightdom_tui.workspace import Workspace

Progress = Callable[[str, float], None]  # (stage, fraction done 0..1)
MAX_VALIDATION_TEXTS = 16


class ExportVerificationError(LightdomError):
    """Verification failed; nothing was registered. ``report`` holds the details."""

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class ExportResult:
    """The registered GGUF version."""

    version: str
    path: str
    quant: str
    size: int
    sha256: str
    verification: dict[str, Any]
    merged_version: str | None = None
    parent: str | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Source:
    """What the export starts from, resolved from RUN_OR_VERSION."""

    start: ModelVersion  # the version named by the user
    base: ModelVersion  # the base model at the root of the chain
    adapter: ModelVersion | None
    merged: ModelVersion | None


def resolve_source(session: Session, ref: str) -> _Source:
    """Find the version to export: a version/alias, or ``run:ID`` (the run's adapter)."""
    ref = str(ref).strip()
    version = None
    run_id = ref.split(":", 1)[1] if ref.startswith("run:") else None
    if run_id is None:
        version = find_version(session, ref)
        if version is None and ref.isdigit():
            run_id = ref
    if version is None and run_id is not None:
        run = session.get(TrainingRun, int(run_id)) if run_id.isdigit() else None
        if run is None or run.adapter_version_id is None:
            raise LightdomError(f"export '{ref}': no training run {run_id} with an adapter")
        version = session.get(ModelVersion, run.adapter_version_id)
    if version is None:
        raise LightdomError(f"export '{ref}': no such version, alias or run (see `lightdom models list`)")
    if version.kind == "gguf":
        raise LightdomError(f"export '{ref}': already a GGUF ({version.path}); export its adapter or merged parent")
    chain, node = [version], version
    while node.parent_id is not None:
        parent = session.get(ModelVersion, node.parent_id)
        if parent is None:
            break
        chain.append(parent)
        node = parent
    base = next((v for v in chain if v.kind == "base"), None)
    if base is None:
        raise LightdomError(f"export '{ref}': no base model in its parent chain")
    adapter = version if version.kind == "adapter" else None
    merged = version if version.kind == "merged" else None
    return _Source(start=version, base=base, adapter=adapter, merged=merged)


def validation_texts(session: Session, dataset_id: int | None, tokenizer_dir: Path) -> list[str]:
    """Validation-split conversations of the version's dataset, rendered with its chat template."""
    if dataset_id is None:
        return []
    rows = session.exec(
        select(Example.messages_json)
        .join(DatasetItem, DatasetItem.example_id == Example.id)
        .where(DatasetItem.dataset_id == dataset_id, DatasetItem.split == "validation")
        .limit(MAX_VALIDATION_TEXTS)
    ).all()
    if not rows:
        return []
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    texts = []
    for messages_json in rows:
        messages = [
            {"role": m.get("role", "user"), "content": m.get("content") or ""} for m in loads(messages_json, [])
        ]
        texts.append(tokenizer.apply_chat_template(messages, tokenize=False))
    return texts


def _cleanup(paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def export_model(ws: Workspace, ref: str, quant: str = "q4_k_m", progress: Progress | None = None) -> ExportResult:
    """Merge (when needed), convert to GGUF, quantize, verify and register; see the module docstring."""
    from lightdom_tui.modelio.gguf_export import export_gguf, read_gguf_metadata, read_hparams
    from lightdom_tui.modelio.merge import merge_adapter
    from lightdom_tui.modelio.quantize import ftype_for, quantize_gguf
    from lightdom_tui.modelio.verify import verify_export

    quant = quant.strip().lower()
    ftype_for(quant)  # an unknown quant fails before any work
    report = progress or (lambda stage, fraction: None)
    with ws.session() as session:
        src = resolve_source(session, ref)
        stem = unique_version_name(session, f"{src.start.version}-{quant}")
        merged_name = unique_version_name(session, f"{src.adapter.version}-merged") if src.adapter else None
    written: list[Path] = []
    timings: dict[str, float] = {}
    notes: list[str] = []
    base_path = Path(src.base.path)
    try:
        # 1. an HF folder to convert: the merged adapter, the merged version itself, or the base.
        #    A GGUF base is read from its dequantized HF copy (models/base/<version>-hf), which
        #    training already made; made once here otherwise (transformers' GGUF reader is slow).
        started = time.perf_counter()
        report("merge", 0.0)
        if base_path.suffix == ".gguf" and src.merged is None:
            from lightdom_tui.modelio.load import BaseModelRef, trainable_folder

            base_hf = trainable_folder(ws, BaseModelRef(path=base_path, is_gguf=True, version=src.base))
            timings["dequantize_s"] = time.perf_counter() - started
        else:
            base_hf = base_path
        if src.merged is not None:
            hf_dir = Path(src.merged.path)
        elif src.adapter is not None:
            hf_dir = ws.models_dir / "merged" / merged_name  # type: ignore[operator]
            merge_adapter(base_hf, Path(src.adapter.path), hf_dir)
            written.append(hf_dir)
        else:
            hf_dir = base_hf
        timings["merge_s"] = time.perf_counter() - started - timings.get("dequantize_s", 0.0)
        report("merge", 1.0)

        # 2. f16 GGUF; a GGUF base lends its pre-tokenizer name (HF's copy of it may be lossy).
        started = time.perf_counter()
        pre = None
        if base_path.suffix == ".gguf":
            pre = read_gguf_metadata(base_path, ("tokenizer.ggml.pre",)).get("tokenizer.ggml.pre")
        f16_path = ws.models_dir / "gguf" / f"{stem}.f16.gguf"
        export_gguf(hf_dir, f16_path, out_type="f16", name=stem, tokenizer_pre=pre,
                    progress=lambda done, total: report("gguf", done / max(total, 1)))
        written.append(f16_path)
        timings["gguf_s"] = time.perf_counter() - started

        # 3. quantize (f16 is already the final file).
        started = time.perf_counter()
        final_path, quant_path = f16_path, None
        if quant != "f16":
            report("quantize", 0.0)
            quant_path = ws.models_dir / "gguf" / f"{stem}.gguf"
            result = quantize_gguf(f16_path, quant_path, quant, n_threads=ws.settings.serving.n_threads)
            written.append(quant_path)
            final_path = quant_path
            if result.fallback:
                notes.append(result.fallback)
            report("quantize", 1.0)
        timings["quantize_s"] = time.perf_counter() - started

        # 4. verify before anything is registered.
        started = time.perf_counter()
        report("verify", 0.0)
        with ws.session() as session:
            texts = validation_texts(session, src.start.dataset_id, hf_dir)
        verification = verify_export(hf_dir, f16_path, quant_path, quant, texts=texts or None)
        verification.warnings.extend(notes)
        timings["verify_s"] = time.perf_counter() - started
        report("verify", 1.0)
        if not verification.passed:
            raise ExportVerificationError(
                f"export '{ref}': verification failed, nothing registered: {'; '.join(verification.reasons)}",
                verification.to_dict(),
            )

        # 5. register (one transaction): merged folder, then the GGUF.
        report("register", 0.0)
        if quant_path is not None:
            _cleanup([f16_path])
            written.remove(f16_path)
        architecture = read_hparams(hf_dir).architecture
        return _register(ws, src, stem, merged_name, hf_dir, final_path, quant, architecture,
                         verification.to_dict(), timings, notes)
    except BaseException:
        _cleanup(written)
        raise


def _register(
    ws: Workspace,
    src: _Source,
    stem: str,
    merged_name: str | None,
    hf_dir: Path,
    gguf_path: Path,
    quant: str,
    architecture: str,
    verification: dict[str, Any],
    timings: dict[str, float],
    notes: list[str],
) -> ExportResult:
    with ws.session() as session:
        start = session.get(ModelVersion, src.start.id)
        assert start is not None
        prompts = loads(start.prompts_json, {})
        parent = start
        if src.adapter is not None and merged_name is not None:
            parent = register_version(
                session, version=merged_name, kind="merged", format="hf", path=hf_dir,
                architecture=architecture, parent_id=start.id, run_id=start.run_id,
                dataset_id=start.dataset_id, prompts=prompts, notes=f"merged {start.version} into {src.base.version}",
            )
        sha = sha256_path(gguf_path)
        record = register_version(
            session, version=stem, kind="gguf", format="gguf", path=gguf_path, sha256=sha,
            architecture=architecture, quant=quant, parent_id=parent.id, run_id=start.run_id,
            dataset_id=start.dataset_id, verification=verification, prompts=prompts,
            metrics={"export_timings_s": timings}, notes="; ".join(notes) or None,
        )
        return ExportResult(
            version=record.version, path=record.path, quant=quant, size=record.size_bytes or 0, sha256=sha,
            verification=verification, merged_version=merged_name if src.adapter else None,
            parent=parent.version, timings_s=timings, notes=notes,
        )
