"""Typed messages that workers post back to the widgets (never touching widgets themselves)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class StatusInfo:
    """What the status bar shows."""

    workspace: str
    deployed: str
    engine: str
    gpu: str


class StatusLoaded(Message):
    """The status bar's facts, read in a worker."""

    def __init__(self, info: StatusInfo) -> None:
        super().__init__()
        self.info = info

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StatusLoaded)


class DataChanged(Message):
    """Something in the database changed (an action ran); panes refresh what they show."""

    def __init__(self, area: str) -> None:
        super().__init__()
        self.area = area


class ServiceNeeded(Message):
    """A worker found that a service module it needs is absent."""

    def __init__(self, module: str) -> None:
        super().__init__()
        self.module = module


class Loaded(Message):
    """Generic result of a worker: ``kind`` names what was loaded, ``payload`` carries it."""

    def __init__(self, kind: str, payload: Any, *, replaceable: bool = False) -> None:
        super().__init__()
        self.kind = kind
        self.payload = payload
        self.replaceable = replaceable

    def can_replace(self, message: Message) -> bool:
        # A newer snapshot of the same kind supersedes an older one still queued.
        return self.replaceable and isinstance(message, Loaded) and message.kind == self.kind
