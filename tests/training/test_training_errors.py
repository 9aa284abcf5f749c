"""Each failure is a clear error naming its input, and nothing is half-registered."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import select
from training_helpers import make_dataset

from lightdom_tui.db.models import ModelVersion, TrainingRun
from lightdom_tui.errors import LightdomError
from lightdom_tui.modelio.load import load_base
from lightdom_tui.training.config import TrainRequest
from lightdom_tui.training.memory import ModelShape, check_fits, estimate_memory
from lightdom_tui.training.presets import get_preset, list_presets
from lightdom_tui.training.trainer import train

GIB = 1 << 30


def versions_and_runs(workspace) -> tuple[list[str], list[TrainingRun]]:
    with workspace.session() as session:
        versions = [v.version for v in session.exec(select(ModelVersion))]
        return versions, list(session.exec(select(TrainingRun)))


def write_gguf(path: Path, architecture: str) -> Path:
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), architecture)
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((8, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_presets_load_and_memory_refusal_names_the_reason() -> None:
    assert {"tiny-cpu", "smollm2-cpu", "7b-24gb", "7b-12gb-qlora"} <= {p.name for p in list_presets()}
    seven_b = ModelShape("llama", hidden=4096, layers=32, intermediate=11008, heads=32, kv_heads=32, vocab=102400,
                         tied_embeddings=False)
    lora = estimate_memory(seven_b, get_preset("7b-24gb").config, "cuda", 12 * GIB)
    with pytest.raises(LightdomError, match="won't fit.*largest part: weights"):
        check_fits(lora)
    qlora = estimate_memory(seven_b, get_preset("7b-12gb-qlora").config, "cuda", 12 * GIB)
    assert qlora.fits and 4 * GIB < qlora.needed_bytes < lora.needed_bytes
    check_fits(lora, force=True)  # --force overrides


@pytest.mark.slow
def test_run_that_cannot_fit_is_refused_before_anything_is_recorded(workspace, tiny_base, small_dataset) -> None:
    request = TrainRequest(dataset=small_dataset, base=tiny_base, preset="tiny-cpu", overrides={"max_seq_len": 50_000_000})
    with pytest.raises(LightdomError, match="won't fit"):
        train(workspace, request)
    assert versions_and_runs(workspace)[1] == []


@pytest.mark.slow
def test_zero_usable_examples_fails_the_run_without_registering(workspace, tiny_base) -> None:
    make_dataset(workspace, "empty", [[{"role": "user", "content": f"question {i}"}] for i in range(4)])
    before = versions_and_runs(workspace)[0]
    with pytest.raises(LightdomError, match="no usable training examples.*4 without an assistant answer"):
        train(workspace, TrainRequest(dataset="empty", base=tiny_base, preset="tiny-cpu"))
    versions, runs = versions_and_runs(workspace)
    assert versions == before and [r.status for r in runs] == ["failed"]
    assert "no usable training examples" in runs[0].error
    assert not any((workspace.models_dir / "adapters").iterdir())


def test_missing_base_path_is_a_clear_error(workspace, small_dataset, tmp_path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(LightdomError, match=f"base model {missing}: no such file or folder"):
        train(workspace, TrainRequest(dataset=small_dataset, base=str(missing), preset="tiny-cpu"))
    with pytest.raises(LightdomError, match="no such file or folder"):
        load_base(missing)
    with pytest.raises(LightdomError, match="base model 'nope': no such version"):
        train(workspace, TrainRequest(dataset=small_dataset, base="nope", preset="tiny-cpu"))
    assert versions_and_runs(workspace) == (["smollm2-135m-instruct"], [])


def test_gguf_of_unsupported_architecture_is_refused(workspace, small_dataset, tmp_path) -> None:
    gguf = write_gguf(tmp_path / "tiny-bert.gguf", "bert")
    with pytest.raises(LightdomError, match="GGUF architecture 'bert' is not supported"):
        load_base(gguf)
    with pytest.raises(LightdomError, match="GGUF architecture 'bert' is not supported"):
        train(workspace, TrainRequest(dataset=small_dataset, base=str(gguf), preset="tiny-cpu"))
    assert versions_and_runs(workspace) == (["smollm2-135m-instruct"], [])
    assert not (workspace.models_dir / "base" / "tiny-bert-hf").exists()


def _can_mount_tmpfs(target: Path) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(target)],
                          capture_output=True).returncode == 0


@pytest.mark.slow
def test_disk_full_on_checkpoint_fails_cleanly(workspace, tiny_base, small_dataset) -> None:
    """models/runs on a 48 KiB tmpfs: the first checkpoint (adapter + Adam state) cannot fit."""
    runs_dir = workspace.runs_dir
    if not _can_mount_tmpfs(runs_dir):
        pytest.skip("needs root and tmpfs to simulate a full disk")
    try:
        request = TrainRequest(dataset=small_dataset, base=tiny_base, preset="tiny-cpu",
                               overrides={"max_steps": 4, "save_steps": 2, "eval_steps": 100, "max_seq_len": 256})
        with pytest.raises(LightdomError, match=r"checkpoint .*step-0000002: could not be written .*No space left"):
            train(workspace, request)
        versions, runs = versions_and_runs(workspace)
        assert "tiny-llama" in versions and not any(v.endswith("run1") for v in versions)
        assert runs[0].status == "failed" and runs[0].last_checkpoint is None
        leftovers = list((runs_dir / "1" / "checkpoints").iterdir())
        assert leftovers == []  # the partial temp checkpoint was removed
    finally:
        subprocess.run(["umount", str(runs_dir)], check=False)
