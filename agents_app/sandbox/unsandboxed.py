"""The explicit, opt-in unsandboxed backend (``TFACTORY_SANDBOX=none``).

Same interface, same clean environment, same wall-time/cancel kill of the whole process
tree (process group, plus the run's pids cgroup where TFactory may create one, which also
catches children that setsid), same rlimits. But no filesystem or network isolation:
generated code runs on the host as TFactory's own user. ``mounts`` are not enforced.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agents_app.sandbox.base import (
    Mount,
    RunResult,
    Sandbox,
    SandboxError,
    check_paths,
    clean_env,
    pids_cgroup_available,
    supervise,
    to_result,
)


class UnsandboxedSandbox(Sandbox):
    """Runs commands directly on the host. Only ever used when asked for by name."""

    name = "none"
    isolated = False

    def run(
        self,
        argv: Sequence[str],
        *,
        mounts: Sequence[Mount],
        workdir: Path,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        network: bool = False,
        cancel: threading.Event | None = None,
        output_limit: int = 4_000_000,
        python_prefixes: Sequence[Path | str] = (),
    ) -> RunResult:
        del python_prefixes  # everything of the host is visible anyway
        if not argv:
            raise ValueError("argv must not be empty")
        workdir = Path(workdir)
        check_paths(mounts, workdir)
        if not workdir.is_dir():
            raise SandboxError(f"workdir {workdir} does not exist")
        timeout = self.limits.wall_s if timeout_s is None else timeout_s
        try:
            sup = supervise(
                argv,
                limits=self.limits,
                timeout_s=timeout,
                cancel=cancel,
                output_limit=output_limit,
                env=clean_env(env, workdir),
                cwd=workdir,
            )
        except (FileNotFoundError, PermissionError) as exc:
            # The command itself could not be executed: its failure, like exit 127 in a shell.
            return RunResult(
                argv=list(argv),
                returncode=127 if isinstance(exc, FileNotFoundError) else 126,
                stdout="",
                stderr=f"{argv[0]}: {exc.strerror or exc}\n",
                duration_s=0.0,
            )
        return to_result(argv, sup, self.limits, signal_offset=0)

    def describe(self) -> dict[str, Any]:
        limits = self.limits
        cgroup = pids_cgroup_available()
        return {
            "backend": self.name,
            "image": None,
            "isolated": False,
            "network": "not isolated: generated code had the host's network",
            "limits": {
                "wall_s": limits.wall_s,
                "memory_mb": limits.memory_mb,
                "file_mb": limits.file_mb,
                "pids": limits.pids if cgroup else None,
                "tmp_mb": None,
            },
            "enforcement": {
                "wall_s": "TFactory SIGKILLs the process group at the limit (and on cancel)"
                + (", and every process in the run's cgroup" if cgroup else ""),
                "memory_mb": "RLIMIT_AS per process" if limits.memory_mb else "not limited",
                "file_mb": "RLIMIT_FSIZE per file written" if limits.file_mb else "not limited",
                "pids": "cgroup pids controller"
                if cgroup and limits.pids
                else "not enforced (no cgroup could be created)",
                "tmp_mb": "not limited: the host's /tmp",
            },
            "notes": [
                "UNSANDBOXED: generated code ran directly on this host, with TFactory's user, "
                "filesystem and network (TFACTORY_SANDBOX=none was chosen explicitly)",
                "only the environment was cleaned: no host environment variable was passed",
                "processes that leave the process group survive the kill unless a cgroup "
                "could be created"
                if not cgroup
                else "every process of a run is tracked in a cgroup and killed with it",
            ],
        }
