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

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> PromptConfig:
        """Build from a stored ``{"system", "user_template"}`` dict (defaults for what is missing)."""
        data = data or {}
        return cls(
            system=data.get("system") or DEFAULT_SYSTEM_PROMPT,
            user_template=data.get("user_template") or DEFAULT_USER_TEMPLATE,
        )


def render_attribute_messages(
    topic: str, count: int = 8, context: str | None = None, prompts: PromptConfig | None = None
) -> list[dict[str, str]]:
    """Chat messages asking for ``count`` attributes of ``topic``."""
    prompts = prompts or PromptConfig()
    context_block = f"\nContext: {context.strip()}" if context and context.strip() else ""
    user = prompts.user_template.format(topic=topic.strip(), count=count, context_block=context_block)
    return [{"role": "system", "content": prompts.system}, {"role": "user", "content": user}]


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
