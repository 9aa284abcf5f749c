"""Remote engine: any OpenAI-compatible ``/chat/completions`` API (DeepSeek's by default).

Only the configured base URL is contacted. Each attempt has ``remote_timeout_s``;
timeouts, connection errors, 429 and 5xx are retried ``remote_retries`` times with
exponential backoff; 401/403 and other 4xx are not (they will not get better).
The key is sent in the Authorization header and nowhere else: error messages are
scrubbed of it, and it is never logged or stored.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from lightdom_tui.errors import LightdomError
from lightdom_tui.redact import clip
from lightdom_tui.inference.engine import ChatReply
from lightdom_tui.settings import ServingSettings

BACKOFF_S = 0.5
BACKOFF_MAX_S = 4.0
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class RemoteError(LightdomError):
    """The remote API failed; the message says how and what to do."""


@dataclass
class RemoteEngine:
    """A :class:`ChatEngine` over HTTP."""

    settings: ServingSettings
    api_key: str | None = None
    send_schema: bool = False  # OpenAI-style APIs take {"type": "json_object"} only

    @property
    def model_name(self) -> str:
        """The remote model as configured."""
        return self.settings.remote_model

    def _scrub(self, text: str, limit: int) -> str:
        """``text`` cut to ``limit`` characters with the key masked first (a key across the cut would leak)."""
        return clip(text, limit, [self.api_key])

    def _payload(self, messages: list[dict[str, Any]], max_tokens: int, temperature: float,
                 response_format: dict[str, Any] | None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.settings.remote_model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if response_format is not None:
            payload["response_format"] = (
                response_format if self.send_schema else {"type": response_format.get("type", "json_object")}
            )
        return payload

    def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float,
        response_format: dict[str, Any] | None = None,
        repeat_penalty: float = 1.0,
        unique_names: bool = False,
    ) -> ChatReply:
        """One completion with bounded retries; raises :class:`RemoteError` with a clear reason.

        ``repeat_penalty`` and ``unique_names`` are local decoder controls an OpenAI API does not take.
        """
        payload = self._payload(messages, max_tokens, temperature, response_format)
        return self._parse(self._post(payload), self.settings.remote_base_url.rstrip("/"))

    def forward(self, payload: dict[str, Any], *, base_url: str | None = None, require_key: bool = True) -> dict[str, Any]:
        """Send an OpenAI chat-completions body as is (the gateway's remote routes and fallback); the parsed reply."""
        base = (base_url or self.settings.remote_base_url).rstrip("/")
        body = self._post(payload, base_url=base, require_key=require_key)
        try:
            data = json.loads(body)
            data["choices"][0]["message"]
        except (json.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
            raise RemoteError(
                f"remote API {base}: malformed response ({type(exc).__name__}): {self._scrub(body, 120)!r}"
            ) from None
        return data

    def _post(self, payload: dict[str, Any], *, base_url: str | None = None, require_key: bool = True) -> str:
        """POST ``payload`` to ``/chat/completions`` with bounded retries; the response body."""
        import httpx

        base = (base_url or self.settings.remote_base_url).rstrip("/")
        if require_key and not self.api_key:
            raise RemoteError(
                f"remote API {base}: no API key for {self.settings.remote_provider!r} "
                f"(lightdom keys set {self.settings.remote_provider}, or set {self.settings.api_key_env})"
            )
        if self.api_key and not (self.api_key.isascii() and self.api_key.isprintable()):
            raise RemoteError(
                f"remote API {base}: the API key for {self.settings.remote_provider!r} has non-ASCII or control "
                f"characters; store it again (lightdom keys set {self.settings.remote_provider})"
            )
        url = f"{base}/chat/completions"
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        timeout = httpx.Timeout(self.settings.remote_timeout_s)
        attempts = max(0, self.settings.remote_retries) + 1
        last = ""
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            for attempt in range(attempts):
                if attempt:
                    time.sleep(min(BACKOFF_S * 2 ** (attempt - 1), BACKOFF_MAX_S))
                try:
                    response = client.post(url, headers=headers, json=payload)
                except httpx.TimeoutException:
                    last = f"no answer within {self.settings.remote_timeout_s:g} s"
                    continue
                except httpx.TransportError as exc:
                    last = f"connection failed: {type(exc).__name__}"
                    continue
                if response.status_code in (401, 403):
                    raise RemoteError(
                        f"remote API {base}: {response.status_code} unauthorized: the key for "
                        f"{self.settings.remote_provider!r} was refused (lightdom keys set {self.settings.remote_provider})"
                    )
                if response.status_code in RETRY_STATUS:
                    last = f"HTTP {response.status_code}"
                    continue
                if response.status_code >= 400:
                    raise RemoteError(
                        f"remote API {base}: HTTP {response.status_code}: {self._scrub(response.text, 200)}"
                    )
                return response.text
        raise RemoteError(f"remote API {base}: {last} after {attempts} attempt(s)")

    def _parse(self, body: str, base: str) -> ChatReply:
        try:
            data = json.loads(body)
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
            usage = data.get("usage") or {}
        except (json.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise RemoteError(
                f"remote API {base}: malformed response ({type(exc).__name__}): {self._scrub(body, 120)!r}"
            ) from None
        return ChatReply(
            text=text,
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        )
