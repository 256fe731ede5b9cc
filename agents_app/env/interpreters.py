"""Which Python a project's environment is made with: the one its `requires-python` (or
`.tfactory.yml`'s `setup.python`) accepts, among those the sandbox can run.

bubblewrap and the unsandboxed backend run the host's interpreters (TFactory's own, the
system's, pyenv's, …); the Docker backend runs its image's only. The sandbox's default
interpreter is taken whenever it is acceptable; otherwise the newest acceptable one.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

# where a host keeps other Pythons
HOST_PATTERNS = (
    "/usr/bin/python3.*",
    "/usr/local/bin/python3.*",
    "/opt/python*/bin/python3",
    "~/.pyenv/versions/*/bin/python3",
    "/root/.pyenv/versions/*/bin/python3",
)


@dataclass(frozen=True)
class Interpreter:
    path: str
    version: str  # "3.12.1"

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])


class NoInterpreter(LookupError):
    """No interpreter the sandbox can run is acceptable; the message says which exist."""


def version_of(python: str) -> str | None:
    """The interpreter's version, asked of it (a host interpreter: trusted code only)."""
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            capture_output=True,
            text=True,
            timeout=30,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = out.stdout.strip()
    return text if out.returncode == 0 and re.fullmatch(r"\d+\.\d+\.\d+", text) else None


def host_interpreters(default: str) -> list[Interpreter]:
    """The host's Python 3 interpreters, the sandbox's default first."""
    paths = [default]
    for pattern in HOST_PATTERNS:
        for path in sorted(glob.glob(os.path.expanduser(pattern))):
            if re.search(r"python3(\.\d+)?$", path) and os.access(path, os.X_OK):
                paths.append(path)
    found: list[Interpreter] = []
    seen: set[str] = set()
    for path in paths:
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        version = version_of(path)
        if version and Version(version) >= Version("3.8"):
            found.append(Interpreter(path, version))
    return found


def choose(
    candidates: list[Interpreter], requires_python: str | None, wanted: str | None
) -> Interpreter:
    """`wanted` ("3.12") when given, else the first candidate (the sandbox's default) when
    `requires_python` accepts it, else the newest it accepts."""
    if not candidates:
        raise NoInterpreter("no Python interpreter was found")
    have = ", ".join(c.version for c in candidates)
    if wanted:
        for c in candidates:
            if c.minor == wanted:
                return c
        raise NoInterpreter(f".tfactory.yml asks for Python {wanted}; the sandbox has {have}")
    if not requires_python:
        return candidates[0]
    try:
        spec = SpecifierSet(requires_python)
    except InvalidSpecifier:
        return candidates[0]  # pip will say what it thinks of it

    def accepted(c: Interpreter) -> bool:
        try:
            return spec.contains(Version(c.version), prereleases=True)
        except InvalidVersion:
            return False

    if accepted(candidates[0]):
        return candidates[0]
    fitting = sorted((c for c in candidates if accepted(c)), key=lambda c: Version(c.version))
    if not fitting:
        raise NoInterpreter(
            f"the project requires Python {requires_python}; the sandbox has {have}"
        )
    return fitting[-1]


def base_prefix(python: str) -> Path:
    """The installation an interpreter belongs to (what a sandbox must bind to run it)."""
    real = Path(os.path.realpath(python))
    return real.parent.parent
