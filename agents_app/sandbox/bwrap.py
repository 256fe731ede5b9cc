"""The bubblewrap backend: a fresh root with only what programs need, every namespace unshared.

The sandbox's root is an empty tmpfs (made read-only once set up). Into it go, read-only:
``/usr`` (with ``/bin``, ``/lib``… as on the host: symlinks on a merged-usr host), a
short allow-list of ``/etc`` entries, the host Python installation(s), then the
caller's mounts at their own paths. ``/proc``, ``/dev`` and a private, size-capped
``/tmp`` are fresh. Never the host's ``/``, ``/root``, ``/home``, ``/etc/shadow``,
``/etc/ssh``, ``/run`` or the Docker socket.

Python interpreters: ``sys.base_prefix`` (the installation TFactory itself runs on, which
every tool and project environment is made from) is always bound, and so is every prefix
the caller passes in ``python_prefixes``. Nothing read from a mount (a ``pyvenv.cfg`` in
the worktree or in scratch is content the sandboxed code controls) ever decides what is
bound.

pip's configuration in /etc (``pip.conf``, ``xdg/pip``) is only bound for runs with
``network=True`` (dependency installs): it may hold index credentials.

The environment is set with ``--clearenv``/``--setenv`` read from a file descriptor
(``--args FD``), so no value of it appears in any process's argv.
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agents_app.sandbox.base import (
    SANDBOX_TMP,
    Limits,
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

HOSTNAME = "tfactory-sandbox"

# Directories bound read-only as they are. /bin & co follow below (symlink or bind).
SYSTEM_DIRS = ("/usr",)
USR_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")

# /etc entries programs need (globs allowed). Never shadow, gshadow, ssh, sudoers, ssl/private.
ETC_ALLOW = (
    "ssl/certs",
    "ssl/openssl.cnf",
    "ca-certificates",
    "ca-certificates.conf",
    "alternatives",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "timezone",
    "passwd",
    "group",
    "nsswitch.conf",
    "hosts",
    "host.conf",
    "gai.conf",
    "protocols",
    "services",
    "mime.types",
    "os-release",
    "python3*",
)
# Only for runs that may reach the network (dependency installs): DNS, and pip's
# configuration, which may carry index credentials.
ETC_NETWORK_ONLY = ("resolv.conf", "xdg/pip", "pip.conf")
ETC_NEVER = ("shadow", "gshadow", "shadow-", "gshadow-", "ssh", "sudoers", "ssl/private")

# Written to fd 0 by the shim once bwrap has finished setting up and the command is about
# to exec: an empty marker file after a failed run means bwrap itself failed.
SHIM = 'printf 1 >&0; exec "$@" </dev/null'
SHIM_NAME = "tfactory-shim"

# Never bound as a Python prefix: too much else lives there.
FORBIDDEN_PREFIXES = (
    Path("/"),
    Path("/root"),
    Path("/home"),
    Path("/etc"),
    Path("/tmp"),  # noqa: S108 - the host's /tmp, refused, not used
    Path("/var"),
    Path("/run"),
)


def _covered(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def _forbidden_prefix(path: Path) -> bool:
    home = Path.home()
    homes = {home, home.resolve()} if home.exists() else {home}
    return path in FORBIDDEN_PREFIXES or path in homes or path.parent == Path("/home")


def _base_dirs() -> list[Path]:
    """The directories of the installation TFactory runs on (``sys.base_prefix``)."""
    prefix = Path(sys.base_prefix).resolve()
    if _forbidden_prefix(prefix):
        # A user-level install straight in a home directory: bind its parts, not the home.
        return [p for p in (prefix / "bin", prefix / "lib", prefix / "lib64") if p.is_dir()]
    return [prefix]


def check_python_prefix(prefix: Path | str) -> Path:
    """``prefix`` resolved, or ValueError when it is not a directory that may be bound."""
    raw = Path(prefix)
    if not raw.is_absolute():
        raise ValueError(f"python prefix must be an absolute path, got {raw}")
    try:
        resolved = raw.resolve(strict=True)
    except OSError as exc:
        raise ValueError(f"python prefix {raw} does not exist: {exc}") from exc
    if not resolved.is_dir():
        raise ValueError(f"python prefix {raw} is not a directory")
    if _forbidden_prefix(resolved):
        raise ValueError(
            f"python prefix {raw} ({resolved}) is refused: binding it would expose "
            "unrelated host files; pass the interpreter's own installation directory"
        )
    return resolved


def python_dirs(
    mounts: Sequence[Mount] = (), *, python_prefixes: Sequence[Path | str] = ()
) -> list[Path]:
    """Python installations the sandbox binds read-only: ``sys.base_prefix`` and the
    caller's ``python_prefixes`` (checked by ``check_python_prefix``).

    ``mounts`` is accepted for compatibility and deliberately ignored: files inside a mount
    (a ``pyvenv.cfg`` in the worktree or in scratch) are controlled by sandboxed code and
    never decide what is bound.
    """
    del mounts
    found = _base_dirs() + [check_python_prefix(p) for p in python_prefixes]
    system = [Path(d) for d in SYSTEM_DIRS]
    result: list[Path] = []
    for path in found:
        if not path.exists() or _covered(path, system) or path in result:
            continue
        result.append(path)
    # Drop any path already inside another one.
    return [p for p in result if not _covered(p, [q for q in result if q != p])]


def _etc_entries(network: bool) -> list[str]:
    names = list(ETC_ALLOW) + (list(ETC_NETWORK_ONLY) if network else [])
    entries: list[str] = []
    for pattern in names:
        for hit in sorted(glob.glob(os.path.join("/etc", pattern))):
            rel = os.path.relpath(hit, "/etc")
            if any(rel == bad or rel.startswith(bad + "/") for bad in ETC_NEVER):
                continue
            if os.path.exists(hit) and hit not in entries:
                entries.append(hit)
    return entries


def _order_mounts(mounts: Sequence[Mount]) -> list[Mount]:
    """Parents before children (stable), so a later writable parent cannot hide a read-only
    child; otherwise the caller's order."""
    return sorted(mounts, key=lambda m: len(Path(m.path).parts))


class BwrapSandbox(Sandbox):
    """Runs commands under bubblewrap. See the module docstring for what is visible inside."""

    name = "bwrap"
    isolated = True

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        bwrap_path: str | None = None,
        disable_userns: bool | None = None,
    ) -> None:
        super().__init__(limits)
        path = bwrap_path or shutil.which("bwrap")
        if path is None:
            raise SandboxError(
                "bwrap is not on PATH. Install bubblewrap (apt-get install bubblewrap) or "
                "opt in to unsandboxed runs with TFACTORY_SANDBOX=none."
            )
        self.bwrap_path = path
        if disable_userns is None:
            disable_userns = _probe(path).disable_userns
        self.disable_userns = disable_userns

    # -- argv ---------------------------------------------------------------------------

    def build_argv(
        self,
        argv: Sequence[str],
        *,
        mounts: Sequence[Mount],
        workdir: Path,
        network: bool = False,
        env_fd: int | None = None,
        python_prefixes: Sequence[Path | str] = (),
    ) -> list[str]:
        """The full bwrap command line (environment excluded: it travels via ``--args``)."""
        args = [self.bwrap_path, "--unshare-all", "--unshare-user"]
        if network:
            args.append("--share-net")
        args += ["--die-with-parent", "--new-session", "--cap-drop", "ALL"]
        if self.disable_userns:
            args.append("--disable-userns")
        args += ["--hostname", HOSTNAME]
        for directory in SYSTEM_DIRS:
            args += ["--ro-bind", directory, directory]
        for link in USR_LINKS:
            if os.path.islink(link):
                args += ["--symlink", os.readlink(link), link]
            elif os.path.isdir(link):
                args += ["--ro-bind", link, link]
        for entry in _etc_entries(network):
            args += ["--ro-bind", entry, entry]
        args += ["--proc", "/proc", "--dev", "/dev"]
        if self.limits.tmp_mb:
            args += ["--size", str(int(self.limits.tmp_mb) * 1024 * 1024)]
        args += ["--tmpfs", SANDBOX_TMP]
        for directory in python_dirs(python_prefixes=python_prefixes):
            args += ["--ro-bind", str(directory), str(directory)]
        for mount in _order_mounts(mounts):
            flag = "--bind" if mount.writable else "--ro-bind"
            args += [flag, str(mount.path), str(mount.path)]
        args += ["--remount-ro", "/"]
        if env_fd is not None:
            args += ["--args", str(env_fd)]
        args += ["--chdir", str(workdir), "--", "/bin/sh", "-c", SHIM, SHIM_NAME, *argv]
        return args

    # -- run ----------------------------------------------------------------------------

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
        if not argv:
            raise ValueError("argv must not be empty")
        workdir = Path(workdir)
        check_paths(mounts, workdir)
        prefixes = [check_python_prefix(p) for p in python_prefixes]
        for mount in mounts:
            if not os.path.lexists(mount.path):
                raise SandboxError(f"cannot mount {mount.path} into the sandbox: it does not exist")
        full_env = clean_env(env, workdir)
        env_args = ["--clearenv"]
        for key, value in full_env.items():
            env_args += ["--setenv", key, value]
        timeout = self.limits.wall_s if timeout_s is None else timeout_s
        with tempfile.TemporaryFile() as env_file, tempfile.TemporaryFile() as marker:
            env_file.write(b"\0".join(a.encode() for a in env_args) + b"\0")
            env_file.flush()
            env_file.seek(0)
            cmd = self.build_argv(
                argv,
                mounts=mounts,
                workdir=workdir,
                network=network,
                env_fd=env_file.fileno(),
                python_prefixes=prefixes,
            )
            try:
                sup = supervise(
                    cmd,
                    limits=self.limits,
                    timeout_s=timeout,
                    cancel=cancel,
                    output_limit=output_limit,
                    env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                    stdin=marker,
                    pass_fds=(env_file.fileno(),),
                )
            except FileNotFoundError as exc:
                raise SandboxError(
                    f"bwrap could not be started ({exc}). Install bubblewrap "
                    "(apt-get install bubblewrap) or set TFACTORY_SANDBOX=none."
                ) from exc
            started = os.fstat(marker.fileno()).st_size > 0
        if not started and not (sup.timed_out or sup.cancelled):
            message = sup.stderr.strip() or f"bwrap exited {sup.raw_returncode} with no message"
            raise SandboxError(f"bubblewrap could not set up the sandbox: {message}")
        return to_result(argv, sup, self.limits, signal_offset=128)

    # -- report -------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        limits = self.limits
        cgroup = pids_cgroup_available()
        return {
            "backend": self.name,
            "image": None,
            "isolated": True,
            "network": "off except dependency install",
            "limits": {
                "wall_s": limits.wall_s,
                "memory_mb": limits.memory_mb,
                "file_mb": limits.file_mb,
                "pids": limits.pids if cgroup else None,
                "tmp_mb": limits.tmp_mb,
            },
            "enforcement": {
                "wall_s": "TFactory SIGKILLs the sandbox's process group at the limit (and on "
                "cancel); bwrap's pid namespace dies with it, taking every descendant",
                "memory_mb": "RLIMIT_AS per process (address space, not resident memory)"
                if limits.memory_mb
                else "not limited",
                "file_mb": "RLIMIT_FSIZE per file written" if limits.file_mb else "not limited",
                "pids": "cgroup pids controller"
                if cgroup and limits.pids
                else "not enforced: RLIMIT_NPROC does not bind root and TFactory could not "
                "create a pids cgroup here",
                "tmp_mb": "size of the private tmpfs /tmp" if limits.tmp_mb else "not limited",
            },
            "notes": [
                "fresh root: /usr, a short allow-list of /etc, the Python installation and "
                "the task's own mounts; nothing else of the host is visible",
                "pip's configuration (/etc/pip.conf, /etc/xdg/pip) only in dependency installs",
                "all namespaces unshared (user, pid, net, ipc, uts, cgroup), capabilities "
                "dropped, nested user namespaces disabled"
                if self.disable_userns
                else "all namespaces unshared (user, pid, net, ipc, uts, cgroup), "
                "capabilities dropped",
                "environment cleared; only variables TFactory sets are passed",
                "CPU time is bounded by the wall-time limit only",
            ],
        }


# -- probe ----------------------------------------------------------------------------------


class _ProbeResult:
    def __init__(self, problem: str | None, disable_userns: bool) -> None:
        self.problem = problem
        self.disable_userns = disable_userns


@functools.lru_cache(maxsize=8)
def _probe(bwrap_path: str) -> _ProbeResult:
    """Run ``true`` in a real sandbox once per process (with and without --disable-userns)."""
    problem = "bwrap did not run"
    for harden in (True, False):
        sandbox = BwrapSandbox(
            Limits(wall_s=30, pids=None), bwrap_path=bwrap_path, disable_userns=harden
        )
        try:
            result = sandbox.run(["true"], mounts=[], workdir=Path(SANDBOX_TMP), timeout_s=30)
        except SandboxError as exc:
            problem = str(exc)
            continue
        except OSError as exc:
            problem = f"bwrap could not be started: {exc}"
            break
        if result.ok:
            return _ProbeResult(None, harden)
        problem = (
            f"`bwrap ... true` exited {result.returncode}: {result.stderr.strip()}"
            if not result.timed_out
            else "`bwrap ... true` timed out"
        )
    return _ProbeResult(problem, False)


def bwrap_problem() -> str | None:
    """None when bwrap is on PATH and a trivial sandbox works; else why not (cached)."""
    path = shutil.which("bwrap")
    if path is None:
        return "bwrap is not on PATH."
    return _probe(path).problem


def bwrap_version() -> str | None:
    path = shutil.which("bwrap")
    if path is None:
        return None
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except OSError:
        return None
    return out.stdout.strip() or None
