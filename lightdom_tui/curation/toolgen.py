"""`lightdom toolgen TOOLS.json SCENARIOS.json`: generate valid tool-use chat examples.

TOOLS.json: OpenAI function definitions (``[{"type": "function", "function": {...}}]`` or the
bare ``{"name", "description", "parameters"}``). SCENARIOS.json: a list of templates::

    {"tool": "fetch_page", "user": "Get the title of {url}", "arguments": {"url": "{url}"},
     "result": {"title": "{title}"},            # or "error": "HTTP 404 for {url}"
     "answer": "The title is {title}.", "values": {"url": [...], "title": [...]}, "count": 5}

Each example is system (tool list) → user → assistant tool_calls → tool result → final
answer. Arguments are checked against the function's JSON-schema parameters (required
keys, types, enums), error scenarios produce a tool error and an answer that handles it.
Generated examples carry ``metadata.generated = "toolgen"`` and source ``toolgen``.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightdom_tui.curation.examples import add_example
from lightdom_tui.errors import LightdomError
from lightdom_tui.workspace import Workspace

_SLOT = re.compile(r"^\{(\w+)\}$")
_TYPES = {"string": str, "number": (int, float), "integer": int, "boolean": bool, "array": list, "object": dict}


@dataclass
class ToolgenResult:
    """What toolgen produced."""

    generated: int = 0
    imported: int = 0
    duplicates: int = 0
    error_cases: int = 0
    example_ids: list[int] = field(default_factory=list)


def _load_json(path: Path) -> Any:
    from lightdom_tui.curation.reader import MAX_LINE_BYTES, decode

    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_LINE_BYTES + 1)
    except OSError as exc:
        raise LightdomError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) > MAX_LINE_BYTES:
        raise LightdomError(f"{path}: larger than {MAX_LINE_BYTES} bytes")
    item = decode(data.removeprefix(b"\xef\xbb\xbf"), 1, 1)  # the ingest reader's decoding: never raises
    if item.error is not None:
        raise LightdomError(f"{path}: {item.error}")
    return item.value


def load_tools(path: Path) -> dict[str, dict[str, Any]]:
    """Function definitions by name."""
    data = _load_json(path)
    if isinstance(data, dict):
        data = data.get("tools", [data])
    tools: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(data if isinstance(data, list) else []):
        function = item.get("function", item) if isinstance(item, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise LightdomError(f"{path}: tools[{index}]: expected a function definition with a name")
        tools[function["name"]] = function
    if not tools:
        raise LightdomError(f"{path}: no function definitions found")
    return tools


def render(template: Any, values: dict[str, Any]) -> Any:
    """Fill ``{slot}`` placeholders recursively; a string that is one slot keeps the value's type."""
    if isinstance(template, str):
        whole = _SLOT.match(template)
        if whole and whole.group(1) in values:
            return values[whole.group(1)]
        return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), m.group(0))), template)
    if isinstance(template, dict):
        return {k: render(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [render(v, values) for v in template]
    return template


def check_arguments(arguments: Any, parameters: dict[str, Any], where: str) -> None:
    """Validate arguments against a function's parameters schema (required, types, enums)."""
    if not isinstance(arguments, dict):
        raise LightdomError(f"{where}: arguments must be an object")
    properties = parameters.get("properties", {}) or {}
    for name in parameters.get("required", []) or []:
        if name not in arguments:
            raise LightdomError(f"{where}: required argument {name!r} missing")
    for name, value in arguments.items():
        spec = properties.get(name)
        if spec is None:
            if parameters.get("additionalProperties") is False:
                raise LightdomError(f"{where}: unknown argument {name!r}")
            continue
        expected = _TYPES.get(spec.get("type", ""))
        if expected and (not isinstance(value, expected) or (spec.get("type") != "boolean" and isinstance(value, bool))):
            raise LightdomError(f"{where}: argument {name!r} must be {spec['type']}, got {type(value).__name__}")
        if "enum" in spec and value not in spec["enum"]:
            raise LightdomError(f"{where}: argument {name!r}={value!r} not in {spec['enum']}")


def system_prompt(tools: dict[str, dict[str, Any]]) -> str:
    """System message listing the available tools."""
    lines = ["You are a data assistant. Call a tool when it helps; answer from its result. Tools:"]
    lines += [f"- {name}: {spec.get('description', '')}".rstrip() for name, spec in tools.items()]
    return "\n".join(lines)


def generate(tools: dict[str, dict[str, Any]], scenarios: list[dict[str, Any]], *, seed: int = 0
             ) -> list[tuple[list[dict[str, Any]], dict[str, Any]]]:
    """(messages, metadata) pairs for every scenario × count (deterministic for a seed)."""
    rng = random.Random(seed)
    out = []
    system = system_prompt(tools)
    for index, scenario in enumerate(scenarios):
        where = f"scenarios[{index}]"
        if not isinstance(scenario, dict):
            raise LightdomError(f"{where}: expected an object")
        tool = scenario.get("tool")
        if tool not in tools:
            raise LightdomError(f"{where}.tool: {tool!r} is not defined in the tools file")
        for key in ("user", "answer"):
            if not isinstance(scenario.get(key), str):
                raise LightdomError(f"{where}.{key}: missing template")
        if "result" not in scenario and "error" not in scenario:
            raise LightdomError(f"{where}: needs a \"result\" or an \"error\"")
        slots = scenario.get("values", {}) or {}
        count = int(scenario.get("count", 1))
        for n in range(count):
            values = {k: rng.choice(v) if isinstance(v, list) and v else v for k, v in slots.items()}
            arguments = render(scenario.get("arguments", {}), values)
            check_arguments(arguments, tools[tool].get("parameters", {}) or {}, f"{where} (example {n + 1})")
            is_error = "error" in scenario
            payload = {"error": render(scenario["error"], values)} if is_error else render(scenario["result"], values)
            call_id = f"call_{index}_{n}"
            messages = [
                {"role": "system", "content": scenario.get("system") or system},
                {"role": "user", "content": render(scenario["user"], values)},
                {"role": "assistant", "content": None, "tool_calls": [{
                    "id": call_id, "type": "function",
                    "function": {"name": tool, "arguments": json.dumps(arguments, ensure_ascii=False, sort_keys=True)},
                }]},
                {"role": "tool", "tool_call_id": call_id, "name": tool,
                 "content": json.dumps(payload, ensure_ascii=False, sort_keys=True)},
                {"role": "assistant", "content": render(scenario["answer"], values)},
            ]
            out.append((messages, {"generated": "toolgen", "tool": tool, "scenario": index, "error_case": is_error}))
    return out


def toolgen(ws: Workspace, tools_path: Path, scenarios_path: Path, *, seed: int = 0,
            task_type: str = "tool_use", status: str = "pending") -> ToolgenResult:
    """Generate examples from the two files and add them to the workspace."""
    tools = load_tools(tools_path)
    scenarios = _load_json(scenarios_path)
    if isinstance(scenarios, dict):
        scenarios = scenarios.get("scenarios", [])
    if not isinstance(scenarios, list) or not scenarios:
        raise LightdomError(f"{scenarios_path}: expected a non-empty list of scenarios")
    result = ToolgenResult()
    with ws.session() as session:
        from sqlalchemy import func
        from sqlmodel import select

        from lightdom_tui.db.models import Example

        newest = session.exec(select(func.max(Example.id))).one() or 0
        for messages, metadata in generate(tools, scenarios, seed=seed):
            result.generated += 1
            result.error_cases += metadata["error_case"]
            example = add_example(session, messages, task_type=task_type, source="toolgen", status=status,
                                  metadata=metadata, context_tokens=ws.settings.curation.context_tokens)
            if example.id <= newest or example.id in result.example_ids:
                result.duplicates += 1
            else:
                result.imported += 1
                result.example_ids.append(example.id)
    return result
