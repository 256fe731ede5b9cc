"""The project's own dependencies, installed once into a cached virtual environment.

Installing dependencies is the ONLY step of a task that may reach a package index: it runs
in the sandbox with ``network=True``, with a scratch COPY of the repository (pip may write
build directories into it), the environment being built and a shared pip cache writable.
Every later step mounts the finished environment read-only (``ProjectEnv.mount()``).

Environments are keyed by ``env_key``: a hash of the dependency files, the Python, the
runner requirements and ``RECIPE_VERSION``. Layout: ``cache_dir/envs/py-<key[:16]>/``.
A build happens under an fcntl lock per key, in a temporary directory that is renamed into
place only when complete (with a marker file inside), so a reader never sees a half-made
environment and a failed build leaves nothing behind.

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
/etc/pip.conf), the user's pip config (copied into the build scratch directory and
passed as PIP_CONFIG_FILE, since the host's home is never mounted), and the environment
variables in ``PIP_PASSTHROUGH``. Local paths those settings name (``file://`` indexes,
find-links directories, constraint files, certificates) are mounted read-only.

No Django imports here: callers pass settings values in.
"""

from __future__ import annotations

import configparser
import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from agents_app.sandbox import Mount, RunResult, Sandbox, SandboxError

# Bump when the way environments are built changes: every cached environment is rebuilt.
RECIPE_VERSION = "1"

COVERAGE_REQUIREMENT = "coverage==7.17.4"
PYTEST_TIMEOUT_REQUIREMENT = "pytest-timeout==2.4.0"
PYTEST_REQUIREMENT = "pytest>=7"
RUNNER_REQUIREMENTS: tuple[str, ...] = (
    COVERAGE_REQUIREMENT,
    PYTEST_TIMEOUT_REQUIREMENT,
    PYTEST_REQUIREMENT,  # skipped when the project already brings pytest
)

MARKER_NAME = ".tfactory-env.json"

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

# Requirements files that are installed (when present), in this order.
_INSTALL_REQUIREMENTS = (
    "requirements.txt",
    "requirements-dev.txt",
    "requirements_dev.txt",
    "requirements-test.txt",
    "requirements_test.txt",
    "requirements-tests.txt",
    "requirements_tests.txt",
    "dev-requirements.txt",
    "dev_requirements.txt",
    "test-requirements.txt",
    "test_requirements.txt",
)
_INSTALL_REQUIREMENTS_DIR_GLOBS = ("base*.txt", "dev*.txt", "test*.txt")
_TEST_EXTRAS = ("test", "tests", "testing", "dev")
_TEST_GROUPS = ("test", "tests", "testing", "dev")

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


class ProjectEnvError(RuntimeError):
    """Building the project's environment failed; the message names the failing command."""


@dataclass(frozen=True)
class ProjectEnv:
    path: Path
    python: Path
    site_packages: Path
    key: str
    reused: bool
    installed: list[str] = field(default_factory=list)

    def mount(self) -> Mount:
        """The read-only mount later sandboxed steps use."""
        return Mount(self.path, writable=False)


# -- dependency files and the key --------------------------------------------------------


def dependency_files(repo: Path) -> list[str]:
    """Dependency files of ``repo`` (relative POSIX paths, sorted)."""
    repo = Path(repo)
    found: set[str] = set()
    for name in _TOP_LEVEL_FILES:
        if (repo / name).is_file():
            found.add(name)
    for pattern in _TOP_LEVEL_GLOBS:
        for path in repo.glob(pattern):
            if path.is_file():
                found.add(path.name)
    req_dir = repo / "requirements"
    if req_dir.is_dir():
        for path in req_dir.glob("*.txt"):
            if path.is_file():
                found.add(f"requirements/{path.name}")
    return sorted(found)


def _python_identity(python: str) -> str:
    """Version and real path of an interpreter (its venv is tied to both)."""
    real = os.path.realpath(python)
    if os.path.realpath(sys.executable) == real:
        version = sys.version
    else:
        try:
            out = subprocess.run(
                [python, "-c", "import sys; print(sys.version)"],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
                env={"PATH": "/usr/bin:/bin"},
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise ProjectEnvError(f"cannot run the Python interpreter {python}: {exc}") from exc
        version = out.stdout.strip()
    return f"{version}|{real}"


def env_key(repo: Path, python: str = sys.executable) -> str:
    """sha256 over the dependency files (names and contents), the Python, the runner
    requirements and RECIPE_VERSION."""
    digest = hashlib.sha256()
    digest.update(f"recipe={RECIPE_VERSION}\n".encode())
    digest.update(f"python={_python_identity(python)}\n".encode())
    for requirement in RUNNER_REQUIREMENTS:
        digest.update(f"runner={requirement}\n".encode())
    for name in dependency_files(repo):
        content = (Path(repo) / name).read_bytes()
        digest.update(f"file={name}\n{len(content)}\n".encode())
        digest.update(content)
    return digest.hexdigest()


# -- what to install -----------------------------------------------------------------------


@dataclass
class _Step:
    label: str
    pip_args: list[str]


@dataclass
class _Plan:
    steps: list[_Step]
    installs_project: bool = False
    description: str = ""


_NAME_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str | None:
    match = _NAME_RE.match(requirement)
    return _normalize(match.group(1)) if match else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProjectEnvError(f"cannot read {path.name}: {exc}") from exc


def _dependency_group(groups: dict[str, Any], name: str, seen: set[str]) -> list[str]:
    """PEP 735 group with ``{include-group = ...}`` resolved."""
    if name in seen or not isinstance(groups.get(name), list):
        return []
    seen.add(name)
    result: list[str] = []
    for item in groups[name]:
        if isinstance(item, str):
            result.append(item)
        elif isinstance(item, dict) and isinstance(item.get("include-group"), str):
            result.extend(_dependency_group(groups, item["include-group"], seen))
    return result


def _poetry_spec(name: str, spec: Any) -> str | None:
    """A poetry dependency as a pip requirement (best effort; git/path deps skipped)."""
    extras = ""
    if isinstance(spec, dict):
        if any(k in spec for k in ("git", "path", "url")):
            return None
        if spec.get("extras"):
            extras = "[" + ",".join(spec["extras"]) + "]"
        spec = spec.get("version", "*")
    if not isinstance(spec, str):
        return None
    spec = spec.strip()
    parts = []
    for piece in (p.strip() for p in spec.split(",")):
        if piece in ("", "*"):
            continue
        if piece.startswith("^") or (piece.startswith("~") and not piece.startswith("~=")):
            caret = piece.startswith("^")
            version = piece.lstrip("^~").strip()
            nums = [int(n) if n.isdigit() else 0 for n in version.split(".")]
            if caret:
                index = next((i for i, n in enumerate(nums) if n != 0), len(nums) - 1)
            else:
                index = min(1, len(nums) - 1) if len(nums) > 1 else 0
            upper = nums[: index + 1]
            upper[-1] += 1
            parts += [f">={version}", "<" + ".".join(str(n) for n in upper)]
        elif piece[0].isdigit():
            parts.append(f"=={piece}")
        else:
            parts.append(piece)
    return f"{name}{extras}{','.join(parts)}"


def _poetry_test_deps(pyproject: dict[str, Any]) -> list[str]:
    poetry = pyproject.get("tool", {}).get("poetry", {})
    tables: list[dict[str, Any]] = []
    if isinstance(poetry.get("dev-dependencies"), dict):
        tables.append(poetry["dev-dependencies"])
    for group in _TEST_GROUPS:
        deps = poetry.get("group", {}).get(group, {}).get("dependencies")
        if isinstance(deps, dict):
            tables.append(deps)
    result = []
    for table in tables:
        for name, spec in table.items():
            if name.lower() == "python":
                continue
            requirement = _poetry_spec(name, spec)
            if requirement and requirement not in result:
                result.append(requirement)
    return result


def _setup_extras(copy: Path) -> list[str]:
    """Test/dev extras a setup.cfg or setup.py declares (read as text, never executed)."""
    extras: list[str] = []
    cfg = copy / "setup.cfg"
    if cfg.is_file():
        parser = configparser.RawConfigParser()
        with contextlib.suppress(configparser.Error, OSError, UnicodeDecodeError):
            parser.read(cfg, encoding="utf-8")
            if parser.has_section("options.extras_require"):
                declared = {k.lower() for k in parser.options("options.extras_require")}
                extras += [e for e in _TEST_EXTRAS if e in declared]
    setup_py = copy / "setup.py"
    if setup_py.is_file() and not extras:
        text = setup_py.read_text(encoding="utf-8", errors="replace")
        if "extras_require" in text:
            extras += [e for e in _TEST_EXTRAS if re.search(rf"""['"]{e}['"]\s*[:=,)]""", text)]
    return extras


def _install_plan(copy: Path) -> _Plan:
    """Decide what to install for the repository copy at ``copy`` (no project code runs)."""
    requirement_files = [copy / n for n in _INSTALL_REQUIREMENTS if (copy / n).is_file()]
    req_dir = copy / "requirements"
    if req_dir.is_dir():
        for pattern in _INSTALL_REQUIREMENTS_DIR_GLOBS:
            for path in sorted(req_dir.glob(pattern)):
                if path.is_file() and path not in requirement_files:
                    requirement_files.append(path)
    if requirement_files:
        args = ["install"]
        for path in requirement_files:
            args += ["-r", str(path)]
        names = ", ".join(p.relative_to(copy).as_posix() for p in requirement_files)
        return _Plan([_Step(f"requirements ({names})", args)], description=f"pip -r {names}")

    pyproject_path = copy / "pyproject.toml"
    pyproject = _read_toml(pyproject_path) if pyproject_path.is_file() else {}
    project = pyproject.get("project") if isinstance(pyproject.get("project"), dict) else None
    is_poetry = "poetry" in pyproject.get("tool", {})
    dynamic = set(project.get("dynamic", [])) if project else set()
    own_name = _normalize(str(project.get("name", ""))) if project else ""

    if project is not None and "dependencies" not in dynamic and not is_poetry:
        requirements: list[str] = list(project.get("dependencies", []))
        optional = project.get("optional-dependencies", {})
        if "optional-dependencies" not in dynamic and isinstance(optional, dict):
            for extra in _TEST_EXTRAS:
                requirements += list(optional.get(extra, []))
        groups = pyproject.get("dependency-groups", {})
        if isinstance(groups, dict):
            for group in _TEST_GROUPS:
                requirements += _dependency_group(groups, group, set())
        # Drop self-references (``myproj[extra]``): the checkout is what gets tested.
        unique: list[str] = []
        for requirement in requirements:
            if not isinstance(requirement, str) or requirement in unique:
                continue
            if own_name and _requirement_name(requirement) == own_name:
                continue
            unique.append(requirement)
        steps = [_Step("pyproject dependencies", ["install", *unique])] if unique else []
        return _Plan(steps, description="pyproject.toml static dependencies")

    if pyproject_path.is_file() or (copy / "setup.py").is_file() or (copy / "setup.cfg").is_file():
        extras: list[str] = []
        if project is not None and "optional-dependencies" not in dynamic:
            declared = project.get("optional-dependencies", {})
            extras = [e for e in _TEST_EXTRAS if e in declared]
        elif is_poetry:
            declared = pyproject.get("tool", {}).get("poetry", {}).get("extras", {})
            extras = [e for e in _TEST_EXTRAS if e in declared]
        else:
            extras = _setup_extras(copy)
        target = str(copy) + (f"[{','.join(extras)}]" if extras else "")
        steps = [_Step("the project's declared dependencies", ["install", target])]
        poetry_deps = _poetry_test_deps(pyproject) if is_poetry else []
        if poetry_deps:
            steps.append(_Step("poetry test/dev groups", ["install", *poetry_deps]))
        return _Plan(steps, installs_project=True, description="pip install of the project")

    lock = copy / "Pipfile.lock"
    if lock.is_file():
        try:
            data = json.loads(lock.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ProjectEnvError(f"cannot read Pipfile.lock: {exc}") from exc
        requirements = []
        for section in ("default", "develop"):
            for name, spec in (data.get(section) or {}).items():
                version = spec.get("version", "") if isinstance(spec, dict) else ""
                if isinstance(spec, dict) and any(k in spec for k in ("git", "path", "file")):
                    continue
                requirements.append(f"{name}{version}")
        steps = [_Step("Pipfile.lock", ["install", *requirements])] if requirements else []
        return _Plan(steps, description="Pipfile.lock")

    return _Plan([], description="no dependency files")


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


def _env_name(key: str) -> str:
    return f"py-{key[:16]}"


def _site_packages(env_dir: Path) -> Path:
    hits = sorted(env_dir.glob("lib/python*/site-packages"))
    if not hits:
        raise ProjectEnvError(f"no site-packages directory in {env_dir}")
    return hits[0]


def _installed(site_packages: Path) -> list[str]:
    result = set()
    for dist in importlib.metadata.distributions(path=[str(site_packages)]):
        name = dist.metadata["Name"]
        if name and _normalize(name) != "pip":
            result.add(f"{name}=={dist.version}")
    return sorted(result, key=str.lower)


def _has_pytest(site_packages: Path) -> bool:
    return any(
        _normalize(d.metadata["Name"] or "") == "pytest"
        for d in importlib.metadata.distributions(path=[str(site_packages)])
    )


def _own_distributions(site_packages: Path, copy: Path) -> list[str]:
    """Distributions installed from the scratch copy (``pip install .``, ``-e .``)."""
    names = []
    copy_url = copy.as_uri()
    for dist in importlib.metadata.distributions(path=[str(site_packages)]):
        text = dist.read_text("direct_url.json")
        if not text:
            continue
        try:
            url = json.loads(text).get("url", "")
        except ValueError:
            continue
        if url == copy_url or url.startswith(copy_url + "/"):
            names.append(dist.metadata["Name"])
    return [n for n in names if n]


def _relocate(tmp_env: Path, final: Path) -> None:
    """Point scripts and pyvenv.cfg at the final path (a venv records its own path)."""
    old, new = str(tmp_env).encode(), str(final).encode()
    candidates = [tmp_env / "pyvenv.cfg"]
    bin_dir = tmp_env / "bin"
    if bin_dir.is_dir():
        candidates += [p for p in bin_dir.iterdir() if p.is_file() and not p.is_symlink()]
    for path in candidates:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if old in data:
            mode = path.stat().st_mode
            path.write_bytes(data.replace(old, new))
            path.chmod(mode)


def _tail(result: RunResult, lines: int = 25) -> str:
    text = (result.stdout.rstrip() + "\n" + result.stderr.rstrip()).strip()
    return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def _key_lock(lock_path: Path) -> Iterator[None]:
    """Exclusive lock across processes and threads (each call opens its own descriptor)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _load_marker(env_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((env_dir / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _reused(env_dir: Path, key: str, marker: dict[str, Any]) -> ProjectEnv:
    return ProjectEnv(
        path=env_dir,
        python=env_dir / "bin" / "python",
        site_packages=_site_packages(env_dir),
        key=key,
        reused=True,
        installed=list(marker.get("installed", [])),
    )


def ensure_project_env(
    repo: Path,
    sandbox: Sandbox,
    cache_dir: Path,
    *,
    python: str = sys.executable,
    emit: Callable[[str], None] = lambda m: None,
    timeout_s: float = 900,
) -> ProjectEnv:
    """The cached environment for ``repo``'s dependencies, built in ``sandbox`` if missing.

    Raises ProjectEnvError (naming the failing command and the end of pip's output) when
    the build fails; nothing of the failed build is left behind.
    """
    repo = Path(repo).resolve()
    cache_dir = Path(cache_dir).resolve()
    key = env_key(repo, python)
    envs = cache_dir / "envs"
    final = envs / _env_name(key)

    marker = _load_marker(final)
    if marker is not None:
        emit(f"reused cached environment {final.name}")
        return _reused(final, key, marker)

    with _key_lock(envs / f".{final.name}.lock"):
        marker = _load_marker(final)
        if marker is not None:  # another task built it while we waited
            emit(f"reused cached environment {final.name}")
            return _reused(final, key, marker)
        # Leftovers of a crashed build of this key (we hold its lock, so none is live).
        for stale in envs.glob(f".tmp-{final.name}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        for stale in (cache_dir / "build").glob(f"{final.name}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        if final.exists():  # no marker: not a finished environment
            shutil.rmtree(final, ignore_errors=True)
        return _build(repo, sandbox, cache_dir, key, final, python, emit, timeout_s)


def _build(
    repo: Path,
    sandbox: Sandbox,
    cache_dir: Path,
    key: str,
    final: Path,
    python: str,
    emit: Callable[[str], None],
    timeout_s: float,
) -> ProjectEnv:
    started = time.monotonic()
    deadline = started + timeout_s
    suffix = uuid.uuid4().hex[:8]
    tmp_env = final.parent / f".tmp-{final.name}-{suffix}"
    scratch = cache_dir / "build" / f"{final.name}-{suffix}"
    pip_cache = cache_dir / "pip-cache"
    emit("installing project dependencies (pip) …")
    try:
        pip_cache.mkdir(parents=True, exist_ok=True)
        (scratch / "home").mkdir(parents=True)
        (scratch / "tmp").mkdir()
        copy = scratch / (repo.name or "repo")
        shutil.copytree(repo, copy, symlinks=True, ignore=_COPY_IGNORE)

        venv_cmd = [python, "-m", "venv", str(tmp_env)]
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
        env_python = tmp_env / "bin" / "python"
        site_packages = _site_packages(tmp_env)

        pip_env, pip_mounts = pip_settings(scratch)
        env = {
            **pip_env,
            "HOME": str(scratch / "home"),
            "TMPDIR": str(scratch / "tmp"),
            "PIP_CACHE_DIR": str(pip_cache),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
            "PIP_PROGRESS_BAR": "off",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        mounts = [
            Mount(scratch, writable=True),
            Mount(tmp_env, writable=True),
            Mount(pip_cache, writable=True),
            *pip_mounts,
        ]

        def pip(label: str, args: Sequence[str], *, network: bool = True) -> None:
            argv = [str(env_python), "-m", "pip", *args]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProjectEnvError(
                    f"building the project environment took longer than {timeout_s:.0f} s "
                    f"(before `{shlex.join(argv)}`)"
                )
            emit(f"pip: {label}")
            try:
                result = sandbox.run(
                    argv,
                    mounts=mounts,
                    workdir=copy,
                    env=env,
                    timeout_s=remaining,
                    network=network,
                )
            except SandboxError as exc:
                raise ProjectEnvError(f"`{shlex.join(argv)}` could not run: {exc}") from exc
            if result.timed_out:
                raise ProjectEnvError(
                    f"`{shlex.join(argv)}` timed out after {result.duration_s:.0f} s:\n"
                    f"{_tail(result)}"
                )
            if not result.ok:
                raise ProjectEnvError(
                    f"installing the project's dependencies failed: `{shlex.join(argv)}` "
                    f"exited {result.returncode}:\n{_tail(result)}"
                )

        plan = _install_plan(copy)
        for step in plan.steps:
            pip(step.label, step.pip_args)
        own = _own_distributions(site_packages, copy)
        if own:
            pip("uninstall the project itself", ["uninstall", "-y", *own], network=False)
        runner = [r for r in RUNNER_REQUIREMENTS if r != PYTEST_REQUIREMENT]
        if not _has_pytest(site_packages):
            runner.append(PYTEST_REQUIREMENT)
        pip("runner requirements", ["install", *runner])

        installed = _installed(site_packages)
        marker = {
            "key": key,
            "recipe": RECIPE_VERSION,
            "python": _python_identity(python),
            "plan": plan.description,
            "dependency_files": dependency_files(repo),
            "installed": installed,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        _relocate(tmp_env, final)
        (tmp_env / MARKER_NAME).write_text(json.dumps(marker, indent=2), encoding="utf-8")
        os.rename(tmp_env, final)
    except BaseException:
        shutil.rmtree(tmp_env, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    emit(
        f"built environment {final.name} in {time.monotonic() - started:.0f} s "
        f"({len(installed)} packages)"
    )
    return ProjectEnv(
        path=final,
        python=final / "bin" / "python",
        site_packages=final / site_packages.relative_to(tmp_env),
        key=key,
        reused=False,
        installed=installed,
    )
