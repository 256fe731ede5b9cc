"""The errors every service raises: a sentence a person can act on, and the field at fault.

Nothing was changed when one is raised. The faces map them: HandoverError to 400,
NotFoundError to 404, ConflictError to 409, a tool error in MCP, a CommandError in the CLI.
"""

from __future__ import annotations


class HandoverError(ValueError):
    """Bad input to a service; nothing was changed."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class NotFoundError(HandoverError):
    """The task or project named does not exist (404 on the API)."""


class ConflictError(HandoverError):
    """The request is well formed, but the thing's current state forbids it (409)."""
