"""TFactory's own tool environments (Pynguin, CrossHair, Semgrep), one venv per pinned list.

Tools with pins that clash with ours or with each other (Pynguin pins an old pytest
and black) live in their own venvs under $TFACTORY_CACHE_DIR/tools/. These are
TFactory's trusted toolchain, installed on the host like TFactory itself; the code
they analyse is never run outside the sandbox.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

HERE = Path(__file__).resolve().parent
RECIPE_VERSION = "1"


class ToolEnvError(RuntimeError):
    pass


@dataclass(frozen=True)
class ToolEnv:
    name: str
    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def site_packages(self) -> Path:
        return next((self.path / "lib").glob("python3*/site-packages"))


def requirements_file(name: str) -> Path:
    """toolenvs/<name>.txt (also baked into the runner image), or toolenvs/host/<name>.txt
    for tools that only ever run on the host."""
    for path in (HERE / f"{name}.txt", HERE / "host" / f"{name}.txt"):
        if path.is_file():
            return path
    raise ToolEnvError(f"no pinned requirements for tool {name!r} ({HERE / f'{name}.txt'})")


def env_dir(name: str) -> Path:
    reqs = requirements_file(name).read_bytes()
    digest = hashlib.sha256(
        reqs + sys.version.encode() + sys.base_prefix.encode() + RECIPE_VERSION.encode()
    ).hexdigest()[:16]
    return Path(settings.TFACTORY_CACHE_DIR) / "tools" / f"{name}-{digest}"


def ensure_tool_env(name: str, emit: Callable[[str], None] = lambda m: None) -> ToolEnv:
    """Return the tool's venv, building it first if needed (once, under a lock)."""
    path = env_dir(name)
    marker = path / ".tfactory-complete"
    if marker.exists():
        return ToolEnv(name, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f"{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():  # another process built it while we waited
            return ToolEnv(name, path)
        if path.exists():
            shutil.rmtree(path)  # a half-built env from a crashed build
        emit(f"building the {name} tool environment (one time) in {path}")
        try:
            subprocess.run(
                [sys.executable, "-m", "venv", str(path)],
                check=True,
                capture_output=True,
                text=True,
            )
            proc = subprocess.run(
                [
                    str(path / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                    "-q",
                    "-r",
                    str(requirements_file(name)),
                ],
                capture_output=True,
                text=True,
                timeout=1800,
            )
            if proc.returncode != 0:
                tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
                raise ToolEnvError(f"installing the {name} tool environment failed:\n{tail}")
        except (subprocess.SubprocessError, OSError, ToolEnvError):
            shutil.rmtree(path, ignore_errors=True)
            raise
        marker.write_text(requirements_file(name).read_text())
        emit(f"{name} tool environment ready")
    return ToolEnv(name, path)
