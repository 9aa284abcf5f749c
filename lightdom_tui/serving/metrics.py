"""Gateway metrics in Prometheus' text exposition format (``GET /metrics``).

Counters and one latency histogram, labelled by version, arm and engine; kept in
memory (a restart starts them at zero, as Prometheus expects of counters).
"""

from __future__ import annotations

import threading
from collections import defaultdict

BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _labels(**labels: str | None) -> tuple[tuple[str, str], ...]:
    return tuple((k, "" if v is None else str(v)) for k, v in labels.items())


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _render(labels: tuple[tuple[str, str], ...], extra: str = "") -> str:
    parts = [f'{k}="{_escape(v)}"' for k, v in labels]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class Metrics:
    """Thread-safe counters of one gateway."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple, int] = defaultdict(int)
        self.tokens: dict[tuple, int] = defaultdict(int)
        self.fallbacks: dict[tuple, int] = defaultdict(int)
        self.errors: dict[tuple, int] = defaultdict(int)
        self.buckets: dict[tuple, list[int]] = {}
        self.latency_sum: dict[tuple, float] = defaultdict(float)
        self.in_flight = 0

    def started(self) -> None:
        """A request began (the in-flight gauge)."""
        with self._lock:
            self.in_flight += 1

    def observe(self, *, version: str | None, arm: str | None, engine: str, status: str, latency_s: float,
                prompt_tokens: int = 0, completion_tokens: int = 0, fallback: bool = False) -> None:
        """Count one finished request (and end its in-flight count)."""
        key = _labels(version=version, arm=arm, engine=engine)
        with self._lock:
            self.in_flight = max(0, self.in_flight - 1)
            self.requests[key + (("status", status),)] += 1
            self.tokens[key + (("kind", "prompt"),)] += prompt_tokens
            self.tokens[key + (("kind", "completion"),)] += completion_tokens
            if fallback:
                self.fallbacks[key] += 1
            if status == "error":  # a cancelled call (its client went away) is no error
                self.errors[key] += 1
            counts = self.buckets.setdefault(key, [0] * (len(BUCKETS_S) + 1))
            for i, bound in enumerate(BUCKETS_S):
                if latency_s <= bound:
                    counts[i] += 1
            counts[-1] += 1
            self.latency_sum[key] += latency_s

    def render(self, log_failures: int = 0, decoding: dict[str, int] | None = None) -> str:
        """The exposition text (``decoding``: per loaded version, the sequences being decoded now)."""
        lines: list[str] = []
        with self._lock:
            for name, kind, help_text, values in (
                ("lightdom_requests_total", "counter", "Gateway requests by outcome.", self.requests),
                ("lightdom_tokens_total", "counter", "Prompt and completion tokens.", self.tokens),
                ("lightdom_fallbacks_total", "counter", "Requests answered by the remote fallback.", self.fallbacks),
                ("lightdom_errors_total", "counter", "Requests that failed.", self.errors),
            ):
                lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
                lines += [f"{name}{_render(labels)} {value}" for labels, value in sorted(values.items())]
            name = "lightdom_request_latency_seconds"
            lines += [f"# HELP {name} Time to the full answer.", f"# TYPE {name} histogram"]
            for labels, counts in sorted(self.buckets.items()):
                for bound, count in zip((*BUCKETS_S, "+Inf"), counts):
                    le = f'le="{bound}"'
                    lines.append(f"{name}_bucket{_render(labels, le)} {count}")
                lines.append(f"{name}_sum{_render(labels)} {self.latency_sum[labels]:.6f}")
                lines.append(f"{name}_count{_render(labels)} {counts[-1]}")
            lines += ["# HELP lightdom_in_flight Requests being answered now.", "# TYPE lightdom_in_flight gauge",
                      f"lightdom_in_flight {self.in_flight}",
                      "# HELP lightdom_log_failures_total Calls answered but not logged (locked database, full disk).",
                      "# TYPE lightdom_log_failures_total counter", f"lightdom_log_failures_total {log_failures}",
                      "# HELP lightdom_decoding_sequences Sequences in the loaded model's batch now.",
                      "# TYPE lightdom_decoding_sequences gauge"]
            lines += [f"lightdom_decoding_sequences{_render(_labels(version=version))} {count}"
                      for version, count in sorted((decoding or {}).items())]
        return "\n".join(lines) + "\n"
