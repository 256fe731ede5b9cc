"""The Docker backend: hardened containers from the runner image, one per task.

Every container (one-off or per task) is made the same way:

* the runner image (``ensure_runner_image``), rootfs read-only, ``init=True`` (the
  daemon's tini as pid 1) running ``sleep infinity``. That main process runs as root
  *without any capability*: untrusted code (uid 10001) cannot signal it, so a test doing
  ``kill -9 -1`` or ``kill 1`` cannot stop the container under the other runs;
* every command is an ``exec`` as ``10001:10001``, with its environment passed through
  the API (never argv) and built by ``base.clean_env`` plus a per-run marker
  ``TFACTORY_RUN=<uuid>``;
* ``network_mode="none"`` except one-off runs with ``network=True`` (dependency
  installs), which get the default bridge plus the host's CA bundle and pip configuration,
  read-only. Where the daemon's bridge is broken (docker0 missing), those runs use the
  host's network instead — what bubblewrap gives them too — with a warning and a note in
  ``describe()``;
* ``cap_drop=["ALL"]``, ``no-new-privileges``, a size-capped tmpfs ``/tmp``, memory
  (= memory+swap), pids, CPU (``TFACTORY_SANDBOX_CPUS``, default all cores), ulimits
  (fsize, nproc, core), labels ``org.tfactory.*``;
* bind mounts at the host's own paths, read-only unless ``Mount.writable``. No Docker
  socket, no host file outside the mounts.

A one-off ``run`` makes a container, execs the command, and always removes the
container (killing everything in it). A session keeps one container per task
(``tfactory-<key>``) and execs into it; a run that times out, is cancelled or simply ends
is followed by a reaper exec that SIGKILLs the processes carrying that run's marker, their
descendants, and orphans (children of pid 1) that carry no marker, or the marker of a
run that is no longer active — never pid 1, never root's processes, never other active
runs' processes.

Limits are detected from the container's cgroup counters read on the host
(``memory.oom_control`` ``oom_kill`` and ``pids.events`` ``max`` for cgroup v1,
``memory.events``/``pids.events`` for v2), before and after each run. That needs TFactory
in the same pid namespace as the daemon's containers (a local daemon); otherwise
detection falls back to exit codes and messages (see ``describe()``).

Every API call goes through a client with a timeout; a daemon that is gone or stops
answering raises ``DockerDaemonError`` (a ``SandboxError``) with a sentence a person can
act on: at once when the daemon died (its sockets close), within the API timeout when it
hangs. What such a run leaves behind is removed later by ``reap_orphan_containers``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
import docker.types
import requests.exceptions

from agents_app.sandbox.base import (
    DEFAULT_PATH,
    LIMIT_CANCELLED,
    LIMIT_FILE_SIZE,
    LIMIT_MEMORY,
    LIMIT_PIDS,
    LIMIT_WALL_TIME,
    POLL_S,
    SANDBOX_TMP,
    Limits,
    Mount,
    RunResult,
    Sandbox,
    SandboxError,
    SandboxSession,
    check_paths,
    clean_env,
)

try:
    from agents_app.sandbox import docker_image as _image_module
except ModuleNotFoundError as _exc:  # pragma: no cover - only while the builder is missing
    if _exc.name != "agents_app.sandbox.docker_image":
        raise
    _image_module = None

log = logging.getLogger(__name__)

RUNNER_UID: int = getattr(_image_module, "RUNNER_UID", 10001)
RUNNER_GID: int = getattr(_image_module, "RUNNER_GID", 10001)
TOOLS_DIR: str = getattr(_image_module, "TOOLS_DIR", "/opt/tfactory/tools")
RUNNER_SIDE_DIR: str = getattr(_image_module, "RUNNER_SIDE_DIR", "/opt/tfactory/runner_side")
IMAGE_PYTHON: str = getattr(_image_module, "IMAGE_PYTHON", "/usr/bin/python3")

RUN_USER = f"{RUNNER_UID}:{RUNNER_GID}"
# The container's main process (tini + sleep): root, but with every capability dropped.
MAIN_USER = "0:0"
HOSTNAME = "tfactory-sandbox"
MARKER_VAR = "TFACTORY_RUN"

# Every API call: connect + read timeout (seconds).
API_TIMEOUT_S = 30
# docker_problem(): how long to wait for a daemon, and how long its answer is cached.
PROBE_TIMEOUT_S = 5
PROBE_CACHE_S = 10
MAX_POOL_SIZE = 64
# While a command runs, how often its exec is inspected (notices a daemon that hangs, and
# a command that exited while a leftover process still holds its output open).
INSPECT_EVERY_S = 0.3
# After the command ended (or was killed), how long its output stream may take to close.
DRAIN_S = 5.0
# A one-off container older than its wall limit plus this is an orphan.
ONEOFF_GRACE_S = 120
# Tasks in an idle container: the daemon's tini (pid 1) and ``sleep infinity``.
IDLE_TASKS = 2
# nproc counts every process of uid 10001 on the whole host (all containers): a backstop
# far above the per-container pids limit, which is the real limit.
NPROC_MIN = 4096
HOME_TMPFS_MB = 64

LABEL_SANDBOX = "org.tfactory.sandbox"
LABEL_TASK = "org.tfactory.task"
LABEL_OWNER = "org.tfactory.owner"
LABEL_ONEOFF = "org.tfactory.oneoff"
LABEL_WALL = "org.tfactory.wall_s"
LABEL_CREATED = "org.tfactory.created"
LABEL_CONFIG = "org.tfactory.config"
CONFIG_VERSION = "1"

CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
NETWORK_ONLY_FILES = ("/etc/pip.conf", "/etc/xdg/pip")

DOCKER_INSTALL_HINT = (
    "Install Docker (apt-get install docker.io) and start dockerd, or install bubblewrap "
    "(apt-get install bubblewrap) and set TFACTORY_SANDBOX=bwrap, or opt in to running "
    "generated code unsandboxed with TFACTORY_SANDBOX=none."
)

# The daemon could not attach a container to its default bridge.
_BRIDGE_BROKEN = re.compile(
    r"could not find bridge|failed to create endpoint|failed to set up container networking"
    r"|network bridge not found|adding interface .* to bridge"
)

_FSIZE_MARKERS = ("File too large", "EFBIG")
_MEMORY_MARKERS = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory")

# The reaper's exit status when processes outlived SIGKILL for 5 s (uninterruptible sleep).
REAPER_LEFT = 33

# Runs inside the container as uid 10001 (python3 -I -S -c REAPER <target> <active...>).
# Kills, until none is left (5 s at most): processes whose environment carries the target
# marker, their descendants, and orphans (ppid 1) that carry no marker, or the marker of a
# run that is not active (those only if they started before the reaper). Only processes of
# its own uid are considered (pid 1 and the main sleep are root's), never itself.
REAPER = r"""
import os, signal, sys, time
KEY = b"TFACTORY_RUN="
me = os.getpid()
uid = os.getuid()
target = sys.argv[1].encode()
active = {a.encode() for a in sys.argv[2:]}
def stat(pid):
    with open("/proc/%d/stat" % pid, "rb") as fh:
        raw = fh.read()
    fields = raw[raw.rindex(b")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[19])
born = stat(me)[2]
def scan():
    procs = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if pid in (1, me):
            continue
        try:
            if os.stat("/proc/%d" % pid).st_uid != uid:
                continue
            state, ppid, start = stat(pid)
        except (OSError, ValueError, IndexError):
            continue
        if state in (b"Z", b"X"):
            continue
        marker = None
        try:
            with open("/proc/%d/environ" % pid, "rb") as fh:
                marker = b""
                for item in fh.read().split(b"\0"):
                    if item.startswith(KEY):
                        marker = item[len(KEY):]
                        break
        except OSError:
            pass
        procs[pid] = (ppid, marker, start)
    return procs
def targets(procs):
    hit = set()
    for pid, (ppid, marker, start) in procs.items():
        if target and marker == target:
            hit.add(pid)
        elif ppid == 1 and (not marker or (marker not in active and start <= born)):
            hit.add(pid)
    children = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    stack = list(hit)
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in hit:
                hit.add(child)
                stack.append(child)
    return hit
killed = set()
deadline = time.monotonic() + 5
while True:
    hit = targets(scan())
    if not hit:
        break
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for pid in hit:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
    killed |= hit
    if time.monotonic() > deadline:
        print("left", len(hit))
        sys.exit(33)
    time.sleep(0.005)
print("killed", len(killed))
"""


# -- the daemon -----------------------------------------------------------------------------


def _api(client: Any) -> docker.APIClient:
    """The low-level client of a ``DockerClient`` or an ``APIClient``."""
    return client.api if hasattr(client, "api") else client


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "…"


def _is_daemon_error(exc: BaseException) -> bool:
    return isinstance(
        exc, docker.errors.DockerException | requests.exceptions.RequestException | OSError
    )


class DockerDaemonError(SandboxError):
    """The Docker daemon is gone or stopped answering (not a refusal of one request)."""


def _daemon_error(what: str, exc: BaseException) -> SandboxError:
    """A sentence a person can act on, for a failed Docker API call."""
    if isinstance(exc, docker.errors.APIError) and exc.response is not None:
        return SandboxError(f"the Docker daemon refused {what}: {_short(exc.explanation or exc)}")
    if isinstance(exc, requests.exceptions.Timeout):
        return DockerDaemonError(
            f"the Docker daemon stopped responding during {what} (no answer within the "
            f"client's timeout: {_short(exc)}); is dockerd running and healthy?"
        )
    return DockerDaemonError(
        f"the Docker daemon stopped responding during {what} ({_short(exc)}); is dockerd running?"
    )


def _call(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except SandboxError:
        raise
    except Exception as exc:
        if _is_daemon_error(exc):
            raise _daemon_error(what, exc) from exc
        raise


def make_client(timeout: float = API_TIMEOUT_S) -> docker.DockerClient:
    """A client for the daemon named by DOCKER_HOST (default: the local socket)."""
    try:
        return docker.from_env(timeout=timeout, max_pool_size=MAX_POOL_SIZE)
    except Exception as exc:
        raise DockerDaemonError(
            f"cannot reach the Docker daemon at {_docker_host()} ({_short(exc)}); is dockerd "
            f"running? {DOCKER_INSTALL_HINT}"
        ) from exc


def _docker_host() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


_problem_cache: dict[str, tuple[float, str | None]] = {}
_problem_lock = threading.Lock()


def docker_problem() -> str | None:
    """None when a Docker daemon answers a ping; else why not. Cached for a few seconds.

    Only the daemon's reachability: the runner image is built (or found) lazily by
    ``DockerSandbox`` on first use.
    """
    key = _docker_host()
    now = time.monotonic()
    with _problem_lock:
        cached = _problem_cache.get(key)
        if cached is not None and now - cached[0] < PROBE_CACHE_S:
            return cached[1]
    problem: str | None = None
    try:
        client = docker.from_env(timeout=PROBE_TIMEOUT_S)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        problem = f"no Docker daemon answers at {key} ({_short(exc)})."
    with _problem_lock:
        _problem_cache[key] = (time.monotonic(), problem)
    return problem


# -- configuration --------------------------------------------------------------------------


def sandbox_cpus() -> float:
    """CPUs per container: TFACTORY_SANDBOX_CPUS (default: every core of the host)."""
    cores = float(os.cpu_count() or 1)
    raw = os.environ.get("TFACTORY_SANDBOX_CPUS", "").strip()
    if not raw:
        return cores
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"TFACTORY_SANDBOX_CPUS must be a number, got {raw!r}") from exc
    if value <= 0:
        raise ValueError(f"TFACTORY_SANDBOX_CPUS must be positive, got {raw!r}")
    return min(value, cores)


def container_name(key: str) -> str:
    """``tfactory-<key>`` with anything Docker refuses replaced (plus a hash if changed)."""
    safe = re.sub(r"[^a-zA-Z0-9_.-]", "-", key).strip(".-") or "task"
    if safe != key:
        safe = f"{safe[:80]}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"
    return f"tfactory-{safe[:120]}"


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _norm(path: Path | str) -> Path:
    return Path(os.path.normpath(str(path)))


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _daemon_socket_path() -> Path | None:
    host = _docker_host()
    return _norm(host[len("unix://") :]) if host.startswith("unix://") else None


def _check_mounts(mounts: Sequence[Mount]) -> None:
    sock = _daemon_socket_path()
    for mount in mounts:
        path = _norm(mount.path)
        if not os.path.lexists(path):
            raise SandboxError(f"cannot mount {path} into the sandbox: it does not exist")
        if sock is not None and _inside(sock, path):
            raise ValueError(f"mounting {path} would expose the Docker socket {sock}; refused")


def _check_workdir(workdir: Path, mounts: Sequence[Mount]) -> None:
    workdir = _norm(workdir)
    inside = [m for m in mounts if _inside(workdir, _norm(m.path))]
    if inside and not workdir.is_dir():
        raise SandboxError(f"Can't chdir to {workdir}: it does not exist on the host")


def _order_mounts(mounts: Sequence[Mount]) -> list[Mount]:
    return sorted(mounts, key=lambda m: len(_norm(m.path).parts))


# -- cgroup counters (host side) -------------------------------------------------------------


class _Cgroup:
    """The container's cgroup counters, read on the host from its init process's cgroup."""

    def __init__(self, host_pid: int | None, cid: str = "") -> None:
        self.memory: Path | None = None
        self.pids: Path | None = None
        self.v2 = False
        if not host_pid:
            return
        try:
            lines = Path(f"/proc/{host_pid}/cgroup").read_text().splitlines()
        except OSError:
            return
        v2_root = Path("/sys/fs/cgroup")
        for line in lines:
            parts = line.split(":", 2)
            if len(parts) != 3:
                continue
            _, controllers, rel = parts
            rel = rel.lstrip("/")
            if cid and cid not in rel:
                # not this container's cgroup: the daemon's pid is from another pid
                # namespace (TFactory in a container of its own); no counters then
                continue
            names = controllers.split(",")
            if "memory" in names:
                self.memory = Path("/sys/fs/cgroup/memory") / rel
            if "pids" in names:
                self.pids = Path("/sys/fs/cgroup/pids") / rel
            if controllers == "" and (v2_root / "cgroup.controllers").exists():
                self.v2 = True
                self.memory = self.memory or v2_root / rel
                self.pids = self.pids or v2_root / rel
        if self.memory is not None and not self.memory.is_dir():
            self.memory = None
        if self.pids is not None and not self.pids.is_dir():
            self.pids = None

    @staticmethod
    def _read_key(path: Path, key: str) -> int | None:
        try:
            for line in path.read_text().splitlines():
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value)
        except (OSError, ValueError):
            return None
        return None

    def oom_kills(self) -> int | None:
        if self.memory is None:
            return None
        for name in ("memory.oom_control", "memory.events"):
            value = self._read_key(self.memory / name, "oom_kill")
            if value is not None:
                return value
        return None

    def pids_refused(self) -> int | None:
        if self.pids is None:
            return None
        return self._read_key(self.pids / "pids.events", "max")

    def pids_current(self) -> int | None:
        """Tasks (threads) now in the container; None when unknown."""
        if self.pids is None:
            return None
        try:
            return int((self.pids / "pids.current").read_text().strip())
        except (OSError, ValueError):
            return None

    def snapshot(self) -> tuple[int | None, int | None]:
        return self.oom_kills(), self.pids_refused()

    @property
    def available(self) -> bool:
        return self.memory is not None and self.pids is not None


def _grew(before: int | None, after: int | None) -> bool | None:
    if before is None or after is None:
        return None
    return after > before


# -- output -----------------------------------------------------------------------------------


class _Capped:
    """Keeps the head and the tail of a stream, like ``base.read_capped`` (same marker)."""

    def __init__(self, limit: int) -> None:
        self.limit = max(int(limit), 0)
        self.head_n = self.limit // 2
        self.tail_n = self.limit - self.head_n
        self.head = bytearray()
        self.tail = bytearray()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if len(self.head) < self.head_n:
            take = self.head_n - len(self.head)
            self.head += data[:take]
            data = data[take:]
        if data and self.tail_n:
            self.tail += data
            if len(self.tail) > 2 * self.tail_n + 65536:
                del self.tail[: len(self.tail) - self.tail_n]

    def text(self) -> str:
        if self.size <= self.limit:
            raw = bytes(self.head + self.tail)
        else:
            tail = bytes(self.tail[-self.tail_n :]) if self.tail_n else b""
            omitted = self.size - self.head_n - self.tail_n
            marker = (
                f"\n[tfactory: output truncated, {omitted} of {self.size} bytes omitted]\n"
            ).encode()
            raw = bytes(self.head) + marker + tail
        return raw.decode("utf-8", errors="replace")


# -- the runs themselves ----------------------------------------------------------------------


@dataclass
class _Outcome:
    exit_code: int | None
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool
    cancelled: bool
    oom_grew: bool | None
    pids_grew: bool | None


class _Container:
    """A running container that commands are exec'd into."""

    def __init__(self, api: docker.APIClient, cid: str, name: str, host_pid: int | None) -> None:
        self.api = api
        self.id = cid
        self.name = name
        self.cgroup = _Cgroup(host_pid, cid)

    def create_exec(
        self, argv: Sequence[str], *, workdir: Path, env: Mapping[str, str], marker: str
    ) -> str:
        """Create (not start) the exec of one run; its environment carries the marker."""
        created = _call(
            f"starting a command in container {self.name}",
            self.api.exec_create,
            self.id,
            list(argv),
            stdout=True,
            stderr=True,
            user=RUN_USER,
            workdir=str(workdir),
            environment={**env, MARKER_VAR: marker},
        )
        return created["Id"]

    def exec_run(
        self,
        exec_id: str,
        argv: Sequence[str],
        *,
        workdir: Path,
        timeout_s: float,
        cancel: threading.Event | None,
        output_limit: int,
        marker: str,
        kill: Callable[[str], None],
        finish: Callable[[str], None],
    ) -> _Outcome:
        """Start the exec and watch it: ``kill(marker)`` at the wall-time limit or on
        cancel, ``finish(marker)`` after a normal end (leftover processes)."""
        api = self.api
        oom_before, pids_before = self.cgroup.snapshot()
        out, err = _Capped(output_limit), _Capped(output_limit)
        done = threading.Event()
        state: dict[str, Any] = {}

        def pump() -> None:
            try:
                stream = api.exec_start(exec_id, stream=True, demux=True)
                state["stream"] = stream
                for chunk_out, chunk_err in stream:
                    if chunk_out:
                        out.write(chunk_out)
                    if chunk_err:
                        err.write(chunk_err)
            except BaseException as exc:  # noqa: BLE001 - reported by the supervisor
                state["error"] = exc
            finally:
                done.set()

        reader = threading.Thread(target=pump, name=f"tfactory-exec-{marker[:8]}", daemon=True)
        start = time.monotonic()
        deadline = start + max(float(timeout_s), 0.0)
        reader.start()
        timed_out = cancelled = False
        next_inspect = start + INSPECT_EVERY_S
        try:
            while not done.wait(max(min(POLL_S, deadline - time.monotonic()), 0.001)):
                now = time.monotonic()
                if cancel is not None and cancel.is_set():
                    cancelled = True
                    break
                if now >= deadline:
                    info = _call(
                        f"watching a command in container {self.name}", api.exec_inspect, exec_id
                    )
                    # ended in time; only a leftover process still holds its output open
                    timed_out = bool(info.get("Running")) or not info.get("Pid")
                    break
                if now >= next_inspect:
                    info = _call(
                        f"watching a command in container {self.name}", api.exec_inspect, exec_id
                    )
                    if not info.get("Running") and info.get("Pid"):
                        break  # ended; a leftover process still holds its output open
                    next_inspect = time.monotonic() + INSPECT_EVERY_S
            duration = time.monotonic() - start
            oom_after, pids_after = self.cgroup.snapshot()
            info = {}
            if timed_out or cancelled:
                # the daemon answers exec_start before the process exists: kill it only
                # once it does, or the reaper could run first and miss it
                self._wait_started(exec_id, done)
                kill(marker)
            else:
                info = self._final_inspect(exec_id, state)
                finish(marker)
        except BaseException as exc:
            if not isinstance(exc, DockerDaemonError):  # else asking it would hang again
                with suppress(Exception):
                    kill(marker)
            self._close_stream(state)
            raise
        if not done.wait(DRAIN_S):
            self._close_stream(state)
            done.wait(DRAIN_S)
        exit_code: int | None = info.get("ExitCode")
        if info and not info.get("Pid") and exit_code in (126, 127):
            message = out.text() + err.text()
            self._start_failure(workdir, argv, message)
            out, err = _Capped(output_limit), _Capped(output_limit)
            err.write(message.encode())
            exit_code = 127
        return _Outcome(
            exit_code=exit_code,
            stdout=out.text(),
            stderr=err.text(),
            duration_s=round(duration, 3),
            timed_out=timed_out,
            cancelled=cancelled,
            oom_grew=_grew(oom_before, oom_after),
            pids_grew=_grew(pids_before, pids_after),
        )

    def _wait_started(self, exec_id: str, done: threading.Event) -> None:
        what = f"stopping a command in container {self.name}"
        deadline = time.monotonic() + DRAIN_S
        while time.monotonic() < deadline and not done.is_set():
            info = _call(what, self.api.exec_inspect, exec_id)
            if info.get("Pid") or (not info.get("Running") and info.get("ExitCode") is not None):
                return
            time.sleep(0.02)

    def _final_inspect(self, exec_id: str, state: Mapping[str, Any]) -> dict[str, Any]:
        what = f"reading a command's exit status in container {self.name}"
        deadline = time.monotonic() + DRAIN_S
        while True:
            try:
                info = self.api.exec_inspect(exec_id)
            except Exception as exc:
                if _is_daemon_error(exc):
                    raise _daemon_error(what, exc) from state.get("error", exc)
                raise
            if not info.get("Running") or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        if info.get("Running"):
            raise SandboxError(f"{what}: the command still runs after its output ended")
        if info.get("ExitCode") is None:
            raise SandboxError(f"{what}: Docker reported no exit code")
        return info

    @staticmethod
    def _close_stream(state: Mapping[str, Any]) -> None:
        stream = state.get("stream")
        if stream is not None:
            with suppress(Exception):
                stream.close()

    @staticmethod
    def _start_failure(workdir: Path, argv: Sequence[str], message: str) -> None:
        """The exec never started (no pid). Raise unless the program is merely missing."""
        text = message.strip()
        if "chdir to cwd" in text:
            raise SandboxError(f"Can't chdir to {workdir} in the sandbox: {text}")
        if "executable file not found" in text or "no such file or directory" in text:
            return  # like a shell: exit 127, the message on stderr
        raise SandboxError(f"Docker could not start {argv[0]!r} in the sandbox: {text}")


def _container_gone(exc: BaseException | None) -> bool:
    """A 404 (no such container) or 409 (not running) from the daemon."""
    return isinstance(exc, docker.errors.APIError) and exc.status_code in (404, 409)


def _limit_hit(out: _Outcome, limits: Limits) -> str | None:
    if out.cancelled:
        return LIMIT_CANCELLED
    if out.timed_out:
        return LIMIT_WALL_TIME
    rc = out.exit_code
    if rc is None or rc == 0:
        return None
    if out.pids_grew:
        return LIMIT_PIDS
    if out.oom_grew:
        return LIMIT_MEMORY
    tail = out.stderr[-4000:]
    if limits.file_mb and (rc == 128 + signal.SIGXFSZ or any(m in tail for m in _FSIZE_MARKERS)):
        return LIMIT_FILE_SIZE
    if limits.memory_mb and (
        any(m in tail for m in _MEMORY_MARKERS)
        or (out.oom_grew is None and rc == 128 + signal.SIGKILL)
    ):
        return LIMIT_MEMORY
    return None


def _result(argv: Sequence[str], out: _Outcome, limits: Limits) -> RunResult:
    return RunResult(
        argv=list(argv),
        returncode=None if (out.timed_out or out.cancelled) else out.exit_code,
        stdout=out.stdout,
        stderr=out.stderr,
        duration_s=out.duration_s,
        timed_out=out.timed_out,
        cancelled=out.cancelled,
        limit_hit=_limit_hit(out, limits),
    )


# -- the sandbox --------------------------------------------------------------------------------


class DockerSandbox(Sandbox):
    """Runs commands in hardened containers of the runner image. See the module docstring."""

    name = "docker"
    isolated = True
    env_python = IMAGE_PYTHON
    env_python_on_host = False
    # the container's cgroup counters tell memory and pids exactly (see _Cgroup)
    exact_limits = frozenset({"wall_time", "cancelled", "memory", "pids", "file_size"})

    def __init__(
        self, limits: Limits | None = None, *, image: str | None = None, client: Any = None
    ) -> None:
        super().__init__(limits)
        # ``client``: a docker.DockerClient (an APIClient is enough when ``image`` is given)
        self._own_client = client is None
        self._client = client if client is not None else make_client()
        self.api = _api(self._client)
        self.cpus = sandbox_cpus()
        # Set when the daemon's default bridge failed: network runs use the host's network.
        self.bridge_problem: str | None = None
        # Whether the last container's cgroup counters were readable (limit detection).
        self.counters_seen: bool | None = None
        self._image = image
        self._image_lock = threading.Lock()

    # -- the image ----------------------------------------------------------------------

    @property
    def image(self) -> str:
        """The runner image's tag, built (or found) on first use."""
        with self._image_lock:
            if self._image is None:
                if _image_module is None:
                    raise SandboxError(
                        "the runner image builder (agents_app.sandbox.docker_image) is not "
                        "available; pass DockerSandbox(image=...)"
                    )
                try:
                    # our own client has short timeouts; the builder makes its own
                    self._image = _image_module.ensure_runner_image(
                        None if self._own_client else self._client,
                        emit=lambda message: log.info("%s", message),
                    )
                except SandboxError:
                    raise
                except Exception as exc:
                    if _is_daemon_error(exc):
                        raise _daemon_error("building the runner image", exc) from exc
                    raise SandboxError(f"the runner image could not be built: {exc}") from exc
            return self._image

    # -- interface ------------------------------------------------------------------------

    def release(self, key: str) -> None:
        """Remove the container of session ``key`` (from any process); idempotent."""
        DockerSession(self, key, [], {}).close()

    def builtin_tool(self, name: str) -> Path | None:
        return Path(TOOLS_DIR) / name

    def builtin_runner_side(self) -> Path | None:
        return Path(RUNNER_SIDE_DIR)

    def prepare_writable(self, path: Path) -> None:
        """chown ``path`` (recursively, never following links) to the container user."""
        path = Path(path)
        if os.geteuid() == 0:
            _chown_tree(path, RUNNER_UID, RUNNER_GID)
            return
        self._chown_in_container(path)

    def _chown_in_container(self, path: Path) -> None:
        """Without root on the host: a throwaway container with CAP_CHOWN does the chown."""
        _check_mounts([Mount(path, writable=True)])
        target = str(_norm(path))
        host_config = self.api.create_host_config(
            mounts=[docker.types.Mount(target, target, type="bind", read_only=False)],
            network_mode="none",
            cap_drop=["ALL"],
            cap_add=["CHOWN", "DAC_READ_SEARCH", "FOWNER"],
            security_opt=["no-new-privileges"],
            read_only=True,
        )
        labels = self._labels(oneoff=True, wall_s=60)
        created = _call(
            "preparing a writable folder",
            self.api.create_container,
            self.image,
            entrypoint=["chown"],
            command=["-R", "-h", "-P", RUN_USER, target],
            user=MAIN_USER,
            host_config=host_config,
            labels=labels,
            network_disabled=True,
        )
        cid = created["Id"]
        try:
            _call("preparing a writable folder", self.api.start, cid)
            status = _call("preparing a writable folder", self.api.wait, cid, timeout=60)
            if status.get("StatusCode") != 0:
                logs = self.api.logs(cid).decode(errors="replace")
                raise SandboxError(f"could not hand {target} to the sandbox user: {logs}")
        finally:
            with suppress(Exception):
                self.api.remove_container(cid, force=True)

    def session(
        self, key: str, *, mounts: Sequence[Mount], labels: Mapping[str, str] | None = None
    ) -> DockerSession:
        return DockerSession(self, key, mounts, labels or {})

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
        """A one-off container: created, the command exec'd, always removed."""
        if not argv:
            raise ValueError("argv must not be empty")
        workdir = Path(workdir)
        check_paths(mounts, workdir)
        all_mounts = [*mounts, *_prefix_mounts(python_prefixes)]
        _check_mounts(all_mounts)
        _check_workdir(workdir, all_mounts)
        full_env = clean_env(env, workdir)
        timeout = self.limits.wall_s if timeout_s is None else float(timeout_s)
        container = self._create(
            name=None,
            mounts=all_mounts,
            labels=self._labels(oneoff=True, wall_s=timeout),
            network=network,
        )
        killed = threading.Event()

        def kill(_marker: str) -> None:
            killed.set()
            _call(
                f"stopping container {container.name}",
                self._remove,
                container.id,
            )

        try:
            marker = uuid.uuid4().hex
            exec_id = container.create_exec(argv, workdir=workdir, env=full_env, marker=marker)
            outcome = container.exec_run(
                exec_id,
                argv,
                workdir=workdir,
                timeout_s=timeout,
                cancel=cancel,
                output_limit=output_limit,
                marker=marker,
                kill=kill,
                finish=kill,
            )
        except BaseException as exc:
            # with the daemon gone the container is left to reap_orphan_containers
            if not killed.is_set() and not isinstance(exc, DockerDaemonError):
                with suppress(Exception):
                    self._remove(container.id)
            raise
        return _result(argv, outcome, self.limits)

    def _remove(self, cid: str) -> None:
        try:
            self.api.remove_container(cid, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code == 409 and "in progress" in str(exc):
                return  # another thread is removing it already
            raise

    # -- containers -----------------------------------------------------------------------

    def _labels(self, **extra: Any) -> dict[str, str]:
        labels = {
            LABEL_SANDBOX: "1",
            LABEL_OWNER: _owner(),
            LABEL_CREATED: str(int(time.time())),
        }
        if extra.get("oneoff"):
            labels[LABEL_ONEOFF] = "1"
            wall = float(extra.get("wall_s") or self.limits.wall_s)
            labels[LABEL_WALL] = str(int(wall)) if math.isfinite(wall) else str(10**9)
        return labels

    def config_hash(self, mounts: Sequence[Mount], network: bool = False) -> str:
        """What a session container was made from: reused only when this matches."""
        spec = {
            "version": CONFIG_VERSION,
            "image": self.image,
            "mounts": sorted((str(_norm(m.path)), bool(m.writable)) for m in mounts),
            "limits": self.limits.as_dict(),
            "cpus": self.cpus,
            "network": network,
        }
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]

    def host_config(
        self, mounts: Sequence[Mount], *, network: bool, network_mode: str | None = None
    ) -> dict[str, Any]:
        """The container's HostConfig: every hardening and limit in one place."""
        limits = self.limits
        binds = []
        seen: set[str] = set()
        for m in _order_mounts(mounts):
            # a path given twice is mounted once (Docker refuses duplicates); read-only
            # wins, so asking twice never widens access
            path = str(_norm(m.path))
            if path in seen:
                if not m.writable:
                    for i, b in enumerate(binds):
                        if b["Target"] == path:
                            binds[i] = docker.types.Mount(path, path, type="bind", read_only=True)
                continue
            seen.add(path)
            binds.append(docker.types.Mount(path, path, type="bind", read_only=not m.writable))
        if network:
            for path in (CA_BUNDLE, *NETWORK_ONLY_FILES):
                if os.path.exists(path) and path not in seen:
                    seen.add(path)
                    binds.append(docker.types.Mount(path, path, type="bind", read_only=True))
        tmp_opts = "rw,nosuid,nodev,mode=1777"
        if limits.tmp_mb:
            tmp_opts += f",size={int(limits.tmp_mb)}m"
        tmpfs = {
            SANDBOX_TMP: tmp_opts,
            "/home/runner": f"rw,nosuid,nodev,size={HOME_TMPFS_MB}m,"
            f"uid={RUNNER_UID},gid={RUNNER_GID},mode=0700",
        }
        ulimits = [docker.types.Ulimit(name="core", soft=0, hard=0)]
        if limits.file_mb:
            size = int(limits.file_mb) * 1024 * 1024
            ulimits.append(docker.types.Ulimit(name="fsize", soft=size, hard=size))
        nproc = max(NPROC_MIN, 8 * int(limits.pids or 0))
        ulimits.append(docker.types.Ulimit(name="nproc", soft=nproc, hard=nproc))
        kwargs: dict[str, Any] = {
            "mounts": binds,
            "network_mode": (network_mode or "bridge") if network else "none",
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "read_only": True,
            "tmpfs": tmpfs,
            "init": True,
            "ulimits": ulimits,
            "nano_cpus": int(self.cpus * 1e9),
            "oom_score_adj": 500,
            "log_config": docker.types.LogConfig(type="none"),
            "ipc_mode": "private",
        }
        if limits.memory_mb:
            kwargs["mem_limit"] = int(limits.memory_mb) * 1024 * 1024
            kwargs["memswap_limit"] = int(limits.memory_mb) * 1024 * 1024
        if limits.pids:
            kwargs["pids_limit"] = int(limits.pids)
        return self.api.create_host_config(**kwargs)

    def _create(
        self,
        *,
        name: str | None,
        mounts: Sequence[Mount],
        labels: Mapping[str, str],
        network: bool,
    ) -> _Container:
        """Create and start a container running ``sleep infinity`` under the daemon's tini.

        With ``network``: the default bridge; when the daemon's bridge is broken (seen on
        hosts where docker0 could not be set up), the host's network instead — what
        bubblewrap gives dependency installs too — with a warning and a note in describe().
        """
        if not network:
            return self._create_once(name=name, mounts=mounts, labels=labels, network_mode="none")
        if self.bridge_problem is None:
            try:
                return self._create_once(
                    name=name, mounts=mounts, labels=labels, network_mode="bridge"
                )
            except SandboxError as exc:
                if not _BRIDGE_BROKEN.search(str(exc)):
                    raise
                self.bridge_problem = str(exc)
                log.warning(
                    "the Docker bridge network failed (%s); network runs use the host's "
                    "network instead",
                    exc,
                )
        return self._create_once(name=name, mounts=mounts, labels=labels, network_mode="host")

    def _create_once(
        self,
        *,
        name: str | None,
        mounts: Sequence[Mount],
        labels: Mapping[str, str],
        network_mode: str,
    ) -> _Container:
        network = network_mode != "none"
        what = "creating a sandbox container"
        created = _call(
            what,
            self.api.create_container,
            self.image,
            entrypoint=["sleep"],
            command=["infinity"],
            user=MAIN_USER,
            working_dir="/",
            hostname=None if network_mode == "host" else HOSTNAME,
            environment={"PATH": DEFAULT_PATH, "LANG": "C.UTF-8"},
            labels=dict(labels),
            host_config=self.host_config(mounts, network=network, network_mode=network_mode),
            name=name,
            detach=True,
            network_disabled=not network,
        )
        cid = created["Id"]
        try:
            _call("starting a sandbox container", self.api.start, cid)
            info = _call("starting a sandbox container", self.api.inspect_container, cid)
        except BaseException:
            with suppress(Exception):
                self._remove(cid)
            raise
        container = _Container(self.api, cid, info["Name"].lstrip("/"), info["State"].get("Pid"))
        self.counters_seen = container.cgroup.available
        return container

    # -- report ---------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        limits = self.limits
        notes = [
            "a read-only container of the runner image; only the task's own mounts (at their "
            "host paths) and a private tmpfs /tmp are visible besides it",
            "commands run as uid 10001 with every capability dropped and no-new-privileges; "
            "the container's init (tini + sleep) is root without capabilities, so commands "
            "cannot signal it",
            "one container per task, commands exec'd into it; one-off containers for the "
            "dependency install and probes",
            "network_mode=none except the dependency install (default bridge, the host's CA "
            "bundle and pip configuration read-only)",
            "environment passed through the Docker API; only variables TFactory sets",
            "no Docker socket and no host file outside the mounts inside",
        ]
        if self.bridge_problem:
            notes.append(
                "the daemon's default bridge network failed here, so the dependency install "
                f"used the host's network (as under bubblewrap): {self.bridge_problem}"
            )
        image: str | None
        try:
            image = self.image
        except SandboxError as exc:
            image = None
            notes.append(f"runner image unavailable: {exc}")
        cgroup_note = {
            True: "from the container's cgroup counters (OOM kills, refused forks), read on "
            "the host before and after each run",
            False: "from exit codes and messages only: the containers' cgroups are not "
            "visible to TFactory here (remote daemon or another pid namespace)",
            None: "from the container's cgroup counters where TFactory can see them, else "
            "from exit codes and messages",
        }[self.counters_seen]
        return {
            "backend": self.name,
            "image": image,
            "isolated": True,
            "network": "none except dependency install",
            "limits": {
                "wall_s": limits.wall_s,
                "memory_mb": limits.memory_mb,
                "file_mb": limits.file_mb,
                "pids": limits.pids,
                "tmp_mb": limits.tmp_mb,
                "cpus": self.cpus,
            },
            "enforcement": {
                "wall_s": "TFactory SIGKILLs the run's processes (marker TFACTORY_RUN, their "
                "descendants and orphans) at the limit and on cancel; one-off containers "
                "are removed",
                "memory_mb": "cgroup memory limit, memory+swap equal (the kernel OOM-kills "
                f"inside the container); detected {cgroup_note}"
                if limits.memory_mb
                else "not limited",
                "file_mb": "RLIMIT_FSIZE (ulimit fsize)" if limits.file_mb else "not limited",
                "pids": f"cgroup pids limit per container; detected {cgroup_note}"
                if limits.pids
                else "not limited",
                "tmp_mb": "size of the tmpfs /tmp" if limits.tmp_mb else "not limited",
                "cpus": "CFS quota (nano_cpus), TFACTORY_SANDBOX_CPUS",
            },
            "notes": notes,
        }


def _prefix_mounts(python_prefixes: Sequence[Path | str]) -> list[Mount]:
    """Host Python installations the caller names, read-only (never over the image's /usr)."""
    if not python_prefixes:
        return []
    from agents_app.sandbox.bwrap import check_python_prefix

    mounts = []
    for prefix in python_prefixes:
        resolved = check_python_prefix(prefix)
        if any(_inside(resolved, Path(d)) for d in ("/usr", "/bin", "/lib", "/opt/tfactory")):
            continue  # the image has its own; binding the host's would replace it
        mounts.append(Mount(resolved))
    return mounts


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    """lchown ``root`` and everything below it; links are changed, never followed."""
    os.chown(root, uid, gid, follow_symlinks=False)
    if root.is_symlink() or not root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in (*dirnames, *filenames):
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


# -- sessions -----------------------------------------------------------------------------------


class DockerSession(SandboxSession):
    """One container per task (created lazily), every run an ``exec`` into it."""

    sandbox: DockerSandbox

    def __init__(
        self,
        sandbox: DockerSandbox,
        key: str,
        mounts: Sequence[Mount],
        labels: Mapping[str, str],
    ) -> None:
        check_paths(mounts, Path("/"))
        super().__init__(sandbox, key, mounts, labels)
        self.name = container_name(key)
        self._container: _Container | None = None
        self._lock = threading.Lock()
        self._active: set[str] = set()
        self._closed = False

    @property
    def container_id(self) -> str | None:
        return self._container.id if self._container else None

    # -- the container --------------------------------------------------------------------

    def _ensure(self) -> _Container:
        with self._lock:
            if self._closed:
                raise SandboxError(f"the sandbox session {self.key} was closed")
            if self._container is not None:
                return self._container
            self._container = self._open()
            return self._container

    def _open(self) -> _Container:
        sandbox = self.sandbox
        api = sandbox.api
        _check_mounts(self.mounts)
        wanted = sandbox.config_hash(self.mounts)
        for _ in range(3):
            try:
                info = api.inspect_container(self.name)
            except docker.errors.NotFound:
                info = None
            except Exception as exc:
                if _is_daemon_error(exc):
                    raise _daemon_error(f"looking up container {self.name}", exc) from exc
                raise
            if info is not None:
                labels = info.get("Config", {}).get("Labels") or {}
                if info["State"].get("Running") and labels.get(LABEL_CONFIG) == wanted:
                    log.info("reusing sandbox container %s", self.name)
                    return _Container(api, info["Id"], self.name, info["State"].get("Pid"))
                _call(f"replacing container {self.name}", sandbox._remove, info["Id"])
            labels = {
                **self.labels,
                **sandbox._labels(),
                LABEL_TASK: self.key,
                LABEL_CONFIG: wanted,
            }
            try:
                return sandbox._create(
                    name=self.name, mounts=self.mounts, labels=labels, network=False
                )
            except SandboxError as exc:
                cause = exc.__cause__
                if isinstance(cause, docker.errors.APIError) and cause.status_code == 409:
                    continue  # created concurrently under the same name: look again
                raise
        raise SandboxError(f"could not create the sandbox container {self.name}")

    def _drop(self, container: _Container) -> None:
        """Forget a container that stopped under us; the next run makes a new one."""
        with self._lock:
            if self._container is container:
                self._container = None

    # -- runs -------------------------------------------------------------------------------

    def check_extra_mounts(self, extra_mounts: Sequence[Mount]) -> None:
        """Each extra mount must lie inside a session mount; a writable one inside a
        writable one (the innermost session mount containing it decides)."""
        for extra in extra_mounts:
            path = _norm(extra.path)
            if not path.is_absolute():
                raise ValueError(f"mount paths must be absolute, got {path}")
            holders = [m for m in self.mounts if _inside(path, _norm(m.path))]
            if not holders:
                raise ValueError(
                    f"{path} is not inside any of the session's mounts; the task's container "
                    "mounts are fixed when the session opens"
                )
            innermost = max(holders, key=lambda m: len(_norm(m.path).parts))
            if extra.writable and not innermost.writable:
                raise ValueError(
                    f"{path} is asked writable but lies inside the read-only session mount "
                    f"{innermost.path}"
                )
            if not os.path.lexists(path):
                raise SandboxError(f"cannot mount {path} into the sandbox: it does not exist")

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
        if not argv:
            raise ValueError("argv must not be empty")
        workdir = Path(workdir)
        check_paths(self.mounts, workdir)
        self.check_extra_mounts(extra_mounts)
        _check_workdir(workdir, self.mounts)
        full_env = clean_env(env, workdir)
        timeout = self.sandbox.limits.wall_s if timeout_s is None else float(timeout_s)
        marker = uuid.uuid4().hex
        container = self._ensure()
        try:
            exec_id = container.create_exec(argv, workdir=workdir, env=full_env, marker=marker)
        except SandboxError as exc:
            if not _container_gone(exc.__cause__):
                raise
            # the container stopped or was removed under us: nothing ran, make a new one
            log.warning("sandbox container %s is gone; making a new one", self.name)
            self._drop(container)
            container = self._ensure()
            exec_id = container.create_exec(argv, workdir=workdir, env=full_env, marker=marker)
        with self._lock:
            self._active.add(marker)
        try:
            outcome = container.exec_run(
                exec_id,
                argv,
                workdir=workdir,
                timeout_s=timeout,
                cancel=cancel,
                output_limit=output_limit,
                marker=marker,
                kill=lambda m: self._reap(container, m),
                finish=lambda m: self._reap(container, m, only_if_busy=True),
            )
        finally:
            with self._lock:
                self._active.discard(marker)
        return _result(argv, outcome, self.sandbox.limits)

    def _reap(self, container: _Container, marker: str, *, only_if_busy: bool = False) -> None:
        """SIGKILL the run's processes and orphans inside the container (see REAPER).

        ``only_if_busy`` (after a normal end): skipped when no other run is active and the
        container holds nothing but its idle init and sleep (read from its pids cgroup).
        """
        with self._lock:
            active = sorted(self._active - {marker})
        if only_if_busy and not active:
            current = container.cgroup.pids_current()
            if current is not None and current <= IDLE_TASKS:
                return
        api = self.sandbox.api
        what = f"stopping a command's processes in container {self.name}"
        last = ""
        for _ in range(5):
            try:
                created = api.exec_create(
                    container.id,
                    [IMAGE_PYTHON, "-I", "-S", "-c", REAPER, marker, *active],
                    stdout=True,
                    stderr=True,
                    user=RUN_USER,
                    workdir="/",
                    environment={"PATH": DEFAULT_PATH, "LANG": "C.UTF-8"},
                )
            except Exception as exc:
                if _container_gone(exc):
                    self._drop(container)  # stopped or removed: nothing of it is left running
                    return
                if _is_daemon_error(exc):
                    raise _daemon_error(what, exc) from exc
                raise
            output = _call(what, api.exec_start, created["Id"], stream=False, demux=False)
            info = _call(what, api.exec_inspect, created["Id"])
            last = (output or b"").decode(errors="replace").strip()
            if info.get("ExitCode") == 0:
                return
            if info.get("ExitCode") == REAPER_LEFT:
                # SIGKILL is pending on processes in uninterruptible sleep: they die when
                # the kernel lets them; nothing more can be done from inside
                log.warning("processes of a run in %s outlive SIGKILL for now: %s", self.name, last)
                return
            time.sleep(0.1)  # the reaper itself could not run (or was killed): again
        # The reaper could not finish: nothing else stops the run safely, replace the container.
        log.error("reaper failed in %s (%s); removing the container", self.name, last)
        self._drop(container)
        _call(f"removing container {self.name}", self.sandbox._remove, container.id)

    def close(self) -> None:
        """Kill and remove the task's container; idempotent. Never raises for daemon
        trouble (it is logged; ``reap_orphan_containers`` removes the container later)."""
        with self._lock:
            self._closed = True
            container, self._container = self._container, None
        try:
            if container is not None:
                self.sandbox._remove(container.id)
            else:
                # never opened here, but a container of this key may exist (crashed worker)
                info = self.sandbox.api.inspect_container(self.name)
                if (info.get("Config", {}).get("Labels") or {}).get(LABEL_TASK) == self.key:
                    self.sandbox._remove(info["Id"])
        except docker.errors.NotFound:
            pass
        except Exception as exc:
            if not _is_daemon_error(exc):
                raise
            log.warning(
                "could not remove the sandbox container %s (%s); reap_orphan_containers "
                "will remove it",
                self.name,
                _daemon_error(f"removing container {self.name}", exc),
            )


# -- orphans ------------------------------------------------------------------------------------


def reap_orphan_containers(client: Any = None, *, is_live: Callable[[str], bool]) -> list[str]:
    """Remove task containers whose task ``is_live(key)`` says is over, and one-off
    sandbox containers older than their wall limit (plus a grace period). Returns the
    names removed."""
    own_client = client is None
    client = make_client() if own_client else client
    api = _api(client)
    removed: list[str] = []
    try:
        containers = _call(
            "listing sandbox containers",
            api.containers,
            all=True,
            filters={"label": LABEL_SANDBOX},
        )
        now = time.time()
        for item in containers:
            labels = item.get("Labels") or {}
            name = (item.get("Names") or ["/" + item["Id"][:12]])[0].lstrip("/")
            if LABEL_TASK in labels:
                if is_live(labels[LABEL_TASK]):
                    continue
            elif labels.get(LABEL_ONEOFF) == "1":
                try:
                    wall = float(labels.get(LABEL_WALL) or 0)
                except ValueError:
                    wall = 0.0
                created = float(item.get("Created") or now)
                if now - created <= wall + ONEOFF_GRACE_S:
                    continue
            else:
                continue
            try:
                api.remove_container(item["Id"], force=True)
            except docker.errors.NotFound:
                continue
            except Exception as exc:
                if _is_daemon_error(exc):
                    raise _daemon_error(f"removing orphan container {name}", exc) from exc
                raise
            removed.append(name)
    finally:
        if own_client:
            with suppress(Exception):
                client.close()
    return removed
