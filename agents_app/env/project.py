"""The project's own dependencies, installed once into a cached virtual environment.

Installing dependencies is the ONLY step of a task that may reach a package index: it runs
in the sandbox with ``network=True``, with a scratch COPY of the repository (pip may write
build directories into it), the environment being built and the pip cache of this
project writable. Every later step mounts the finished environment read-only
(``ProjectEnv.mount()``).

Environments are keyed by ``env_key``: a hash of the project id, the dependency files
(and the files their ``-r``/``-c`` lines include), the Python, the runner requirements
and ``RECIPE_VERSION``. Layout, under ``cache_dir``::

    envs/py-[<project-slug>-]<key[:16]>/        the environment (sandbox-written)
    envs/py-[<project-slug>-]<key[:16]>.json    its completion marker (host-only)
    envs/.py-[<project-slug>-]<key[:16]>.lock   the build lock
    pip-caches/<project-slug>-<hash>/           pip's cache, one per project (per key
                                                when no project is given); never shared
    build/<env name>.<random>/                  a build's scratch, removed afterwards

What the sandbox could write is never trusted by the host: the marker and the
environment's metadata live beside the environment, in ``envs/``, which no sandbox ever
has mounted; the host never rewrites anything inside a built environment (it is built at
its final path, under the key's lock; a failed or partial one is removed with
``shutil.rmtree``, which does not follow links); the list of installed distributions is
produced inside the sandbox and returned as JSON. Repository files read on the host
(dependency files, pyproject.toml …) are read with ``safe_fs``, relative to the
repository root: a symlinked dependency file is skipped with a warning, never followed.

What gets installed, in order of preference:
1. requirements files that exist (requirements.txt, requirements-dev/-test.txt,
   dev-/test-requirements.txt, requirements/{base,dev,test}*.txt), in one ``pip install``;
2. else a pyproject.toml with static ``[project] dependencies``: those, plus the
   optional-dependency groups test/tests/testing/dev and ``[dependency-groups]`` test/dev;
3. else (setup.py, setup.cfg, dynamic dependencies, poetry): ``pip install <copy>[extras]``,
   poetry's test/dev groups, and then the project's own distribution is uninstalled again
   so that tests import the checkout, never an installed copy;
4. else (Pipfile.lock only): its pinned default and develop packages;
then ``RUNNER_REQUIREMENTS`` (``pytest>=7`` only when the project did not bring pytest).

Pip's index settings come from the host: the global config files (/etc/xdg/pip,
/etc/pip.conf), the user's pip config (copied into a host-written folder of the build,
mounted read-only and passed as PIP_CONFIG_FILE, since the host's home is never
mounted), and the environment variables in ``PIP_PASSTHROUGH``. Local paths those
settings name (``file://`` indexes, find-links directories, constraint files,
certificates) are mounted read-only. All of it only in the runs with network; the
offline steps of a build get none of it.

No Django imports here: callers pass settings values in.
"""

from __future__ import annotations

import configparser
import contextlib
import fcntl
import fnmatch
import hashlib
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from packaging.utils import canonicalize_name

from agents_app.env import interpreters, requirements
from agents_app.env.plan import PlanError, SetupPlan, Source, pep440, setup_plan
from agents_app.sandbox import Mount, RunResult, Sandbox, SandboxError
from tasks_app.core import git, safe_fs
from tasks_app.core.safe_fs import UnsafePath

# Bump when the way environments are built changes: every cached environment is rebuilt.
# 3: the project itself is installed (editable where its backend can), with its test
# dependencies from every place a project declares them (agents_app/env/plan.py)
# 4: the project and its test dependencies in one resolve
# (the plan itself is part of the key too: a change of what is installed is a new env)
RECIPE_VERSION = "4"

COVERAGE_REQUIREMENT = "coverage==7.17.4"
PYTEST_TIMEOUT_REQUIREMENT = "pytest-timeout==2.4.0"
PYTEST_REQUIREMENT = "pytest>=7"
RUNNER_REQUIREMENTS: tuple[str, ...] = (
    COVERAGE_REQUIREMENT,
    PYTEST_TIMEOUT_REQUIREMENT,
    PYTEST_REQUIREMENT,  # skipped when the project already brings pytest
)

# The completion marker is ``envs/<env name>`` + this suffix: beside the environment,
# never inside it (see ``marker_path``).
MARKER_SUFFIX = ".json"


# Host environment variables that configure pip's index access; nothing else is passed.
PIP_PASSTHROUGH = (
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_TRUSTED_HOST",
    "PIP_CONSTRAINT",
    "PIP_DEFAULT_TIMEOUT",
    "PIP_CERT",
    "PIP_CLIENT_CERT",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)
# pip config keys (and the env vars above) whose values may name local files or dirs.
_PIP_PATH_KEYS = ("index-url", "extra-index-url", "find-links", "constraint", "cert", "client-cert")
_PIP_PATH_ENV = (
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_CONSTRAINT",
    "PIP_CERT",
    "PIP_CLIENT_CERT",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)

# Dependency files that decide the environment (they are hashed into its key).
_TOP_LEVEL_FILES = (
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "tox.ini",
    ".tfactory.yml",
    "Pipfile",
    "Pipfile.lock",
    "poetry.lock",
    "uv.lock",
    "pdm.lock",
)
_TOP_LEVEL_GLOBS = (
    "requirements*.txt",
    "*-requirements.txt",
    "*_requirements.txt",
    "constraints*.txt",
)


# Not copied into the build scratch copy of the repository.
_COPY_IGNORE = shutil.ignore_patterns(
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    "node_modules",
    "__pycache__",
    ".tox",
    ".nox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "*.pyc",
)

# At most this many files included with -r/-c (across all requirements files) are read.
_MAX_INCLUDES = 200


class ProjectEnvError(RuntimeError):
    """Building the project's environment failed; the message names the failing command.
    `package` and `reason` say which requirement pip could not install and why, when its
    output tells."""

    def __init__(self, message: str, *, package: str | None = None, reason: str | None = None):
        super().__init__(message)
        self.package = package
        self.reason = reason


# pip's own words for a requirement it could not install: (pattern, what it means)
_PIP_FAILURES = (
    (re.compile(r"Could not find a version that satisfies the requirement (\S+)"),
     "no release on the package index satisfies it"),
    (re.compile(r"No matching distribution found for (\S+)"),
     "no release on the package index satisfies it"),
    (re.compile(r"Failed building wheel for (\S+)"), "its wheel could not be built"),
    (re.compile(r"Failed to build (?:installable wheels for some pyproject\.toml based projects"
                r" \()?([^)\s]+)"), "it could not be built"),
    (re.compile(r"Cannot install (.+?) because these package versions have conflicting"),
     "its requirements conflict with each other"),
    (re.compile(r"Getting requirements to build (?:wheel|editable) did not run successfully"),
     "the project's build backend failed to start"),
)  # fmt: skip


def pip_failure(output: str) -> tuple[str | None, str | None]:
    """(the requirement pip could not install, pip's reason) read from its output."""
    errors = [line.strip() for line in output.splitlines() if line.strip().startswith("ERROR:")]
    vcs = re.findall(r"Collecting ((?:git|hg|svn|bzr)\+\S+)", output)
    if vcs and any(
        w in output for w in ("Cannot find command", "could not read", "Could not resolve")
    ):
        return (
            vcs[-1],
            "a version-control requirement the sandbox cannot fetch "
            "(no git, or its host is out of reach)",
        )
    for pattern, meaning in _PIP_FAILURES:
        if m := pattern.search(output):
            package = m.group(1).strip("'\"") if pattern.groups else None
            line = next((e for e in errors if pattern.search(e)), errors[-1] if errors else "")
            return package, f"{meaning}" + (
                f" (pip: {line.removeprefix('ERROR:').strip()})" if line else ""
            )
    if errors:
        return None, errors[-1].removeprefix("ERROR:").strip()
    return None, None


class ProjectEnvCancelled(ProjectEnvError):
    """The caller's cancel event was set while the environment was being made."""

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)


@dataclass(frozen=True)
class ProjectEnv:
    path: Path
    python: Path
    site_packages: Path
    key: str
    reused: bool
    installed: list[str] = field(default_factory=list)
    # how it was set up: the plan (what from where), what was skipped and why, the Python
    setup: dict[str, Any] = field(default_factory=dict)
    # files the project's build wrote into its source tree (a version module from git):
    # the worktree lacks them, so runs get them laid over (relative path -> text)
    generated: dict[str, str] = field(default_factory=dict)
    # the host installation of its Python, when it is not TFactory's own (bound read-only)
    python_prefix: str | None = None

    def mount(self) -> Mount:
        """The read-only mount later sandboxed steps use."""
        return Mount(self.path, writable=False)


def marker_path(env_dir: Path) -> Path:
    """Where the completion marker of the environment at ``env_dir`` lives (host-only)."""
    env_dir = Path(env_dir)
    return env_dir.with_name(env_dir.name + MARKER_SUFFIX)


# -- dependency files and the key --------------------------------------------------------


def _is_dependency_name(name: str) -> bool:
    return name in _TOP_LEVEL_FILES or any(
        fnmatch.fnmatchcase(name, pattern) for pattern in _TOP_LEVEL_GLOBS
    )


def _scan_dependency_files(repo: Path) -> tuple[list[str], list[str]]:
    """(dependency files that are regular files, dependency paths skipped as symlinks or
    special files), relative POSIX paths, sorted. Nothing is followed."""
    found: set[str] = set()
    skipped: set[str] = set()

    def consider(rel: str, entry: os.DirEntry[str]) -> None:
        try:
            if entry.is_symlink():
                skipped.add(rel)
            elif entry.is_file(follow_symlinks=False):
                found.add(rel)
            elif not entry.is_dir(follow_symlinks=False):
                skipped.add(rel)
        except OSError:
            skipped.add(rel)

    try:
        entries = list(os.scandir(repo))
    except OSError:
        return [], []
    for entry in entries:
        if _is_dependency_name(entry.name):
            consider(entry.name, entry)
        elif entry.name == "requirements":
            if entry.is_symlink():
                skipped.add("requirements")
                continue
            if not entry.is_dir(follow_symlinks=False):
                continue
            try:
                with os.scandir(entry.path) as children:
                    subs = list(children)
            except OSError:
                continue
            for sub in subs:
                if fnmatch.fnmatchcase(sub.name, "*.txt"):
                    consider(f"requirements/{sub.name}", sub)
    return sorted(found), sorted(skipped)


def dependency_files(repo: Path, root: str = ".") -> list[str]:
    """Dependency files of ``repo`` (relative POSIX paths, sorted), and of its package's
    folder ``root`` when that is not the repository's root. Symlinks and special files are
    left out: they are never read, hashed or installed from."""
    found = _scan_dependency_files(Path(repo))[0]
    if root not in (".", ""):
        found += [f"{root}/{rel}" for rel in _scan_dependency_files(Path(repo) / root)[0]]
    return sorted(found)


def skipped_dependency_files(repo: Path) -> list[str]:
    """Dependency paths of ``repo`` that are symlinks (or special files) and so ignored."""
    return _scan_dependency_files(Path(repo))[1]


def _requirement_includes(text: str) -> list[tuple[str, str]]:
    """(option, path) for every -r/--requirement/-c/--constraint in a requirements file."""
    return [
        inc for _, line in requirements.logical_lines(text) for inc in requirements.includes(line)
    ]


def _resolve_include(source: str, option: str, value: str) -> str:
    """The repository-relative path ``source``'s ``option value`` line names, or
    ProjectEnvError when it names something outside the repository."""
    rel = requirements.include_path(source, value)
    if rel is None:
        raise ProjectEnvError(
            f"{source} includes {value!r} with {option}: only files inside the repository "
            "may be included (TFactory hashes them into the environment's key); move it "
            "into the repository or inline it"
        )
    return rel


def _dependency_contents(repo: Path, files: Sequence[str]) -> list[tuple[str, bytes | None]]:
    """(path, content) of the dependency files and, recursively, of the files their
    -r/-c lines include; None for an included file that does not exist. Read with
    safe_fs below ``repo``: an included symlink raises ProjectEnvError."""
    result: list[tuple[str, bytes | None]] = []
    seen: set[str] = set()
    queue: list[tuple[str, str | None]] = [(name, None) for name in files]
    while queue:
        rel, included_by = queue.pop(0)
        if rel in seen:
            continue
        seen.add(rel)
        if len(seen) > len(files) + _MAX_INCLUDES:
            raise ProjectEnvError(
                f"the requirements files include more than {_MAX_INCLUDES} other files"
            )
        try:
            content: bytes | None = safe_fs.read_bytes(repo, rel)
        except UnsafePath as exc:
            if included_by is None:  # turned into a link since the scan: skip it
                continue
            raise ProjectEnvError(
                f"{included_by} includes {rel}, which is a symlink or not a regular file "
                f"({exc.strerror}); TFactory does not follow links in the repository"
            ) from exc
        except FileNotFoundError:
            if included_by is None:
                continue
            content = None  # pip will say so if it is needed
        except OSError as exc:
            raise ProjectEnvError(f"cannot read {rel}: {exc}") from exc
        result.append((rel, content))
        if content is None or (included_by is None and rel in _TOP_LEVEL_FILES):
            continue
        text = content.decode("utf-8", errors="replace")
        for option, value in _requirement_includes(text):
            queue.append((_resolve_include(rel, option, value), rel))
    return result


def _python_info(python: str) -> tuple[str, Path]:
    """(version and real path, base prefix) of an interpreter (its venv is tied to both)."""
    real = os.path.realpath(python)
    if os.path.realpath(sys.executable) == real:
        return f"{sys.version}|{real}", Path(sys.base_prefix)
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print(sys.base_prefix); print(sys.version)"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env={"PATH": "/usr/bin:/bin"},
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ProjectEnvError(f"cannot run the Python interpreter {python}: {exc}") from exc
    base, _, version = out.stdout.strip().partition("\n")
    return f"{version.strip()}|{real}", Path(base.strip())


def _python_identity(python: str) -> str:
    """Version and real path of an interpreter (its venv is tied to both)."""
    return _python_info(python)[0]


def env_key(
    repo: Path,
    python: str = sys.executable,
    *,
    project: str = "",
    identity: str | None = None,
    root: str = ".",
) -> str:
    """sha256 over the project id, the dependency files (names and contents) and the files
    they include with -r/-c, the Python, the runner requirements and RECIPE_VERSION.

    Raises ProjectEnvError when a requirements file includes a file outside the
    repository or a symlink.
    """
    repo = Path(repo)
    digest = hashlib.sha256()
    digest.update(f"recipe={RECIPE_VERSION}\n".encode())
    digest.update(f"project={json.dumps(project)}\n".encode())
    digest.update(f"python={identity or _python_identity(python)}\n".encode())
    for requirement in RUNNER_REQUIREMENTS:
        digest.update(f"runner={requirement}\n".encode())
    if root not in (".", ""):
        digest.update(f"root={root}\n".encode())
    try:  # what will be installed, as read from the files: a new reading, a new env
        digest.update(json.dumps(setup_plan(repo, root).as_json(), sort_keys=True).encode())
    except PlanError as exc:
        digest.update(f"plan-error={exc}\n".encode())
    for name, content in _dependency_contents(repo, dependency_files(repo, root)):
        if content is None:
            digest.update(f"missing={name}\n".encode())
            continue
        digest.update(f"file={name}\n{len(content)}\n".encode())
        digest.update(content)
    return digest.hexdigest()


# -- pip settings from the host --------------------------------------------------------------


def _user_pip_configs() -> list[Path]:
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    candidates = [Path.home() / ".pip" / "pip.conf", Path(xdg) / "pip" / "pip.conf"]
    return [p for p in candidates if p.is_file()]


def _global_pip_configs() -> list[Path]:
    dirs = (os.environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(os.pathsep)
    candidates = [Path(d) / "pip" / "pip.conf" for d in dirs if d] + [Path("/etc/pip.conf")]
    return [p for p in candidates if p.is_file()]


def _is_sensitive(path: Path) -> bool:
    home = Path.home()
    if path in (Path("/"), Path("/root"), Path("/home"), Path("/etc"), home, home.parent):
        return True
    if path.parent == Path("/home"):
        return True
    return any(part in (".ssh", ".gnupg", "shadow", "gshadow") for part in path.parts)


def _local_paths(settings: Iterable[tuple[str, str]]) -> Iterator[Path]:
    """Local paths named by (key, value) pip settings. A local index (``.../simple``) links
    its files relative to itself (``../../files/x.whl``), so its parent is what is needed."""
    for key, value in settings:
        is_index = "index" in key.lower()
        for token in value.split():
            if token.startswith("file:"):
                token = unquote(urlparse(token).path)
            if not token.startswith("/"):
                continue
            path = Path(token.rstrip("/") or "/")
            if is_index and path.name == "simple" and not _is_sensitive(path.parent):
                path = path.parent
            yield path


def pip_settings(scratch: Path) -> tuple[dict[str, str], list[Mount]]:
    """Env vars and read-only mounts that give the sandboxed pip the host's index settings.

    The user's pip config (never mounted: it lives in the host's home) is merged into
    ``scratch/pip.conf`` and passed as PIP_CONFIG_FILE.
    """
    env = {k: os.environ[k] for k in PIP_PASSTHROUGH if os.environ.get(k)}
    user_configs = _user_pip_configs()
    host_config = os.environ.get("PIP_CONFIG_FILE")
    if host_config == os.devnull:
        env["PIP_CONFIG_FILE"] = os.devnull
        user_configs = []
    elif host_config and Path(host_config).is_file():
        user_configs = [Path(host_config)]
    config_files = _global_pip_configs() + user_configs
    if user_configs:
        merged = configparser.RawConfigParser()
        with contextlib.suppress(configparser.Error, OSError, UnicodeDecodeError):
            merged.read(user_configs, encoding="utf-8")
        target = scratch / "pip.conf"
        with target.open("w", encoding="utf-8") as handle:
            merged.write(handle)
        env["PIP_CONFIG_FILE"] = str(target)

    values = [(k, os.environ[k]) for k in _PIP_PATH_ENV if os.environ.get(k)]
    for config in config_files:
        parser = configparser.RawConfigParser()
        with contextlib.suppress(configparser.Error, OSError, UnicodeDecodeError):
            parser.read(config, encoding="utf-8")
        for section in parser.sections():
            for key in _PIP_PATH_KEYS:
                if parser.has_option(section, key):
                    values.append((key, parser.get(section, key)))
    mounts: list[Mount] = [Mount(p) for p in _global_pip_configs()]
    for path in _local_paths(values):
        if path.exists() and not _is_sensitive(path) and scratch not in (path, *path.parents):
            mount = Mount(path)
            if mount not in mounts:
                mounts.append(mount)
    return env, mounts


# -- building ----------------------------------------------------------------------------

_SLUG_RE = re.compile(r"[^a-z0-9]+")
_DIST_NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,200}[A-Za-z0-9])?")
_VERSION_RE = re.compile(r"[A-Za-z0-9.+!_-]{1,100}")
_SITE_RE = re.compile(r"lib/python3\.\d+t?/site-packages")

# Run inside the sandbox (``python -I -S``: nothing of the environment runs) to list the
# distributions in a site-packages directory; the host only parses the JSON it prints.
_INSPECT = """
import importlib.metadata as md, json, sys
out = []
for dist in md.distributions(path=[sys.argv[1]]):
    try:
        name, version = dist.metadata["Name"], dist.version
        direct = dist.read_text("direct_url.json") or ""
        url = json.loads(direct).get("url", "") if direct else ""
    except Exception:
        continue
    out.append({"name": name, "version": version, "url": url})
print(json.dumps(out))
"""


@dataclass(frozen=True)
class _Dist:
    name: str
    version: str
    url: str


def _slug(project: str) -> str:
    return _SLUG_RE.sub("-", project.lower()).strip("-")[:40].strip("-")


def _env_name(key: str, project: str = "") -> str:
    """``py-<key[:16]>``, or ``py-<project slug>-<key[:16]>`` (the key covers the project)."""
    slug = _slug(project)
    return f"py-{slug}-{key[:16]}" if slug else f"py-{key[:16]}"


def _pip_cache_dir(cache_dir: Path, project: str, env_name: str) -> Path:
    """pip's cache for one build: per project, or per environment when there is no project.
    Never shared between projects: build code runs with it writable."""
    if project:
        tag = hashlib.sha256(project.encode()).hexdigest()[:12]
        slug = _slug(project)
        return cache_dir / "pip-caches" / (f"{slug}-{tag}" if slug else tag)
    return cache_dir / "pip-caches" / env_name


def _site_packages_rel(env_dir: Path) -> str:
    """site-packages of a venv just made by the host (before any sandboxed code ran)."""
    hits = sorted(
        p.relative_to(env_dir).as_posix() for p in env_dir.glob("lib/python*/site-packages")
    )
    hits = [h for h in hits if _SITE_RE.fullmatch(h)]
    if not hits:
        raise ProjectEnvError(f"no site-packages directory in {env_dir}")
    return hits[0]


def _parse_distributions(stdout: str) -> list[_Dist]:
    """The JSON ``_INSPECT`` printed, validated (it comes from a sandbox build code ran in)."""
    try:
        data = json.loads(stdout)
    except ValueError as exc:
        raise ProjectEnvError(
            f"listing the installed distributions printed no JSON: {stdout[-500:]!r}"
        ) from exc
    if not isinstance(data, list):
        raise ProjectEnvError("listing the installed distributions printed no JSON list")
    result: dict[str, _Dist] = {}
    for item in data:
        if not isinstance(item, dict):
            continue
        name, version, url = item.get("name"), item.get("version"), item.get("url")
        if not (isinstance(name, str) and _DIST_NAME_RE.fullmatch(name)):
            continue
        if not (isinstance(version, str) and _VERSION_RE.fullmatch(version)):
            continue
        result.setdefault(name.lower(), _Dist(name, version, url if isinstance(url, str) else ""))
    return list(result.values())


def _tail(result: RunResult, lines: int = 25) -> str:
    text = (result.stdout.rstrip() + "\n" + result.stderr.rstrip()).strip()
    return "\n".join(text.splitlines()[-lines:])


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise ProjectEnvCancelled()


@contextlib.contextmanager
def _key_lock(lock_path: Path, cancel: threading.Event | None = None) -> Iterator[None]:
    """Exclusive lock across processes and threads (each call opens its own descriptor);
    waiting for it ends with ProjectEnvCancelled when ``cancel`` is set."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a+") as handle:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                _check_cancel(cancel)
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _remove_tree(path: Path) -> None:
    """Remove ``path`` (never following links); ProjectEnvError when something is left."""
    shutil.rmtree(path, ignore_errors=True)
    if os.path.lexists(path) and not os.path.islink(path):
        # A build may leave directories without permissions: make them ours, retry. No
        # sandboxed process runs any more, and links are never chmod-ed or entered.
        for dirpath, dirnames, _ in os.walk(path):
            for name in dirnames:
                sub = os.path.join(dirpath, name)
                if not os.path.islink(sub):
                    with contextlib.suppress(OSError):
                        os.chmod(sub, 0o700)
        shutil.rmtree(path, ignore_errors=True)
    if os.path.lexists(path):
        raise ProjectEnvError(f"cannot remove the unfinished environment {path}")


def _discard(final: Path) -> None:
    """Remove an environment and its marker (marker first: readers trust the marker)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(marker_path(final))
    if os.path.lexists(final):
        _remove_tree(final)


def _load_marker(final: Path, key: str) -> dict[str, Any] | None:
    """The marker of the finished environment ``final`` or None (missing, not ours, bad)."""
    try:
        data = json.loads(
            safe_fs.read_bytes(final.parent, final.name + MARKER_SUFFIX, limit=20_000_000)
        )
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("key") != key:
        return None
    site = data.get("site_packages")
    installed = data.get("installed")
    if not (isinstance(site, str) and _SITE_RE.fullmatch(site)):
        return None
    if not (isinstance(installed, list) and all(isinstance(i, str) for i in installed)):
        return None
    try:
        if not stat.S_ISDIR(os.lstat(final).st_mode):
            return None
    except OSError:
        return None
    return data


def _write_marker(final: Path, marker: dict[str, Any]) -> None:
    """Atomically write the marker beside ``final`` (in ``envs/``, never sandbox-mounted)."""
    tmp_name = f".{final.name}{MARKER_SUFFIX}.{uuid.uuid4().hex[:8]}.tmp"
    safe_fs.write_bytes(final.parent, tmp_name, json.dumps(marker, indent=2).encode())
    try:
        os.replace(final.parent / tmp_name, marker_path(final))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(final.parent / tmp_name)
        raise


def _reused(final: Path, key: str, marker: dict[str, Any]) -> ProjectEnv:
    return ProjectEnv(
        path=final,
        python=final / "bin" / "python",
        site_packages=final / marker["site_packages"],
        key=key,
        reused=True,
        installed=list(marker["installed"]),
        setup=marker.get("setup") if isinstance(marker.get("setup"), dict) else {},
        generated={
            k: v
            for k, v in (marker.get("generated") or {}).items()
            if isinstance(k, str) and isinstance(v, str)
        },
        python_prefix=marker.get("python_prefix")
        if isinstance(marker.get("python_prefix"), str)
        else None,
    )


def ensure_project_env(
    repo: Path,
    sandbox: Sandbox,
    cache_dir: Path,
    *,
    python: str | None = None,
    emit: Callable[[str], None] = lambda m: None,
    timeout_s: float = 900,
    project: str = "",
    cancel: threading.Event | None = None,
    version: str | None = None,
    root: str = ".",
    also: list[str] | None = None,
) -> ProjectEnv:
    """The cached environment for ``repo``'s dependencies, built in ``sandbox`` if missing.

    ``version`` is what a project that takes its version from git gets as its pretend
    version (its copy has no history); by default the newest tag reachable in ``repo``.

    ``project`` (the project id) is part of the key: two projects never share an
    environment or a pip cache. ``cancel`` is passed to every sandboxed run (and checked
    while waiting for another build of the same key); when it is set, ProjectEnvCancelled
    is raised. Raises ProjectEnvError (naming the failing command and the end of pip's
    output) when the build fails; nothing of the failed build is left behind.
    """
    _check_cancel(cancel)
    repo = Path(repo).resolve()
    cache_dir = Path(cache_dir).resolve()
    for rel in skipped_dependency_files(repo):
        emit(
            f"warning: {rel} is a symlink or not a regular file; TFactory does not follow "
            "links in the repository, so it is neither read nor installed"
        )
    choice = ""
    if python is None:
        python, choice = _interpreter(repo, root, sandbox)
    # an interpreter inside the sandbox (the Docker image's) is known by the sandbox
    identity = None if sandbox.env_python_on_host else sandbox_python_identity(sandbox, python)
    key = env_key(repo, python, project=project, identity=identity, root=root)
    if also:  # groups the suite turned out to need: another environment
        key = hashlib.sha256(f"{key}|also={json.dumps(sorted(also))}".encode()).hexdigest()
    envs = cache_dir / "envs"
    final = envs / _env_name(key, project)

    marker = _load_marker(final, key)
    if marker is not None:
        emit(f"reused cached environment {final.name}")
        return _reused(final, key, marker)

    envs.mkdir(parents=True, exist_ok=True)
    with _key_lock(envs / f".{final.name}.lock", cancel):
        marker = _load_marker(final, key)
        if marker is not None:  # another task built it while we waited
            emit(f"reused cached environment {final.name}")
            return _reused(final, key, marker)
        # Leftovers of a crashed build of this key (we hold its lock, so none is live).
        build_dir = cache_dir / "build"
        if build_dir.is_dir():
            for stale in build_dir.glob(f"{final.name}.*"):
                _remove_tree(stale)
        _discard(final)  # no valid marker: not a finished environment
        return _build(
            repo, sandbox, cache_dir, key, final, python, project, emit, timeout_s, cancel,
            identity, version or described_version(repo), root, choice, also or [],
        )  # fmt: skip


def _interpreter(repo: Path, root: str, sandbox: Sandbox) -> tuple[str, str]:
    """The interpreter the environment is made with, and why that one: the sandbox's
    default when the project accepts it, else the newest the sandbox can run that it
    accepts (bubblewrap and the unsandboxed backend run the host's; Docker its image's)."""
    try:
        plan = setup_plan(repo, root)
    except PlanError:
        return sandbox.env_python, ""  # the build says what is wrong with the files
    if not plan.requires_python and not plan.python:
        return sandbox.env_python, ""
    if sandbox.env_python_on_host:
        version = interpreters.version_of(sandbox.env_python) or ""
    else:
        version = sandbox_python_identity(sandbox, sandbox.env_python).split()[0]
    candidates = [interpreters.Interpreter(sandbox.env_python, version)]
    try:
        chosen = interpreters.choose(candidates, plan.requires_python, plan.python)
    except interpreters.NoInterpreter as exc:
        if not sandbox.env_python_on_host:  # Docker runs its image's Python only
            raise ProjectEnvError(
                f"{exc} (the Docker runner image has one Python; TFACTORY_SANDBOX=bwrap "
                "runs the host's others)",
                reason=str(exc),
            ) from exc
        candidates = interpreters.host_interpreters(sandbox.env_python)
        try:
            chosen = interpreters.choose(candidates, plan.requires_python, plan.python)
        except interpreters.NoInterpreter as exc2:
            raise ProjectEnvError(str(exc2), reason=str(exc2)) from exc2
    if plan.python:
        why = f"as .tfactory.yml asks ({plan.python})"
    elif chosen.path != candidates[0].path:
        why = f"the newest the sandbox has that the project's {plan.requires_python} accepts"
    else:
        why = "the sandbox's default"
    return chosen.path, f"Python {chosen.version} ({why})"


def described_version(repo: Path) -> str:
    """The version the newest tag reachable from the checked-out commit names, as PEP 440
    ('v2.1.0' -> '2.1.0'); FALLBACK when there is none."""
    try:
        tag = git.git(repo, "describe", "--tags", "--abbrev=0", check=False, timeout=30)
    except (OSError, subprocess.SubprocessError):
        tag = ""
    return pep440(tag.strip().splitlines()[0] if tag.strip() else None)


def _pip_args(src: Source, copy: Path) -> list[str]:
    """A source's pip arguments, its files named inside the build's copy."""
    args, after_r = [], False
    for arg in src.args:
        args.append(str(copy / arg) if after_r else arg)
        after_r = arg == "-r"
    return args


def _install_together(
    plan: SetupPlan,
    copy: Path,
    version: str,
    pip: Callable[..., None],
    done: list[str],
    skipped: list[str],
    emit: Callable[[str], None],
) -> bool:
    """The project (editable) and its test dependencies in one pip call — with the dev
    groups and extras, else without them. False when neither resolves."""
    project = plan.project
    required = [s for s in plan.sources if not s.optional]
    optional = [s for s in plan.sources if s.optional]
    if project is None and not plan.sources:
        return True
    attempts = [True, False] if optional or (project and project.optional_extras) else [True]
    for with_dev in attempts:
        sources = required + (optional if with_dev else [])
        args: list[str] = []
        if project is not None:
            extras = project.extras + (project.optional_extras if with_dev else [])
            args += ["-e", str(copy / plan.root) + (f"[{','.join(extras)}]" if extras else "")]
        args += [a for src in sources for a in _pip_args(src, copy)]
        if not args:
            continue
        try:
            pip(
                "the project and its test dependencies, in one resolve"
                + ("" if with_dev else " (without its dev groups)"),
                ["install", *args],
                extra_env=plan.version_env(version),
            )
        except ProjectEnvError:
            continue
        if plan.version_env(version):
            done.append(f"version {version} given to {plan.scm} (the copy has no git history)")
        if project is not None:
            project.editable = True
            used = project.extras + (project.optional_extras if with_dev else [])
            done.append(
                f"the project itself (editable) from {project.origin}"
                + (f" with extras {', '.join(used)}" if used else "")
            )
        done += [f"{src.label} from {src.origin}" for src in sources]
        if not with_dev:
            left = [s.origin for s in optional] + [
                f"extra {e}" for e in (project.optional_extras if project else [])
            ]
            skipped.append(f"{', '.join(left)}: skipped, they would not install with the rest")
            emit(f"warning: {skipped[-1]}")
        return True
    return False


def _install_project(
    plan: SetupPlan,
    copy: Path,
    version: str,
    pip: Callable[..., None],
    done: list[str],
    skipped: list[str],
) -> None:
    """The project itself: editable (PEP 660) where its backend can, else a regular
    build; with its test extras (a dev extra that will not install is dropped)."""
    project = plan.project
    assert project is not None
    env = plan.version_env(version)
    if env:
        done.append(f"version {version} given to {project.scm} (the copy has no git history)")
    attempts = [(True, project.extras + project.optional_extras)]
    if project.optional_extras:
        attempts.append((True, project.extras))
    last: ProjectEnvError | None = None
    for extras in dict.fromkeys(tuple(e) for _, e in attempts):
        target = str(copy / plan.root) + (f"[{','.join(extras)}]" if extras else "")
        for editable in (True, False):
            how = "editable" if editable else "built"
            try:
                pip(
                    f"the project itself, {how} ({project.origin})"
                    + (f" with extras {', '.join(extras)}" if extras else ""),
                    ["install", *(["-e"] if editable else []), target],
                    extra_env=env,
                )
            except ProjectEnvError as exc:
                last = exc  # e.g. a backend without build_editable: try a regular build
                continue
            project.editable = editable
            done.append(
                f"the project itself ({how}) from {project.origin}"
                + (f" with extras {', '.join(extras)}" if extras else "")
            )
            dropped = [e for e in project.optional_extras if e not in extras]
            if dropped and last is not None:
                skipped.append(
                    f"extras {', '.join(dropped)}: skipped, they would not install "
                    f"({last.reason or 'see the log'})"
                )
            return
    assert last is not None
    raise last


# Build leftovers that are not part of the package's source
_BUILD_LEFTOVERS = re.compile(r"(^|/)(build|dist|\.eggs|[^/]*\.egg-info|__pycache__)(/|$)")
_GENERATED_MAX_FILES = 20
_GENERATED_MAX_BYTES = 200_000


def _listing(root: Path) -> set[str]:
    """Every regular file below `root`, relative, without following links."""
    found: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = os.path.relpath(dirpath, root)
        for name in filenames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if stat.S_ISREG(os.lstat(os.path.join(dirpath, name)).st_mode):
                found.add(rel)
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
    return found


def _generated(copy: Path, before: set[str]) -> dict[str, str]:
    """Source files the project's build wrote into its tree (a `_version.py` from git),
    read back without following links; build leftovers are not source."""
    out: dict[str, str] = {}
    for rel in sorted(_listing(copy) - before):
        if _BUILD_LEFTOVERS.search(rel) or not rel.endswith((".py", ".txt", ".json")):
            continue
        if len(out) >= _GENERATED_MAX_FILES:
            break
        with contextlib.suppress(OSError, UnicodeDecodeError):
            out[rel] = safe_fs.read_text(copy, rel, limit=_GENERATED_MAX_BYTES)
    return out


def sandbox_python_identity(sandbox: Sandbox, python: str) -> str:
    """Version and location of an interpreter that lives inside the sandbox (its image)."""
    image = sandbox.describe().get("image") or sandbox.name
    result = sandbox.run(
        [python, "-c", "import sys; print(sys.version.split()[0], sys.base_prefix)"],
        mounts=[],
        workdir=Path("/tmp"),  # noqa: S108 - the sandbox's own private /tmp
        timeout_s=60,
    )
    if not result.ok:
        raise ProjectEnvError(f"cannot run {python} in the {sandbox.name} sandbox: {_tail(result)}")
    return f"{result.stdout.strip()}|{python}|{image}"


def _make_venv(python: str, target: Path, deadline: float) -> None:
    """``python -m venv target`` on the host (TFactory's own interpreter, no project code)."""
    venv_cmd = [python, "-m", "venv", str(target)]
    try:
        made = subprocess.run(
            venv_cmd,
            capture_output=True,
            text=True,
            timeout=max(deadline - time.monotonic(), 1),
            check=False,
            env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"},
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ProjectEnvError(f"`{shlex.join(venv_cmd)}` failed: {exc}") from exc
    if made.returncode != 0:
        raise ProjectEnvError(
            f"`{shlex.join(venv_cmd)}` failed (exit {made.returncode}): "
            f"{(made.stderr or made.stdout).strip()[-2000:]}"
        )


def _build(
    repo: Path,
    sandbox: Sandbox,
    cache_dir: Path,
    key: str,
    final: Path,
    python: str,
    project: str,
    emit: Callable[[str], None],
    timeout_s: float,
    cancel: threading.Event | None,
    sandbox_identity: str | None = None,
    version: str = "0.0.0",
    root: str = ".",
    choice: str = "",
    also: list[str] | None = None,
) -> ProjectEnv:
    """Build the environment at its final path (we hold the key's lock; no marker yet)."""
    started = time.monotonic()
    deadline = started + timeout_s
    build_root = cache_dir / "build" / f"{final.name}.{uuid.uuid4().hex[:8]}"
    work = build_root / "work"  # writable in every sandboxed step of the build
    pip_conf_dir = build_root / "pip"  # host-written, read-only, only with network
    pip_cache = _pip_cache_dir(cache_dir, project, final.name)
    prefixes: list[Path] = []
    if sandbox_identity is None:
        identity, base_prefix = _python_info(python)
        if base_prefix.resolve() != Path(sys.base_prefix).resolve():
            prefixes.append(base_prefix)
    else:
        identity = sandbox_identity
    emit("installing project dependencies (pip) …")
    try:
        pip_cache.mkdir(parents=True, exist_ok=True)
        (work / "home").mkdir(parents=True)
        (work / "tmp").mkdir()
        pip_conf_dir.mkdir()
        copy = work / (repo.name or "repo")
        shutil.copytree(repo, copy, symlinks=True, ignore=_COPY_IGNORE)
        _check_cancel(cancel)
        if sandbox_identity is None:
            _make_venv(python, final, deadline)
        else:
            # the sandbox's own interpreter makes the venv inside it (no project code yet)
            final.mkdir(parents=True)
            for path in (work, final, pip_cache):
                sandbox.prepare_writable(path)
            made = sandbox.run(
                [python, "-m", "venv", str(final)],
                mounts=[Mount(final, writable=True)],
                workdir=final,
                timeout_s=max(deadline - time.monotonic(), 1),
                cancel=cancel,
            )
            if made.cancelled:
                raise ProjectEnvCancelled()
            if not made.ok:
                raise ProjectEnvError(f"`{python} -m venv` failed in the sandbox: {_tail(made)}")
        site_rel = _site_packages_rel(final)  # read before any sandboxed code ran
        site_packages = final / site_rel
        env_python = final / "bin" / "python"

        pip_env, pip_mounts = pip_settings(pip_conf_dir)
        if (pip_conf_dir / "pip.conf").exists():
            pip_mounts = [Mount(pip_conf_dir), *pip_mounts]
        common_env = {
            "HOME": str(work / "home"),
            "TMPDIR": str(work / "tmp"),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
            "PIP_PROGRESS_BAR": "off",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        online_env = {**pip_env, **common_env, "PIP_CACHE_DIR": str(pip_cache)}
        offline_env = {
            **common_env,
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_NO_CACHE_DIR": "1",
            "PIP_NO_INDEX": "1",
        }
        online_mounts = [
            Mount(work, writable=True),
            Mount(final, writable=True),
            Mount(pip_cache, writable=True),
            *pip_mounts,
        ]
        offline_mounts = [Mount(work, writable=True), Mount(final, writable=True)]
        extra: dict[str, Any] = {"python_prefixes": prefixes} if prefixes else {}

        def sandboxed(
            argv: list[str], *, network: bool, extra_env: dict[str, str] | None = None
        ) -> RunResult:
            _check_cancel(cancel)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProjectEnvError(
                    f"building the project environment took longer than {timeout_s:.0f} s "
                    f"(before `{shlex.join(argv)}`)"
                )
            try:
                result = sandbox.run(
                    argv,
                    mounts=online_mounts if network else offline_mounts,
                    workdir=copy,
                    env={**(online_env if network else offline_env), **(extra_env or {})},
                    timeout_s=remaining,
                    network=network,
                    cancel=cancel,
                    **extra,
                )
            except SandboxError as exc:
                raise ProjectEnvError(f"`{shlex.join(argv)}` could not run: {exc}") from exc
            if result.cancelled:
                raise ProjectEnvCancelled()
            if result.timed_out:
                raise ProjectEnvError(
                    f"`{shlex.join(argv)}` timed out after {result.duration_s:.0f} s:\n"
                    f"{_tail(result)}"
                )
            return result

        def pip(
            label: str,
            args: Sequence[str],
            *,
            network: bool = True,
            extra_env: dict[str, str] | None = None,
        ) -> None:
            argv = [str(env_python), "-m", "pip", *args]
            emit(f"pip: {label}")
            result = sandboxed(argv, network=network, extra_env=extra_env)
            if not result.ok:
                package, reason = pip_failure(result.stdout + "\n" + result.stderr)
                raise ProjectEnvError(
                    f"installing the project's dependencies failed: `{shlex.join(argv)}` "
                    f"exited {result.returncode}:\n{_tail(result)}",
                    package=package,
                    reason=reason,
                )

        def distributions() -> list[_Dist]:
            argv = [str(env_python), "-I", "-S", "-c", _INSPECT, str(site_packages)]
            result = sandboxed(argv, network=False)
            if not result.ok:
                raise ProjectEnvError(
                    f"listing the installed distributions failed (exit {result.returncode}):"
                    f"\n{_tail(result)}"
                )
            return _parse_distributions(result.stdout)

        try:
            plan = setup_plan(copy, root, also)
        except PlanError as exc:
            raise ProjectEnvError(str(exc), reason=str(exc)) from exc
        python_version = identity.split("|")[0].split()[0]
        if plan.python and not (python_version + ".").startswith(plan.python + "."):
            raise ProjectEnvError(
                f".tfactory.yml asks for Python {plan.python}; the {sandbox.name} sandbox's "
                f"interpreter is {python_version}",
                reason=f"Python {plan.python} is not available in the {sandbox.name} sandbox",
            )
        done: list[str] = []  # what was installed, from where
        skipped: list[str] = list(plan.notes)
        before = _listing(copy)
        # one resolve for the project and everything its tests need, as tox would: pip
        # then picks versions that fit together (pytest and its plugins)
        if not _install_together(plan, copy, version, pip, done, skipped, emit):
            # one at a time, to find what will not install and why
            if plan.project is not None:
                _install_project(plan, copy, version, pip, done, skipped)
            required = [src for src in plan.sources if not src.optional]
            if required:
                args = [a for src in required for a in _pip_args(src, copy)]
                pip(
                    "test dependencies (" + ", ".join(src.origin for src in required) + ")",
                    ["install", *args],
                    extra_env=plan.version_env(version),  # `-e .` lines of .tfactory.yml
                )
                done += [f"{src.label} from {src.origin}" for src in required]
            for src in (s for s in plan.sources if s.optional):
                try:
                    pip(f"{src.label} ({src.origin})", ["install", *_pip_args(src, copy)])
                except ProjectEnvError as exc:
                    # a dev group's linters and doc tools are not needed to run the tests
                    why = f"pip could not install {exc.package}" if exc.package else "pip failed"
                    skipped.append(f"{src.origin}: skipped, {why} ({exc.reason or 'see the log'})")
                    emit(f"warning: {skipped[-1]}")
                else:
                    done.append(f"{src.label} from {src.origin}")
        # what the builds wrote into the source tree (a version module from git)
        generated = _generated(copy, before)
        if generated:
            emit(f"the build wrote {', '.join(sorted(generated))}; runs get it too")
        dists = distributions()
        runner = [r for r in RUNNER_REQUIREMENTS if r != PYTEST_REQUIREMENT]
        if not any(canonicalize_name(d.name) == "pytest" for d in dists):
            runner.append(PYTEST_REQUIREMENT)
        pip("runner requirements", ["install", *runner])

        installed = sorted(
            (
                f"{d.name}=={d.version}"
                for d in distributions()
                if canonicalize_name(d.name) != "pip"
            ),
            key=str.lower,
        )
        marker = {
            "key": key,
            "recipe": RECIPE_VERSION,
            "project": project,
            "python": identity,
            "setup": {
                "plan": plan.as_json(),
                "installed_from": done,
                "skipped": skipped,
                "python": python_version,
                "python_choice": choice or None,
                "version": version if plan.scm else None,
            },
            "generated": generated,
            # a host installation the sandbox must bind to run this environment's Python
            "python_prefix": str(prefixes[0]) if prefixes else None,
            "dependency_files": dependency_files(repo, root),
            "site_packages": site_rel,
            "installed": installed,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        _check_cancel(cancel)
        _write_marker(final, marker)
    except BaseException:
        with contextlib.suppress(ProjectEnvError):
            _discard(final)
        raise
    finally:
        shutil.rmtree(build_root, ignore_errors=True)
    emit(
        f"built environment {final.name} in {time.monotonic() - started:.0f} s "
        f"({len(installed)} packages)"
    )
    return ProjectEnv(
        path=final,
        python=env_python,
        site_packages=site_packages,
        key=key,
        reused=False,
        installed=installed,
        setup=marker["setup"],
        generated=generated,
        python_prefix=marker["python_prefix"],
    )
