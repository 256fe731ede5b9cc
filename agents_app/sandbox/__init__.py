"""Sandboxed execution of untrusted, generated code: the interface and its backends.

The contract is in ``base``; the backends are ``docker`` (the default when a daemon
answers), ``bwrap`` (bubblewrap) and ``none`` (explicit opt-in, unsandboxed). This module
is their table: ``get_sandbox`` picks one.
"""

from __future__ import annotations

from agents_app.sandbox.base import (
    INSTALL_HINT,
    SANDBOX_CHOICES,
    Limits,
    Mount,
    RunResult,
    Sandbox,
    SandboxError,
    SandboxSession,
    SandboxUnavailable,
)
from agents_app.sandbox.bwrap import BwrapSandbox, bwrap_problem
from agents_app.sandbox.unsandboxed import UnsandboxedSandbox

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


def get_sandbox(choice: str = "auto", limits: Limits | None = None) -> Sandbox:
    """Pick a backend. ``auto``: Docker when a daemon answers, else bwrap, else
    SandboxUnavailable — never unsandboxed. The Docker runner image is built (or found)
    lazily, on the sandbox's first use, not here."""
    normalized = (choice or "auto").strip().lower()
    if normalized not in SANDBOX_CHOICES:
        raise ValueError(
            f"unknown sandbox choice {choice!r}; choose one of: {', '.join(SANDBOX_CHOICES)}"
        )
    if normalized == "none":
        return UnsandboxedSandbox(limits)
    docker_hint = (
        "Install Docker (apt-get install docker.io) and start dockerd, or install bubblewrap "
        "(apt-get install bubblewrap), or opt in to running generated code unsandboxed on "
        "this host with TFACTORY_SANDBOX=none."
    )
    if normalized in ("auto", "docker"):
        try:
            # the docker SDK loads only when Docker is wanted
            from agents_app.sandbox.docker import DockerSandbox, docker_problem
        except ImportError as exc:
            docker_issue: str | None = f"the Docker backend cannot be loaded ({exc})."
        else:
            docker_issue = docker_problem()
            if docker_issue is None:
                return DockerSandbox(limits)
        if normalized == "docker":
            raise SandboxError(f"The Docker sandbox is not usable: {docker_issue} {docker_hint}")
    problem = bwrap_problem()
    if problem is None:
        return BwrapSandbox(limits)
    if normalized == "auto":
        raise SandboxUnavailable(
            f"No usable sandbox: Docker: {docker_issue} bubblewrap: {problem} {docker_hint}"
        )
    raise SandboxError(f"The bubblewrap sandbox is not usable: {problem} {INSTALL_HINT}")
