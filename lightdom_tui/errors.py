"""Errors that are the user's to fix: the CLI prints them as one line, no traceback."""

from __future__ import annotations


class LightdomError(Exception):
    """A clear, user-facing error; the message names the input at fault."""


class NotAWorkspaceError(LightdomError):
    """The chosen folder has not been initialised with ``lightdom init``."""


class SchemaTooNewError(LightdomError):
    """The database was written by a newer LightDom than this one."""
