"""Sandboxed execution of untrusted, generated code. See ``base`` for the contract.

Backends: ``docker`` (the default when a daemon answers), ``bwrap`` (bubblewrap), ``none``
(explicit opt-in, unsandboxed).
"""

from agents_app.sandbox.base import (
    SANDBOX_CHOICES,
    Limits,
    Mount,
    RunResult,
    Sandbox,
    SandboxError,
    SandboxSession,
    SandboxUnavailable,
    get_sandbox,
)

__all__ = [
    "SANDBOX_CHOICES",
    "Limits",
    "Mount",
    "RunResult",
    "Sandbox",
    "SandboxError",
    "SandboxSession",
    "SandboxUnavailable",
    "get_sandbox",
]
