"""Use cases: one function per thing a user does, shared by the CLI and the TUI.

Each takes a ``Workspace`` and a typed request, owns its transaction (the faces
never open a session) and returns a typed result (a dataclass). The faces parse
input, call exactly one use case and show its result.

Modules import their services inside functions where those are heavy, so that
``lightdom --help`` and the TUI's first paint stay fast.
"""
