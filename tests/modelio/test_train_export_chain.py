"""The product's path end to end: `train` (real peft, tiny Llama) → `export run:ID` (q4_k_m, streamed
merge, no merged folder) → llama.cpp answers from the registered GGUF."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _dataset(workspace, n: int = 8, n_validation: int = 2) -> str:
    from lightdom_tui.db.models import Dataset, DatasetItem, Example

    with workspace.session() as session:
        ids = []
        for i in range(n):
            chat = [{"role": "system", "content": "You design data attributes."},
                    {"role": "user", "content": f"Topic: item {i}\nCount: 1"},
                    {"role": "assistant", "content": json.dumps(
                        {"attributes": [{"name": f"field_{i}", "type": "string", "description": "a field"}]})}]
            text = json.dumps(chat, sort_keys=True)
            example = Example(source="test", task_type="attribute_generation", status="approved",
                              messages_json=text, content_hash=hashlib.sha256(text.encode()).hexdigest())
            session.add(example)
            session.flush()
            ids.append(example.id)
        dataset = Dataset(name="chain", version=1, manifest_hash=hashlib.sha256(str(ids).encode()).hexdigest(),
                          n_train=n - n_validation, n_validation=n_validation, prompts_json="{}")
        session.add(dataset)
        session.flush()
        for position, example_id in enumerate(ids):
            split = "validation" if position >= n - n_validation else "train"
            session.add(DatasetItem(dataset_id=dataset.id, example_id=example_id, split=split))
    return "chain"


def test_trained_adapter_exports_by_run_id_and_llama_cpp_answers(workspace, tiny_model_dir: Path):
    import llama_cpp
    from sqlmodel import select

    from lightdom_tui.db.models import ModelVersion
    from lightdom_tui.modelio.pipeline import export_model
    from lightdom_tui.registry.versions import register_version
    from lightdom_tui.training.config import TrainRequest
    from lightdom_tui.training.trainer import train

    with workspace.session() as session:
        register_version(session, version="tiny-llama", kind="base", format="hf", path=tiny_model_dir,
                         architecture="llama")
    trained = train(workspace, TrainRequest(dataset=_dataset(workspace), base="tiny-llama", preset="tiny-cpu",
                                            overrides={"max_steps": 2, "save_steps": 2, "eval_steps": 2,
                                                       "max_seq_len": 128}))
    assert trained.status == "completed" and trained.adapter_version

    result = export_model(workspace, f"run:{trained.run_id}", keep_merged=False)

    assert result.quant == "q4_k_m" and result.verification["passed"], result.verification["reasons"]
    assert result.verification["quant"]["texts"] == 2  # the run's validation split was the quantization check
    assert result.merged_version is None and result.parent == trained.adapter_version
    with workspace.session() as session:
        gguf = session.exec(select(ModelVersion).where(ModelVersion.version == result.version)).one()
        adapter = session.get(ModelVersion, gguf.parent_id)
    assert (adapter.version, gguf.run_id, gguf.kind) == (trained.adapter_version, trained.run_id, "gguf")
    llm = llama_cpp.Llama(result.path, verbose=False, n_ctx=256, n_threads=2)
    try:
        reply = llm.create_chat_completion([{"role": "user", "content": "Topic: item 3\nCount: 1"}],
                                           max_tokens=6, temperature=0)
    finally:
        llm.close()
    assert reply["choices"][0]["message"]["content"] and reply["usage"]["completion_tokens"] >= 1
