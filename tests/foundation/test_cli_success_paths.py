"""The success paths of `lightdom generate` and `lightdom export` through the CLI, on real
llama.cpp: the embedded SmolLM2 answers `generate`; a LoRA adapter on the tiny Llama is
merged, converted, quantized and verified by `export`. Both JSON and human output."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from lightdom_tui.db.models import RequestLog

pytestmark = pytest.mark.slow

SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")


def _cli(workspace, *args: str):
    from lightdom_tui.cli import app

    result = CliRunner().invoke(app, ["--home", str(workspace.root), *args])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stdout


def test_generate_answers_from_the_embedded_model_and_logs_the_request(workspace) -> None:
    from lightdom_tui.settings import save_settings

    workspace.settings.serving.n_threads = 1  # a shared 2-core box: more threads only contend
    save_settings(workspace.root, workspace.settings)
    out = json.loads(_cli(workspace, "generate", "blog post", "--count", "3", "--json"))
    assert (out["model"], out["engine"]) == ("smollm2-135m-instruct", "local") and out["latency_ms"] > 0
    names = [a["name"] for a in out["attributes"]]
    assert 1 <= len(names) <= 3 and len(set(names)) == len(names) and all(SNAKE.match(n) for n in names)
    assert all(a["type"] in {"string", "number", "boolean", "array", "object", "date"} and a["description"]
               for a in out["attributes"])
    with workspace.session() as session:
        logged = session.get(RequestLog, out["request_log_id"])
    assert logged is not None and (logged.engine, logged.success, logged.model_name) == (
        "local", True, "smollm2-135m-instruct")

    human = _cli(workspace, "generate", "blog post", "--count", "3")  # the same request: the cached answer
    for attribute in out["attributes"]:
        assert f"{attribute['name']} ({attribute['type']})" in human
    assert "smollm2-135m-instruct via cache" in human


@pytest.fixture()
def tiny_lora(workspace, tiny_model_dir: Path) -> str:
    """The tiny base and a LoRA adapter on it with random (nonzero) B, so merging changes the weights."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from lightdom_tui.registry.versions import register_version

    torch.manual_seed(3)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "up_proj"], init_lora_weights=False)
    adapter = workspace.models_dir / "adapters" / "tiny-lora"
    get_peft_model(model, config).save_pretrained(adapter)
    with workspace.session() as session:
        base = register_version(session, version="tiny-llama", kind="base", format="hf", path=tiny_model_dir,
                                architecture="llama")
        register_version(session, version="tiny-lora", kind="adapter", format="peft", path=adapter,
                         parent_id=base.id)
    return "tiny-lora"


def test_export_merges_converts_quantizes_verifies_and_registers(workspace, tiny_lora) -> None:
    human = _cli(workspace, "export", tiny_lora, "--quant", "q8_0")
    found = re.search(r"exported (\S+) \(q8_0, [\d.]+ MiB\)", human)
    assert found, human
    assert "verified: f16 rel diff" in human and "greedy match" in human
    shown = json.loads(_cli(workspace, "models", "show", found.group(1), "--json"))
    model = shown["model"]
    path = Path(model["path"])
    assert (model["kind"], model["format"], model["quant"]) == ("gguf", "gguf", "q8_0")
    assert path.is_file() and path.stat().st_size == model["size_bytes"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == model["sha256"]
    assert [n["version"] for n in shown["lineage"]][-2:] == ["tiny-lora", "tiny-llama"]

    import llama_cpp  # the registered file loads and decodes in llama.cpp as shipped

    llm = llama_cpp.Llama(str(path), n_ctx=64, n_threads=1, verbose=False)
    try:
        assert len(llm.create_completion("Topic:", max_tokens=4, temperature=0.0)["choices"][0]["text"]) >= 0
        assert llm.n_vocab() > 1000
    finally:
        llm.close()
    with workspace.session() as session:
        assert session.exec(select(RequestLog)).all() == []  # exporting serves nothing
