"""The sandbox interface shared by every backend, and the process supervision they share.

A backend runs one command (``argv``) with a set of host paths mounted at the same path
inside the sandbox, a clean environment, a wall-time limit enforced by TFactory, and
best-effort resource limits. It never raises for the command's own failure: that is a
``RunResult`` with a non-zero ``returncode``. It raises ``SandboxError`` only when the
sandbox itself could not be set up.

No Django imports here: callers pass settings values in.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

SANDBOX_CHOICES = ("auto", "bwrap", "docker", "none")

# The stdlib-only helpers that run inside the sandbox (the runner image carries a copy).
RUNNER_SIDE = Path(__file__).resolve().parent / "runner_side"

# The environment every sandboxed command starts from; the caller's env is laid over it.
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"

# The sandbox's private temporary directory (a fresh tmpfs under bwrap).
SANDBOX_TMP = "/tmp"  # noqa: S108 - inside the sandbox, not the host's /tmp

# How often the supervisor looks at the clock and the cancel event (seconds).
POLL_S = 0.1

LIMIT_WALL_TIME = "wall_time"
LIMIT_MEMORY = "memory"
LIMIT_PIDS = "pids"
LIMIT_FILE_SIZE = "file_size"
LIMIT_CANCELLED = "cancelled"


@dataclass(frozen=True)
class Mount:
    """A host path that appears at the same path inside the sandbox."""

    path: Path
    writable: bool = False


@dataclass(frozen=True)
class Limits:
    """Resource limits for every run of one sandbox. ``describe()`` says which are enforced."""

    wall_s: float = 600  # default wall-time per run; run() takes timeout_s per call
    memory_mb: int | None = 4096  # RLIMIT_AS (address space), best effort
    file_mb: int | None = 1024  # RLIMIT_FSIZE: largest file a command may write
    pids: int | None = 512  # cgroup pids controller when TFactory may create cgroups
    tmp_mb: int | None = 1024  # size of the sandbox's private /tmp (bwrap tmpfs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "wall_s": self.wall_s,
            "memory_mb": self.memory_mb,
            "file_mb": self.file_mb,
            "pids": self.pids,
            "tmp_mb": self.tmp_mb,
        }


@dataclass
class RunResult:
    """What one sandboxed command did. ``returncode`` is None when TFactory killed it."""

    argv: list[str]
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False
    cancelled: bool = False
    # "wall_time" | "memory" | "pids" | "file_size" | "cancelled" | None (best-effort detection)
    limit_hit: str | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and not self.cancelled


class SandboxError(RuntimeError):
    """The sandbox itself failed (backend missing, setup error), not the command in it."""


class SandboxUnavailable(SandboxError):
    """No usable sandbox backend on this machine."""


INSTALL_HINT = (
    "Install bubblewrap (apt-get install bubblewrap), or opt in to running generated code "
    "unsandboxed on this host with TFACTORY_SANDBOX=none."
)


class SandboxSession:
    """Runs for one task with a fixed set of mounts.

    The default session just passes its mounts to every one-off ``run``; the Docker
    backend keeps one container per task and ``exec``s into it. ``extra_mounts`` of a
    run must lie inside the session's mounts for backends that fix mounts up front.
    Runs in a session never have network access.
    """

    def __init__(
        self, sandbox: Sandbox, key: str, mounts: Sequence[Mount], labels: Mapping[str, str]
    ) -> None:
        self.sandbox = sandbox
        self.key = key
        self.mounts = list(mounts)
        self.labels = dict(labels)

    def run(
        self,
        argv: Sequence[str],
        *,
        workdir: Path,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        cancel: threading.Event | None = None,
        extra_mounts: Sequence[Mount] = (),
        output_limit: int = 4_000_000,
    ) -> RunResult:
        return self.sandbox.run(
            argv,
            mounts=[*self.mounts, *extra_mounts],
            workdir=workdir,
            env=env,
            timeout_s=timeout_s,
            network=False,
            cancel=cancel,
            output_limit=output_limit,
        )

    def close(self) -> None:
        """Release what the session holds (the Docker container); idempotent."""


class Sandbox(ABC):
    """One way of running untrusted commands. See the module docstring for the contract."""

    name: str = ""
    isolated: bool = False
    # The interpreter that creates environments inside this sandbox (project envs), and
    # whether it lives on the host: the host's own for bwrap/none, the image's for Docker.
    env_python: str = sys.executable
    env_python_on_host: bool = True
    # limit_hit values this backend knows for certain (a kernel counter, its own timer);
    # others are inferred from exit codes and output and may name the wrong cause
    exact_limits: frozenset[str] = frozenset({"wall_time", "cancelled"})

    def session(
        self, key: str, *, mounts: Sequence[Mount], labels: Mapping[str, str] | None = None
    ) -> SandboxSession:
        """A session for one task (``key``), reused for all of its runs."""
        return SandboxSession(self, key, mounts, labels or {})

    def release(self, key: str) -> None:
        """Free what a task's session holds (its container), from any process; idempotent.
        Called when the task ends, however it ends."""
        return None

    def builtin_tool(self, name: str) -> Path | None:
        """The venv of TFactory tool ``name`` inside the sandbox, when the sandbox brings
        its own (the Docker image does); None means TFactory mounts its host venv."""
        return None

    def builtin_runner_side(self) -> Path | None:
        """Where the runner-side helpers live inside the sandbox, if it brings them."""
        return None

    def prepare_writable(self, path: Path) -> None:
        """Make a host folder TFactory created writable for the sandbox's user.

        Called on fresh, empty folders (and on copies TFactory just made, before any
        sandboxed code ran in them). No-op where the sandbox runs as the host user.
        """
        return None

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()

    @abstractmethod
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
        """Run ``argv`` in ``workdir`` with ``mounts``; never raises for the command's failure.

        ``mounts`` are applied parents first (stable by depth), so a writable parent never
        hides a read-only path inside it. ``env`` is laid over the defaults of
        ``clean_env``; nothing of TFactory's own environment is passed. ``timeout_s``
        defaults to ``limits.wall_s``. ``python_prefixes`` are Python installations
        (trusted, chosen by TFactory) made visible read-only besides ``sys.base_prefix``;
        a backend never derives them from files inside the mounts. Raises SandboxError
        when the sandbox itself fails, ValueError for invalid arguments.
        """

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """JSON for report.json ``sandbox``: backend, image, isolated, network, limits, notes."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} limits={self.limits!r}>"


# --------------------------------------------------------------------------------------
# Helpers shared by the subprocess-based backends (bwrap, none).


def clean_env(env: Mapping[str, str] | None, workdir: Path) -> dict[str, str]:
    """The complete environment of a sandboxed command: defaults, then the caller's env.

    Nothing is inherited from TFactory's own environment (which holds API keys).
    """
    result = {
        "PATH": DEFAULT_PATH,
        "LANG": "C.UTF-8",
        "HOME": str(workdir),
        "TMPDIR": SANDBOX_TMP,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    for key, value in (env or {}).items():
        if not key or "=" in key or "\0" in key or "\0" in str(value):
            raise ValueError(f"invalid environment variable {key!r}")
        result[key] = str(value)
    return result


def check_paths(mounts: Sequence[Mount], workdir: Path) -> None:
    """Reject relative paths and mounting the host's root, before anything runs."""
    if not Path(workdir).is_absolute():
        raise ValueError(f"workdir must be an absolute path, got {workdir}")
    for mount in mounts:
        path = Path(mount.path)
        if not path.is_absolute():
            raise ValueError(f"mount paths must be absolute, got {path}")
        if path == Path("/"):
            raise ValueError("mounting the host's root directory into the sandbox is refused")


def read_capped(handle: IO[bytes], limit: int) -> str:
    """Read a whole output file, keeping its head and tail when it is over ``limit`` bytes."""
    handle.flush()
    size = os.fstat(handle.fileno()).st_size
    handle.seek(0)
    if size <= limit:
        return handle.read().decode("utf-8", errors="replace")
    head_n = max(limit // 2, 0)
    tail_n = max(limit - head_n, 0)
    head = handle.read(head_n)
    handle.seek(size - tail_n)
    tail = handle.read(tail_n) if tail_n else b""
    marker = (
        f"\n[tfactory: output truncated, {size - head_n - tail_n} of {size} bytes omitted]\n"
    ).encode()
    return (head + marker + tail).decode("utf-8", errors="replace")


# -- cgroup pids controller (best effort) ----------------------------------------------


def _own_cgroup_dirs() -> list[Path]:
    """Candidate cgroup directories (v1 pids hierarchy, then v2) that hold this process."""
    candidates: list[Path] = []
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return candidates
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        rel = rel.lstrip("/")
        if "pids" in controllers.split(","):
            candidates.append(Path("/sys/fs/cgroup/pids") / rel)
        elif controllers == "":
            for root in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
                if (root / "cgroup.controllers").exists():
                    candidates.append(root / rel)
                    break
    return candidates


class PidsCgroup:
    """A throwaway cgroup with ``pids.max`` that every process of one run is placed in.

    It also gives a complete kill: processes that setsid or double-fork stay in it.
    ``create`` returns None when this host does not let TFactory make one.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.procs_file = str(path / "cgroup.procs")

    @classmethod
    def create(cls, max_pids: int | None) -> PidsCgroup | None:
        for parent in _own_cgroup_dirs():
            path = parent / f"tfactory-{os.getpid()}-{uuid.uuid4().hex[:12]}"
            try:
                path.mkdir()
            except OSError:
                continue
            try:
                if not (path / "pids.max").exists():
                    raise OSError("no pids controller here")
                (path / "pids.max").write_text(str(max_pids) if max_pids else "max")
                return cls(path)
            except OSError:
                try:
                    path.rmdir()
                except OSError:
                    pass
        return None

    def join_current_process(self) -> None:
        """Called in the child between fork and exec (preexec): keep it allocation-light."""
        fd = os.open(self.procs_file, os.O_WRONLY)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in Path(self.procs_file).read_text().split()]
        except (OSError, ValueError):
            return []

    def limit_was_hit(self) -> bool:
        try:
            for line in (self.path / "pids.events").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "max" and int(value) > 0:
                    return True
        except (OSError, ValueError):
            pass
        return False

    def kill_all(self, wait_s: float = 2.0) -> bool:
        """SIGKILL every process in the cgroup until it is empty; True when it emptied."""
        deadline = time.monotonic() + wait_s
        while True:
            pids = self.pids()
            if not pids:
                return True
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                except OSError:
                    pass
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def remove(self) -> None:
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)


_cgroup_probe: bool | None = None
_cgroup_probe_lock = threading.Lock()


def pids_cgroup_available() -> bool:
    """Whether this process may create a pids cgroup (probed once per process)."""
    global _cgroup_probe
    with _cgroup_probe_lock:
        if _cgroup_probe is None:
            group = PidsCgroup.create(1)
            _cgroup_probe = group is not None
            if group is not None:
                group.remove()
        return _cgroup_probe


# -- the child's limits -----------------------------------------------------------------

_PR_SET_PDEATHSIG = 1
try:
    _libc: Any = ctypes.CDLL(None, use_errno=True)
    _prctl: Callable[..., int] | None = _libc.prctl
except (OSError, AttributeError):  # pragma: no cover - non-glibc platforms
    _prctl = None


def _rlimits(limits: Limits) -> list[tuple[int, int]]:
    values: list[tuple[int, int]] = [(resource.RLIMIT_CORE, 0)]
    if limits.memory_mb:
        values.append((resource.RLIMIT_AS, int(limits.memory_mb) * 1024 * 1024))
    if limits.file_mb:
        values.append((resource.RLIMIT_FSIZE, int(limits.file_mb) * 1024 * 1024))
    return values


def make_preexec(limits: Limits, cgroup: PidsCgroup | None) -> Callable[[], None]:
    """The function run in the child after fork (after setsid) and before exec."""
    rlimits = _rlimits(limits)
    prctl = _prctl

    def preexec() -> None:
        if prctl is not None:
            # Die with the TFactory thread that started us (worker crash = sandbox gone).
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if cgroup is not None:
            try:
                cgroup.join_current_process()
            except OSError:
                pass
        for which, value in rlimits:
            soft, hard = resource.getrlimit(which)
            if hard != resource.RLIM_INFINITY and hard < value:
                value = hard
            resource.setrlimit(which, (value, value))

    return preexec


# -- supervision ------------------------------------------------------------------------


@dataclass
class Supervised:
    """The raw outcome of one supervised process (before backend interpretation)."""

    returncode: int | None
    raw_returncode: int
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False
    cancelled: bool = False
    pids_limit_hit: bool = False


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def supervise(
    cmd: Sequence[str],
    *,
    limits: Limits,
    timeout_s: float,
    cancel: threading.Event | None,
    output_limit: int,
    env: Mapping[str, str],
    cwd: Path | None = None,
    stdin: IO[bytes] | int = subprocess.DEVNULL,
    pass_fds: Sequence[int] = (),
) -> Supervised:
    """Start ``cmd`` in its own session and process group with the limits and watch it.

    At the wall-time limit or when ``cancel`` is set (polled every POLL_S) the whole
    process group is SIGKILLed, and so is everything in the run's pids cgroup when one
    could be made (that catches children that setsid or double-fork). Leftover
    processes are killed the same way after a normal exit. Output goes to temporary
    files, never pipes, so a chatty command cannot deadlock us.
    """
    # Made even without a pids limit ("max"): it is what makes the kill complete.
    cgroup = PidsCgroup.create(limits.pids)
    timed_out = cancelled = False
    start = time.monotonic()
    try:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(  # argv list, never a shell string
                list(cmd),
                stdin=stdin,
                stdout=out,
                stderr=err,
                cwd=str(cwd) if cwd is not None else None,
                env=dict(env),
                start_new_session=True,
                pass_fds=tuple(pass_fds),
                # preexec only calls prctl/setrlimit/os.write: safe enough after fork.
                preexec_fn=make_preexec(limits, cgroup),
                close_fds=True,
            )
            deadline = start + max(float(timeout_s), 0.0)
            try:
                while True:
                    remaining = deadline - time.monotonic()
                    try:
                        proc.wait(timeout=max(min(POLL_S, remaining), 0.001))
                        break
                    except subprocess.TimeoutExpired:
                        pass
                    if cancel is not None and cancel.is_set():
                        cancelled = True
                    elif time.monotonic() >= deadline:
                        timed_out = True
                    if cancelled or timed_out:
                        _kill_group(proc.pid)
                        if cgroup is not None:
                            cgroup.kill_all()
                        proc.wait()
                        break
            except BaseException:
                # Interrupted ourselves (KeyboardInterrupt, worker shutdown): leave nothing.
                _kill_group(proc.pid)
                if cgroup is not None:
                    cgroup.kill_all()
                proc.wait()
                raise
            duration = time.monotonic() - start
            # Whatever is left of the tree (daemonised children, setsid'd grandchildren).
            _kill_group(proc.pid)
            pids_hit = False
            if cgroup is not None:
                cgroup.kill_all()
                pids_hit = cgroup.limit_was_hit()
            stdout = read_capped(out, output_limit)
            stderr = read_capped(err, output_limit)
    finally:
        if cgroup is not None:
            cgroup.remove()
    raw = proc.returncode if proc.returncode is not None else -signal.SIGKILL
    return Supervised(
        returncode=None if (timed_out or cancelled) else raw,
        raw_returncode=raw,
        stdout=stdout,
        stderr=stderr,
        duration_s=round(duration, 3),
        timed_out=timed_out,
        cancelled=cancelled,
        pids_limit_hit=pids_hit,
    )


_MEMORY_MARKERS = (
    "MemoryError",
    "Cannot allocate memory",
    "std::bad_alloc",
    "out of memory",
    "Out of memory",
)
_FSIZE_MARKERS = ("File too large", "EFBIG")


def detect_limit(sup: Supervised, limits: Limits, *, signal_offset: int = 0) -> str | None:
    """Best-effort: which limit ended the run. ``signal_offset`` is 128 for bwrap.

    bwrap reports a command killed by signal N as exit 128+N; a direct child is -N.
    """
    if sup.cancelled:
        return LIMIT_CANCELLED
    if sup.timed_out:
        return LIMIT_WALL_TIME
    rc = sup.returncode
    if rc is None or rc == 0:
        return None
    if sup.pids_limit_hit:
        return LIMIT_PIDS
    killed_by = -rc if rc < 0 else (rc - 128 if signal_offset and rc > 128 else 0)
    tail = sup.stderr[-4000:]
    if limits.file_mb and (killed_by == signal.SIGXFSZ or any(m in tail for m in _FSIZE_MARKERS)):
        return LIMIT_FILE_SIZE
    if limits.memory_mb and (
        any(m in tail for m in _MEMORY_MARKERS) or killed_by == signal.SIGKILL
    ):
        return LIMIT_MEMORY
    return None


def to_result(
    argv: Sequence[str], sup: Supervised, limits: Limits, signal_offset: int
) -> RunResult:
    return RunResult(
        argv=list(argv),
        returncode=sup.returncode,
        stdout=sup.stdout,
        stderr=sup.stderr,
        duration_s=sup.duration_s,
        timed_out=sup.timed_out,
        cancelled=sup.cancelled,
        limit_hit=detect_limit(sup, limits, signal_offset=signal_offset),
    )
