"""`lightdom export`: base + adapter → f16 GGUF (merged while streamed) → quantized GGUF → verified → registered.

No step holds the whole model: the merge happens tensor by tensor inside the GGUF
writer, quantization is llama.cpp's (tensor by tensor), and verification computes its
float32 reference one decoder layer at a time. ``keep_merged`` also keeps a merged HF folder.

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

from lightdom_tui.bounds import row_id
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
        if version is None and row_id(ref) is not None:
            run_id = ref
    if version is None and run_id is not None:
        number = row_id(run_id)  # '²' passes isdigit() but not int(); 2**70 overflows SQLite
        run = session.get(TrainingRun, number) if number is not None else None
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
    """Validation-split conversations of the version's dataset, rendered with its chat template.

    ``tokenizer_dir`` is an HF folder or a GGUF file (its tokenizer is read from the header).
    """
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
    from lightdom_tui.modelio.load import load_tokenizer

    tokenizer = load_tokenizer(tokenizer_dir)
    texts = []
    for messages_json in rows:
        messages = [
            {"role": m.get("role", "user"), "content": m.get("content") or ""} for m in loads(messages_json, [])
        ]
        texts.append(tokenizer.apply_chat_template(messages, tokenize=False))
    return texts


def check_device(device: str) -> str:
    """``cpu`` or an available ``cuda[:N]``; anything else is a one-line error."""
    device = device.strip().lower()
    if device == "cpu":
        return device
    if device == "cuda" or device.startswith("cuda:"):
        import torch

        if not torch.cuda.is_available():
            raise LightdomError(f"device '{device}': no CUDA GPU is visible to torch; use --device cpu")
        return device
    raise LightdomError(f"device '{device}': expected cpu or cuda")


def _cleanup(paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def export_model(
    ws: Workspace,
    ref: str,
    quant: str = "q4_k_m",
    progress: Progress | None = None,
    *,
    keep_merged: bool = True,
    device: str = "cpu",
) -> ExportResult:
    """Merge (when needed), convert to GGUF, quantize, verify and register; see the module docstring.

    The merge is streamed into the GGUF writer, one tensor at a time on ``device``.
    ``keep_merged`` also writes (streamed) and registers the merged HF folder; the CLI's
    ``--keep-merged`` sets it, and it defaults to on here for API callers that expect it.
    """
    from lightdom_tui.modelio.gguf_export import export_gguf, read_gguf_metadata
    from lightdom_tui.modelio.merge import merge_adapter
    from lightdom_tui.modelio.quantize import ftype_for, quantize_gguf
    from lightdom_tui.modelio.verify import verify_export

    quant = quant.strip().lower()
    ftype_for(quant)  # an unknown quant fails before any work
    device = check_device(device)
    report = progress or (lambda stage, fraction: None)
    with ws.session() as session:
        src = resolve_source(session, ref)
        stem = unique_version_name(session, f"{src.start.version}-{quant}")
        keep = keep_merged and src.adapter is not None
        merged_name = unique_version_name(session, f"{src.adapter.version}-merged") if keep else None
    written: list[Path] = []
    timings: dict[str, float] = {}
    notes: list[str] = []
    base_path = Path(src.base.path)
    try:
        # 1. what the GGUF is written from: the merged version itself, the merged folder
        #    (--keep-merged), or the base (HF folder or GGUF) with the adapter merged on the fly.
        started = time.perf_counter()
        report("merge", 0.0)
        adapter_dir = Path(src.adapter.path) if src.adapter is not None else None
        if src.merged is not None:
            model_path, adapter_dir = Path(src.merged.path), None
        elif keep:
            model_path = ws.models_dir / "merged" / merged_name  # type: ignore[operator]
            merge_adapter(base_path, adapter_dir, model_path, device=device)
            written.append(model_path)
            adapter_dir = None
        else:
            model_path = base_path
        timings["merge_s"] = time.perf_counter() - started
        report("merge", 1.0)

        # 2. f16 GGUF; a GGUF base lends its pre-tokenizer name (HF's copy of it may be lossy).
        started = time.perf_counter()
        pre = None
        if base_path.suffix == ".gguf":
            pre = read_gguf_metadata(base_path, ("tokenizer.ggml.pre",)).get("tokenizer.ggml.pre")
        f16_path = ws.models_dir / "gguf" / f"{stem}.f16.gguf"
        exported = export_gguf(model_path, f16_path, out_type="f16", name=stem, tokenizer_pre=pre,
                               adapter=adapter_dir, device=device,
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
            texts = validation_texts(session, src.start.dataset_id, model_path)
        verification = verify_export(model_path, f16_path, quant_path, quant, texts=texts or None,
                                     adapter=adapter_dir, device=device)
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
        return _register(ws, src, stem, merged_name, model_path, final_path, quant, exported.architecture,
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
        if merged_name is not None:
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
            verification=verification, merged_version=merged_name,
            parent=parent.version, timings_s=timings, notes=notes,
        )
