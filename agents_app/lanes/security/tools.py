"""Running a scanner: a subprocess with a time limit, a home folder of its own and an
environment built from scratch (TFactory's keys and tokens never reach a tool), and the
lane's result as the lanes hand it to the triager."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from findings_app.record import RawFinding
from tasks_app.core.redaction import redact

PASS_ENV = ("PATH", "LANG", "LC_ALL", "TZ")


@dataclass
class ToolRun:
    argv: list[str]
    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    duration_s: float

    def failure(self, name: str) -> str:
        """One sentence on why the run gave no usable output."""
        if self.timed_out:
            return f"{name} did not finish within its time limit ({self.duration_s:.0f} s)"
        tail = " ".join(redact(self.stderr.strip()).splitlines()[-3:])[:300]
        return f"{name} exited with {self.returncode}" + (f": {tail}" if tail else "")


def run_tool(
    argv: list[str],
    *,
    cwd: Path,
    home: Path,
    timeout_s: float,
    env: dict[str, str] | None = None,
) -> ToolRun:
    home.mkdir(parents=True, exist_ok=True)
    environ = {k: v for k, v in os.environ.items() if k in PASS_ENV}
    environ.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
                   XDG_CACHE_HOME=str(home / ".cache"), PYTHONDONTWRITEBYTECODE="1")  # fmt: skip
    environ.update(env or {})
    started = time.monotonic()
    proc = subprocess.Popen(
        [str(a) for a in argv],
        cwd=cwd,
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        timed_out = True
    return ToolRun(
        argv=[str(a) for a in argv],
        returncode=proc.returncode,
        stdout=out.decode("utf-8", "replace"),
        stderr=err.decode("utf-8", "replace"),
        timed_out=timed_out,
        duration_s=round(time.monotonic() - started, 3),
    )


@dataclass
class LaneResult:
    lane: str
    status: str  # done | degraded | failed | skipped
    summary: str
    findings: list[RawFinding] = field(default_factory=list)
    tools: list[dict[str, str]] = field(default_factory=list)  # [{name, version}]
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["findings"] = [f.to_json() for f in self.findings]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LaneResult:
        return cls(
            lane=data["lane"],
            status=data["status"],
            summary=data.get("summary", ""),
            findings=[RawFinding.from_json(f) for f in data.get("findings", [])],
            tools=data.get("tools", []),
            notes=data.get("notes", []),
            extra=data.get("extra", {}),
        )
