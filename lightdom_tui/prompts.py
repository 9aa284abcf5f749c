"""The attribute-generation contract: prompt, JSON schema and validation.

Shared by serving (render + validate), training (the default prompt for examples
without their own), evaluation, the campaign tree and the shipped samples, so that
what is trained is what is served (DESIGN.md, "Attribute generation").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from lightdom_tui.errors import LightdomError

ATTRIBUTE_TASK = "attribute_generation"
ATTRIBUTE_TYPES = ("string", "number", "boolean", "array", "object", "date")
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")

DEFAULT_SYSTEM_PROMPT = (
    "You design data attributes. Reply with JSON only: "
    '{"attributes":[{"name","type","description"}]}. '
    "Names are unique snake_case; type is one of string, number, boolean, array, object, date."
)
DEFAULT_USER_TEMPLATE = "Topic: {topic}\nCount: {count}{context_block}"

ATTRIBUTE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "attributes": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
                    "type": {"type": "string", "enum": list(ATTRIBUTE_TYPES)},
                    "description": {"type": "string"},
                },
                "required": ["name", "type", "description"],
            },
        }
    },
    "required": ["attributes"],
}


@dataclass
class PromptConfig:
    """The system prompt and user template of one task type (a dataset/version records these)."""

    system: str = DEFAULT_SYSTEM_PROMPT
    user_template: str = DEFAULT_USER_TEMPLATE
    fewshot: int = 0  # remembered examples put before each question (lightdom_tui/fewshot.py)
    memory_dataset: int | None = None  # the dataset version they come from

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> PromptConfig:
        """Build from a stored ``{"system", "user_template"}`` dict (defaults for what is missing).

        An empty system string is kept: examples without a system message train (and are
        served) without one.
        """
        data = data or {}
        system = data.get("system")
        fewshot, memory = data.get("fewshot"), data.get("memory_dataset")
        return cls(
            system=DEFAULT_SYSTEM_PROMPT if not isinstance(system, str) else system,
            user_template=data.get("user_template") or DEFAULT_USER_TEMPLATE,
            fewshot=fewshot if isinstance(fewshot, int) and fewshot > 0 and isinstance(memory, int) else 0,
            memory_dataset=memory if isinstance(memory, int) else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """The stored form."""
        data: dict[str, Any] = {"system": self.system, "user_template": self.user_template}
        if self.fewshot:
            data.update(fewshot=self.fewshot, memory_dataset=self.memory_dataset)
        return data


def render_attribute_messages(
    topic: str, count: int = 8, context: str | None = None, prompts: PromptConfig | None = None,
    shots: list[Any] | None = None,
) -> list[dict[str, str]]:
    """Chat messages asking for ``count`` attributes of ``topic``; ``shots`` (objects with ``topic``,
    ``count``, ``answer``: remembered examples) go before the question as earlier turns."""
    prompts = prompts or PromptConfig()
    context_block = f"\nContext: {context.strip()}" if context and context.strip() else ""
    user = prompts.user_template.format(topic=topic.strip(), count=count, context_block=context_block)
    system = [{"role": "system", "content": prompts.system}] if prompts.system else []
    earlier: list[dict[str, str]] = []
    for shot in shots or []:
        asked = prompts.user_template.format(topic=shot.topic.strip(), count=shot.count, context_block="")
        earlier += [{"role": "user", "content": asked}, {"role": "assistant", "content": shot.answer}]
    return [*system, *earlier, {"role": "user", "content": user}]


def version_prompts(stored: Any, task_type: str = ATTRIBUTE_TASK) -> PromptConfig:
    """THE answer to "which system prompt and user template does this model version use".

    ``stored`` is a version (anything with ``prompts_json``), its JSON text, or the decoded
    dict: per task type ``{"system", "user_template"}`` as recorded from the dataset the
    version was trained on and copied through merge and export. Attribute requests under
    another label (a deployment's ``health_check`` canary) use the attribute entry, and a
    flat ``{"system", "user_template"}`` dict is accepted. A base model with nothing recorded
    gets the product default. Serving, evaluation, simulation and canaries all call this.
    """
    if hasattr(stored, "prompts_json"):
        stored = stored.prompts_json
    if isinstance(stored, str):
        try:
            stored = json.loads(stored or "{}")
        except json.JSONDecodeError:
            stored = {}
    stored = stored if isinstance(stored, dict) else {}
    for key in (task_type, ATTRIBUTE_TASK):
        if isinstance(stored.get(key), dict):
            return PromptConfig.from_dict(stored[key])
    if "system" in stored or "user_template" in stored:
        return PromptConfig.from_dict(stored)
    return PromptConfig()


_TOPIC_MARK, _COUNT_MARK = "\x00TOPIC\x00", "\x00COUNT\x00"


def infer_attribute_prompt(
    messages: list[dict[str, Any]], topic: str, count: int | None, context: str | None = None
) -> PromptConfig | None:
    """The system prompt and user template an attribute example was written with, or None.

    The first user message becomes the template: the topic (and the count, as a whole
    number) are replaced by ``{topic}`` / ``{count}``, braces in the wording are escaped,
    a trailing ``Context: …`` block becomes ``{context_block}`` (one is appended when the
    wording has none, so served requests with context keep working). Accepted only when
    rendering the template back reproduces the example's system and user messages exactly.
    """
    system = messages[0]["content"] if messages and messages[0].get("role") == "system" else ""
    user = next((m.get("content") for m in messages if m.get("role") == "user"), None)
    topic = (topic or "").strip()
    if not isinstance(user, str) or not isinstance(system, str) or not topic or topic not in user:
        return None
    body, context_text = user, (context or "").strip()
    if not context_text:  # a context block the metadata does not name (campaign examples): split it off
        found = re.search(r"\nContext: (.+)\Z", body, re.DOTALL)
        context_text = found.group(1).strip() if found and topic not in found.group(1) else ""
    block = f"\nContext: {context_text}"
    if context_text and body.endswith(block):
        body = body[: -len(block)]
    marked = body.replace(topic, _TOPIC_MARK, 1)
    if count is not None:
        marked = re.sub(rf"(?<![0-9]){count}(?![0-9])", _COUNT_MARK, marked, count=1)
    template = marked.replace("{", "{{").replace("}", "}}")
    template = template.replace(_TOPIC_MARK, "{topic}").replace(_COUNT_MARK, "{count}") + "{context_block}"
    config = PromptConfig(system=system, user_template=template)
    try:
        rendered = render_attribute_messages(topic, count or 0, context_text or None, config)
    except (KeyError, IndexError, ValueError):
        return None
    expected = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    return config if rendered == expected else None


@dataclass
class AttributeCheck:
    """Result of validating a model answer against the attribute contract."""

    attributes: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    json_valid: bool = False

    @property
    def ok(self) -> bool:
        return self.json_valid and not self.errors and bool(self.attributes)


def validate_attribute_answer(text: str) -> AttributeCheck:
    """Parse and check an answer: JSON object, attribute list, snake_case unique names, allowed types."""
    check = AttributeCheck()
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError) as exc:
        check.errors.append(f"not JSON: {exc}")
        return check
    check.json_valid = True
    if not isinstance(data, dict) or not isinstance(data.get("attributes"), list):
        check.errors.append('expected an object with an "attributes" list')
        return check
    seen: set[str] = set()
    for index, item in enumerate(data["attributes"]):
        where = f"attributes[{index}]"
        if not isinstance(item, dict):
            check.errors.append(f"{where}: not an object")
            continue
        name, kind = item.get("name"), item.get("type")
        if not isinstance(name, str) or not SNAKE_CASE.match(name):
            check.errors.append(f"{where}.name: {name!r} is not snake_case")
            continue
        if name in seen:
            check.errors.append(f"{where}.name: duplicate {name!r}")
            continue
        if kind not in ATTRIBUTE_TYPES:
            check.errors.append(f"{where}.type: {kind!r} not in {', '.join(ATTRIBUTE_TYPES)}")
            continue
        seen.add(name)
        attribute = {"name": name, "type": kind, "description": str(item.get("description", ""))}
        if isinstance(item.get("validation"), dict):
            attribute["validation"] = item["validation"]
        check.attributes.append(attribute)
    return check


def normalise_name(name: str) -> str:
    """Name form used for matching against references: lower case, separators unified."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


# --------------------------------------------------------------------------- tool calls in chat templates


def _tool_call_parts(call: dict[str, Any]) -> tuple[str, Any]:
    function = call.get("function", call)
    name = function.get("name")
    if not name:
        raise LightdomError(f"tool call {call!r}: has no function name")
    arguments = function.get("arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            pass  # keep the raw text: the model must learn exactly what was logged
    return name, arguments


def _hermes_text(content: str | None, tool_calls: list[dict[str, Any]]) -> str:
    parts = [content] if content else []
    for call in tool_calls:
        name, arguments = _tool_call_parts(call)
        payload = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
        parts.append(f"<tool_call>\n{payload}\n</tool_call>")
    return "\n".join(parts)


def messages_for_template(template: str | None, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages in the shape a chat template expects; training and eval-loss scoring both use it.

    Templates that render ``tool_calls`` themselves get them with arguments parsed to objects;
    the others (SmolLM2) get each call written into the assistant text in the Hermes
    ``<tool_call>`` format, so no call is dropped and no content is ``None``.
    """
    native = "tool_calls" in str(template or "")
    prepared = []
    for message in messages:
        message = dict(message)
        calls = message.get("tool_calls") or []
        if calls and native:
            message["tool_calls"] = [
                {"type": "function", "id": c.get("id"), "function": dict(zip(("name", "arguments"), _tool_call_parts(c)))}
                for c in calls
            ]
        elif calls:
            message["content"] = _hermes_text(message.get("content"), calls)
            message.pop("tool_calls")
        if message.get("content") is None:
            message["content"] = ""
        prepared.append(message)
    return prepared
