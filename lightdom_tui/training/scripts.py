"""`lightdom train --export-script DIR`: a standalone script + config + data reproducing a run.

The script is ``standalone_train.py`` copied verbatim (plain transformers/peft, no
LightDom import); the config carries every TrainConfig field plus the base model
folder (a GGUF base is dequantised to its cached HF folder first) and the data files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lightdom_tui.errors import LightdomError

if TYPE_CHECKING:  # pragma: no cover
    from lightdom_tui.training.config import TrainRequest
    from lightdom_tui.workspace import Workspace

SCRIPT_NAME = "train.py"
CONFIG_NAME = "config.json"
TRAIN_FILE = "train.jsonl"
VALIDATION_FILE = "validation.jsonl"


@dataclass
class ExportedScript:
    """Files written by an export and the command that runs them."""

    directory: Path
    script: Path
    config: Path
    train_file: Path
    validation_file: Path
    train_examples: int
    validation_examples: int
    command: str


def standalone_source() -> str:
    """Source of the standalone training script."""
    return (Path(__file__).with_name("standalone_train.py")).read_text(encoding="utf-8")


def _write_jsonl(path: Path, chats: list[list[dict[str, Any]]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for messages in chats:
            handle.write(json.dumps({"messages": messages}, ensure_ascii=False) + "\n")


def export_script(workspace: Workspace, request: TrainRequest, directory: Path, output_dir: str = "output") -> ExportedScript:
    """Write train.py, config.json and the dataset's chats to ``directory``."""
    from lightdom_tui.modelio.load import resolve_base, trainable_folder
    from lightdom_tui.training.data import dataset_rows, get_dataset
    from lightdom_tui.training.trainer import resolve_config

    config, _preset = resolve_config(workspace, request)
    with workspace.session() as session:
        dataset = get_dataset(session, request.dataset)
        assert dataset.id is not None
        train = [messages for _example, messages in dataset_rows(session, dataset.id, "train")]
        validation = [messages for _example, messages in dataset_rows(session, dataset.id, "validation")]
    if not train:
        raise LightdomError(f"dataset '{request.dataset}': has no training examples to export")
    base = resolve_base(workspace, request.base or workspace.settings.training.base)
    folder = trainable_folder(workspace, base)
    directory = Path(directory).expanduser().resolve()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / SCRIPT_NAME).write_text(standalone_source(), encoding="utf-8")
        _write_jsonl(directory / TRAIN_FILE, train)
        _write_jsonl(directory / VALIDATION_FILE, validation)
        target = config.target_modules
        payload = {
            **config.to_dict(),
            "target_modules": target if isinstance(target, str) else list(target),
            "base_model": str(folder),
            "train_file": TRAIN_FILE,
            "validation_file": VALIDATION_FILE,
            "output_dir": output_dir,
            "dataset": f"{dataset.name}@{dataset.version}",
            "manifest_hash": dataset.manifest_hash,
        }
        (directory / CONFIG_NAME).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise LightdomError(f"export folder {directory}: could not be written ({exc})") from exc
    return ExportedScript(
        directory=directory,
        script=directory / SCRIPT_NAME,
        config=directory / CONFIG_NAME,
        train_file=directory / TRAIN_FILE,
        validation_file=directory / VALIDATION_FILE,
        train_examples=len(train),
        validation_examples=len(validation),
        command=f"python {SCRIPT_NAME} --config {CONFIG_NAME}",
    )

