"""Edge round trip between two workspaces: pack → unpack → serve → feedback → sync export → ingest.

The edge side runs as subprocesses with the training stack blocked (a meta-path finder
refuses torch, transformers, peft, …), as on a box installed without ``[train]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest
from openai import OpenAI
from sqlmodel import select

from lightdom_tui.db.models import Example

pytestmark = pytest.mark.slow
BLOCKER = '''
import sys

class _NoTrainingStack:
    BLOCKED = ("torch", "transformers", "peft", "bitsandbytes", "accelerate", "datasets")

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.BLOCKED:
            raise ImportError(f"{name} is not installed on this edge box")
        return None

sys.meta_path.insert(0, _NoTrainingStack())
'''


@pytest.fixture()
def edge_env(tmp_path):  # noqa: ANN001, ANN201
    """Environment for edge subprocesses: a sitecustomize that blocks the training stack."""
    site = tmp_path / "edge-site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    probe = subprocess.run([sys.executable, "-c", "import torch"], env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "not installed on this edge box" in probe.stderr
    return env


def _cli(env, home, *args):  # noqa: ANN001, ANN002, ANN202
    done = subprocess.run([sys.executable, "-m", "lightdom_tui.cli", "--home", str(home), *args, "--json"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_pack_unpack_serve_sync_ingest_without_torch_on_the_edge(workspace, edge_env, tmp_path, launch):
    from lightdom_tui.curation.ingest import ingest_paths
    from lightdom_tui.modelio.embedded import embedded_gguf_path
    from lightdom_tui.registry import deploy as dep
    from lightdom_tui.registry.versions import register_version
    from lightdom_tui.serving.pack import pack, unpack
    from lightdom_tui.serving.sync import export_calls
    from lightdom_tui.workspace import create_workspace

    prompts = {"attribute_generation": {"system": "Reply with attribute JSON only.",
                                        "user_template": "Topic: {topic}\nCount: {count}{context_block}"}}
    with workspace.session() as session:
        register_version(session, version="tuned-v1", kind="gguf", format="gguf", path=embedded_gguf_path(),
                         prompts=prompts)
    dep.deploy(workspace, "tuned-v1", ["attribute_generation"], health_check=dep.skip_health_check)
    packed = tmp_path / "tuned-v1.ldpack"
    result = pack(workspace, "tuned-v1", packed)
    assert result.task_routes == ["attribute_generation"] and result.lineage[0]["version"] == "tuned-v1"

    edge = tmp_path / "edge"
    edge_ws = create_workspace(edge)
    edge_ws.settings.serving.n_threads, edge_ws.settings.serving.log_sample_rate = 2, 1.0
    edge_ws.settings.serving.fallback = False
    edge_ws.save_settings()
    unpacked = _cli(edge_env, edge, "unpack", str(packed))
    assert unpacked["registered"] and unpacked["deployed"] == ["attribute_generation"]
    assert unpack(edge_ws, packed).registered is False  # unpacking again changes nothing

    start_gateway, stop_gateway = launch
    process, info = start_gateway(edge, env={"PYTHONPATH": edge_env["PYTHONPATH"]})
    try:
        client = OpenAI(base_url=info["base_url"], api_key="unused", max_retries=0, timeout=120)
        answer = client.chat.completions.with_raw_response.create(
            model="task:attribute_generation", max_tokens=24, temperature=0,
            messages=[{"role": "user", "content": "Attributes for a parking meter."}])
        assert answer.headers["x-lightdom-version"] == "tuned-v1"
        verdict = httpx.post(f"{info['base_url']}/feedback", json={"id": answer.parse().id, "verdict": "accept"})
        assert verdict.status_code == 200, verdict.text
    finally:
        stop_gateway(process)
    exported = _cli(edge_env, edge, "sync", "export", "-o", str(tmp_path / "calls.jsonl"), "--since", "2000-01-01")
    assert exported["records"] == 1 and exported["verdicts"] == 1

    report = ingest_paths(workspace, [tmp_path / "calls.jsonl"])
    assert report.imported == 1
    with workspace.session() as session:
        example = session.exec(select(Example)).one()
        meta = json.loads(example.metadata_json)
    assert example.source.startswith("edge:") and example.status == "pending"
    assert (meta["version"], meta["decision"], meta["call_id"]) == ("tuned-v1", "accept", answer.parse().id)
    again = export_calls(edge_ws, tmp_path / "calls-again.jsonl")  # the same call, exported twice
    assert again.records == 1
    assert ingest_paths(workspace, [tmp_path / "calls-again.jsonl"]).duplicates == 1  # deduplicated here
    edge_ws.close()
