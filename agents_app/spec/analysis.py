"""Project analysis: languages, test framework, dependency files, import roots.

Pure Python, no Django.  :func:`analyse_project` only reads files (and asks git
for the tracked-file list); it never imports or runs the project's code.  Its
result is JSON-serialisable and written to ``context/project_analysis.json``.

The repository is untrusted content and may commit symlinks
(``requirements.txt -> ../../secret_key``) or, in a worktree that was tampered
with, hold FIFOs and other special files.  So:

* Every file is read through :mod:`tasks_app.core.safe_fs` relative to the repository
  root; a symlink anywhere on the way, a special file or an oversized file is never
  opened.  A symlinked or special file is *unread*: the analysis gets a warning
  naming it ("requirements.txt is a symlink; not read"), and it is left out of
  ``dependency_files`` and contributes nothing to the declared dependencies, the
  test framework evidence, the build configuration and so on.
* Listing files never follows a link: the walk lstat()s and does not descend into
  symlinked folders, and names git lists under a folder that is a symlink on disk
  are dropped.  A symlink's own name is still listed (git tracks it as a file), so
  it counts toward ``languages`` and ``file_count``; only its name is used.
* Paths taken from the configuration (``testpaths``) count only when they exist
  inside the repository without passing a symlink.
"""

from __future__ import annotations

import ast
import configparser
import errno
import os
import re
import stat
import subprocess
import tomllib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.utils import canonicalize_name

from agents_app.spec.changes import _unsafe_reason, is_test_path
from tasks_app.core import safe_fs

__all__ = ["LANGUAGES", "analyse_project", "list_files"]

LANGUAGES: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".pyx": "cython",
    ".md": "markdown",
    ".markdown": "markdown",
    ".rst": "restructuredtext",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".kt": "kotlin",
    ".kts": "kotlin",
    ".scala": "scala",
    ".rb": "ruby",
    ".php": "php",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hpp": "cpp",
    ".cs": "csharp",
    ".swift": "swift",
    ".sh": "shell",
    ".bash": "shell",
    ".zsh": "shell",
    ".sql": "sql",
    ".html": "html",
    ".htm": "html",
    ".css": "css",
    ".scss": "scss",
    ".vue": "vue",
    ".svelte": "svelte",
    ".json": "json",
    ".toml": "toml",
    ".yml": "yaml",
    ".yaml": "yaml",
    ".ini": "ini",
    ".cfg": "ini",
    ".xml": "xml",
}
_NAMED = {"Dockerfile": "dockerfile", "Makefile": "makefile", "Containerfile": "dockerfile"}
# Markup, data and config: counted, never the primary language.
_NOT_PROGRAMMING = {
    "markdown", "restructuredtext", "json", "toml", "yaml", "ini", "xml", "html", "css",
    "scss", "dockerfile", "makefile", "sql", "shell",
}  # fmt: skip

_SKIP_DIRS = {
    ".git", ".hg", ".svn", "node_modules", ".venv", "venv", ".tox", ".nox", "__pycache__",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".eggs", "site-packages", ".direnv",
    ".idea", ".vscode",
}  # fmt: skip
_NOT_PACKAGES = {
    "tests", "test", "docs", "doc", "examples", "example", "scripts", "benchmarks", "bench",
    "build", "dist", "site", "node_modules", "htmlcov", "typings",
}  # fmt: skip
_NOT_MODULES = {"setup", "conftest", "noxfile", "fabfile"}
_FRAMEWORKS = ("django", "flask", "fastapi", "starlette", "aiohttp", "pyramid", "tornado",
               "sanic", "litestar", "celery")  # fmt: skip
_MAX_SCAN_BYTES = 512 * 1024
_MAX_SCANNED_TESTS = 400


def _skipped_dir(parts: Iterable[str]) -> bool:
    return any(p in _SKIP_DIRS or p.endswith(".egg-info") for p in parts)


def _under_symlink(root: Path, names: list[str]) -> set[str]:
    """The names whose parent folders include a symlink on disk (lstat only)."""
    linked: dict[str, bool] = {"": False}

    def is_linked(folder: str) -> bool:
        todo = []
        while folder not in linked:
            todo.append(folder)
            folder = folder.rpartition("/")[0]
        result = linked[folder]
        for d in reversed(todo):
            if not result:
                try:
                    result = stat.S_ISLNK(os.lstat(root / d).st_mode)
                except OSError:
                    result = False  # not in the worktree: nothing there is read
            linked[d] = result
        return result

    return {n for n in names if is_linked(n.rpartition("/")[0])}


def _walk(root: Path) -> list[str]:
    """Every non-directory below root, never following or stat()ing through a link.

    Symlinks (to files or folders) and special files are listed by name; only real
    folders are entered.
    """
    out: list[str] = []
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            with os.scandir(root / rel_dir if rel_dir else root) as it:
                entries = list(it)
        except OSError:
            continue
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if not is_dir:
                out.append(rel)
            elif (
                entry.name not in _SKIP_DIRS
                and not entry.name.endswith(".egg-info")
                and not os.path.lexists(os.path.join(entry.path, "pyvenv.cfg"))
            ):
                stack.append(rel)
    return out


def list_files(repo_root: Path) -> tuple[list[str], bool]:
    """(relative POSIX paths, whether they came from git's index).

    Never follows a symlink: git's names under a folder that is a symlink on disk are
    dropped, and the walk (used without git) does not enter symlinked folders.
    """
    root = Path(repo_root)
    if os.path.lexists(root / ".git"):
        try:
            res = subprocess.run(
                ["git", "-C", str(root), "ls-files", "-z", "--cached"],
                capture_output=True,
                timeout=120,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            res = None
        if res is not None and res.returncode == 0:
            names = [n for n in res.stdout.decode("utf-8", "surrogateescape").split("\0") if n]
            kept = [n for n in names if not _skipped_dir(PurePosixPath(n).parts[:-1])]
            linked = _under_symlink(root, kept)
            return sorted({n for n in kept if n not in linked}), True
    return sorted(_walk(root)), False


def _warn(warnings: list[str], message: str) -> None:
    if message not in warnings:
        warnings.append(message)


def _unreadable(root: Path, rel: str, warnings: list[str]) -> bool:
    """True (with a warning) when root/rel is a symlink or special file; lstat only."""
    reason = _unsafe_reason(root, rel)
    if reason:
        _warn(warnings, f"{rel} {reason}; not read")
    return bool(reason)


def _read(root: Path, rel: str, warnings: list[str]) -> str | None:
    """Text of the repository file root/rel (universal newlines), read via safe_fs.

    None when it is missing or larger than _MAX_SCAN_BYTES; None and a warning when it
    is a symlink, lies under one, or is not a regular file.
    """
    try:
        text = safe_fs.read_text(root, rel, limit=_MAX_SCAN_BYTES)
    except safe_fs.UnsafePath as exc:
        if exc.errno != errno.EFBIG and not _unreadable(root, rel, warnings):
            _warn(warnings, f"{rel}: {exc.strerror}; not read")
        return None
    except OSError:
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n")


_REQ_LINE_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _req_names(lines: Iterable[str]) -> set[str]:
    names: set[str] = set()
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        m = _REQ_LINE_RE.match(line)
        if m and "://" not in line[: m.end() + 3]:
            names.add(canonicalize_name(m.group(1)))
    return names


def _toml(root: Path, rel: str, warnings: list[str]) -> dict[str, Any]:
    text = _read(root, rel, warnings)
    if text is None:
        return {}
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        warnings.append(f"{rel}: invalid TOML ({exc}); its settings were ignored")
        return {}


def _ini(root: Path, rel: str, warnings: list[str]) -> configparser.ConfigParser | None:
    text = _read(root, rel, warnings)
    if text is None:
        return None
    cp = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        cp.read_string(text, source=rel)
    except configparser.Error as exc:
        first = str(exc).splitlines()[0]
        warnings.append(f"{rel}: cannot be read as INI ({first}); its settings were ignored")
        return None
    return cp


def _dig(data: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(k)
    return data


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in re.split(r"[\n,]", value) if v.strip()]
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, str | int | float)]
    return []


def _dependency_files(files: list[str]) -> list[str]:
    top_names = {
        "pyproject.toml", "setup.py", "setup.cfg", "Pipfile", "Pipfile.lock", "poetry.lock",
        "uv.lock", "pdm.lock",
    }  # fmt: skip
    found = []
    for f in files:
        p = PurePosixPath(f)
        parts, name = p.parts, p.name
        if len(parts) == 1:
            if name in top_names or re.fullmatch(
                r".*requirements.*\.(txt|in)|constraints.*\.txt", name
            ):
                found.append(f)
        elif (
            len(parts) == 2 and parts[0] in ("requirements", "reqs") and p.suffix in (".txt", ".in")
        ):
            found.append(f)
    return sorted(found)


def _import_roots(
    files: list[str],
    pyproject: dict[str, Any],
    setup_cfg: configparser.ConfigParser | None,
    setup_py: str | None,
) -> tuple[list[str], list[str]]:
    """Import roots declared by the build configuration, else inferred from the tree."""
    roots: list[str] = []
    why: list[str] = []

    def add(value: Any, source: str) -> None:
        if not isinstance(value, str):
            return
        r = value.strip().strip("/").replace("\\", "/") or "."
        while r.startswith("./"):
            r = r[2:] or "."
        if r not in roots:
            roots.append(r)
            why.append(source)

    st = _dig(pyproject, "tool", "setuptools") or {}
    package_dir = st.get("package-dir") if isinstance(st, dict) else None
    if isinstance(package_dir, dict) and "" in package_dir:
        add(package_dir[""], "[tool.setuptools] package-dir")
    where = _dig(st, "packages", "find", "where")
    for w in _as_list(where):
        add(w, "[tool.setuptools.packages.find] where")
    poetry_pkgs = _dig(pyproject, "tool", "poetry", "packages")
    if isinstance(poetry_pkgs, list):
        for item in poetry_pkgs:
            if isinstance(item, dict):
                add(item.get("from", "."), "[tool.poetry] packages from")
    hatch_wheel = _dig(pyproject, "tool", "hatch", "build", "targets", "wheel") or {}
    if isinstance(hatch_wheel, dict):
        for pkg in _as_list(hatch_wheel.get("packages")):
            parent = PurePosixPath(pkg).parent.as_posix()
            add(parent, "[tool.hatch.build.targets.wheel] packages")
        sources = hatch_wheel.get("sources")
        if isinstance(sources, list):
            for s in sources:
                add(s, "[tool.hatch.build.targets.wheel] sources")
        elif isinstance(sources, dict):
            for k, v in sources.items():
                if v in ("", "/"):
                    add(k, "[tool.hatch.build.targets.wheel] sources")
    pdm_dir = _dig(pyproject, "tool", "pdm", "build", "package-dir")
    add(pdm_dir, "[tool.pdm.build] package-dir")
    if setup_cfg is not None:
        if setup_cfg.has_option("options", "package_dir"):
            for line in setup_cfg.get("options", "package_dir").splitlines():
                key, _, value = line.partition("=")
                if value and not key.strip():
                    add(value, "setup.cfg [options] package_dir")
        if setup_cfg.has_option("options.packages.find", "where"):
            add(
                setup_cfg.get("options.packages.find", "where"), "setup.cfg [options.packages.find]"
            )
    if setup_py:
        m = re.search(r"package_dir\s*=\s*\{\s*['\"]{2}\s*:\s*['\"]([^'\"]+)['\"]", setup_py)
        if m:
            add(m.group(1), "setup.py package_dir")
        m = re.search(
            r"find(?:_namespace)?_packages\s*\(\s*(?:where\s*=\s*)?['\"]([^'\"]+)['\"]", setup_py
        )
        if m:
            add(m.group(1), "setup.py find_packages")
    if roots:
        return roots, why

    # Inferred: a src/ folder holding Python code.
    src_py = [
        f for f in files if f.startswith("src/") and f.endswith(".py") and not is_test_path(f)
    ]
    if src_py:
        return ["src"], ["src/ holds the Python code"]
    return ["."], []


def _packages(files: list[str], roots: list[str]) -> list[str]:
    """Top-level importable packages and modules under the import roots."""
    fileset = set(files)
    found: set[str] = set()
    for f in files:
        if not f.endswith(".py"):
            continue
        p = PurePosixPath(f)
        for r in roots:
            rparts = () if r == "." else PurePosixPath(r).parts
            if p.parts[: len(rparts)] != rparts or len(p.parts) <= len(rparts):
                continue
            rel = p.parts[len(rparts) :]
            top = rel[0]
            if len(rel) == 1:
                name = top[:-3]
                if (
                    name.isidentifier()
                    and name not in _NOT_MODULES
                    and not is_test_path(f)
                    and not (r == "." and name == "manage")
                ):
                    found.add(name)
            elif top.isidentifier() and top not in _NOT_PACKAGES:
                # A regular package anywhere; a namespace package only under a declared
                # root other than the repository itself (else every folder of scripts
                # would count).
                init = "/".join([*rparts, top, "__init__.py"])
                if r != "." or init in fileset:
                    found.add(top)
    return sorted(found)


def _inside(root: Path, rel: str) -> bool:
    """root/rel exists without leaving root or passing a symlink (lstat only)."""
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts:
        return False
    cur = root
    for part in p.parts:
        cur = cur / part
        try:
            if stat.S_ISLNK(os.lstat(cur).st_mode):
                return False
        except OSError:
            return False
    return True


def _test_dirs(files: list[str], testpaths: list[str], root: Path) -> list[str]:
    declared = [t.strip("/") or "." for t in testpaths if _inside(root, t)]
    if declared:
        return list(dict.fromkeys(declared))
    dirs: set[str] = set()
    for f in files:
        p = PurePosixPath(f)
        if p.suffix != ".py" or p.name == "conftest.py" or not is_test_path(f):
            continue
        parts = p.parts[:-1]
        cut = next((i for i, part in enumerate(parts) if part in ("tests", "test")), None)
        dirs.add("/".join(parts[: cut + 1]) if cut is not None else ("/".join(parts) or "."))
    outer = []
    for d in sorted(dirs, key=lambda x: (x.count("/"), x)):
        if d == "." or not any(o == "." or d.startswith(o + "/") for o in outer):
            outer.append(d)
    if "." in outer:
        return ["."]
    return sorted(outer)


def _pytest_ini(
    root: Path,
    fileset: set[str],
    pyproject: dict[str, Any],
    tox_ini: configparser.ConfigParser | None,
    setup_cfg: configparser.ConfigParser | None,
    warnings: list[str],
) -> dict[str, Any] | None:
    """The file pytest takes its configuration from in the repository's root, as pytest
    chooses it (pytest.ini, pyproject.toml, tox.ini, setup.cfg), and what the runs need
    of it: addopts, testpaths, python_files, DJANGO_SETTINGS_MODULE."""
    keys = ("addopts", "testpaths", "python_files", "DJANGO_SETTINGS_MODULE")
    for name in ("pytest.ini", ".pytest.ini"):
        if name in fileset:
            cp = _ini(root, name, warnings)
            section = (
                dict(cp.items("pytest")) if cp is not None and cp.has_section("pytest") else {}
            )
            return {"file": name, **{k: section.get(k.lower()) for k in keys}}
    table = _dig(pyproject, "tool", "pytest", "ini_options")
    if isinstance(table, dict):
        values = {k: table.get(k) for k in keys}
        for k in ("addopts", "testpaths", "python_files"):
            if isinstance(values[k], list):
                values[k] = " ".join(str(v) for v in values[k])
        return {"file": "pyproject.toml", **values}
    for cp, name, section in (
        (tox_ini, "tox.ini", "pytest"),
        (setup_cfg, "setup.cfg", "tool:pytest"),
    ):
        if cp is not None and cp.has_section(section):
            items = dict(cp.items(section, raw=True))
            return {"file": name, **{k: items.get(k.lower()) for k in keys}}
    return None


_SETTINGS_HINT = re.compile(r"""DJANGO_SETTINGS_MODULE['"]?\s*[,=:]\s*['"]([A-Za-z_][\w.]*)['"]""")


def _django_settings(
    root: Path, files: list[str], pytest_ini: dict[str, Any] | None, warnings: list[str]
) -> str | None:
    """The settings module a Django project's tests run with: pytest-django's setting, or
    what runtests.py / manage.py / conftest.py set DJANGO_SETTINGS_MODULE to, or a
    tests/settings.py."""
    if pytest_ini and pytest_ini.get("DJANGO_SETTINGS_MODULE"):
        return str(pytest_ini["DJANGO_SETTINGS_MODULE"]).strip()
    addopts = str((pytest_ini or {}).get("addopts") or "")
    if m := re.search(r"--ds[= ]([\w.]+)", addopts):
        return m.group(1)
    for name in ("runtests.py", "manage.py", "conftest.py", "tests/conftest.py"):
        if name in files:
            text = _read(root, name, warnings) or ""
            if m := _SETTINGS_HINT.search(text):
                return m.group(1)
    for candidate in ("tests/settings.py", "tests/test_settings.py", "test_settings.py"):
        if candidate in files:
            return candidate.removesuffix(".py").replace("/", ".")
    return None


PACKAGING_FILES = ("pyproject.toml", "setup.py", "setup.cfg")


def package_roots(files: list[str]) -> list[str]:
    """Folders below the repository's root (at most three deep) that hold a Python
    project of their own: a pyproject.toml, setup.py or setup.cfg."""
    found = set()
    for f in files:
        p = PurePosixPath(f)
        if p.name in PACKAGING_FILES and 1 <= len(p.parts) - 1 <= 3 and not is_test_path(f):
            found.add(p.parent.as_posix())
    # the outermost of nested ones
    return sorted(r for r in found if not any(r.startswith(o + "/") for o in found if o != r))


def package_root(files: list[str], changed: list[str]) -> str:
    """Where the package under test lives: the repository's root when it is a project, else
    the sub-project that owns the changed files (a monorepo), else the only one there is."""
    if any(f in PACKAGING_FILES for f in files):
        return "."
    roots = package_roots(files)
    owning = {r for r in roots for c in changed if c.startswith(r + "/")}
    if len(owning) == 1:
        return owning.pop()
    return roots[0] if len(roots) == 1 and not changed else "."


def analyse_project(repo_root: Path, changed: list[str] | None = None) -> dict[str, Any]:
    """Analyse the repository at ``repo_root`` without running any of its code.

    `changed`: the changed files, which decide the package under test in a repository
    holding several (its folder is `package_root`; import roots, test folders and the
    pytest configuration are then that package's, as paths from the repository's root)."""
    root = Path(repo_root)
    files, _ = list_files(root)
    sub = package_root(files, changed or [])
    if sub != ".":
        return _in_subfolder(analyse_project_at(root / sub), root, sub)
    found = analyse_project_at(root)
    found["package_root"] = "."
    return found


def _in_subfolder(found: dict[str, Any], root: Path, sub: str) -> dict[str, Any]:
    """A sub-project's analysis with its paths made the repository's."""

    def under(path: str) -> str:
        return sub if path in (".", "") else f"{sub}/{path}"

    found["package_root"] = sub
    found["import_roots"] = [under(r) for r in found["import_roots"]]
    found["test_dirs"] = [under(d) for d in found["test_dirs"]]
    found["dependency_files"] = [under(d) for d in found["dependency_files"]]
    if found.get("pytest_ini"):
        found["pytest_ini"]["file"] = under(found["pytest_ini"]["file"])
    found["warnings"].append(
        f"the repository's root is not a Python project; the package under test is {sub}/"
    )
    return found


def analyse_project_at(repo_root: Path) -> dict[str, Any]:
    """The analysis of one project's folder."""
    root = Path(repo_root)
    warnings: list[str] = []
    files, from_git = list_files(root)
    fileset = set(files)

    langs: Counter[str] = Counter()
    for f in files:
        name = PurePosixPath(f).name
        lang = _NAMED.get(name) or LANGUAGES.get(PurePosixPath(f).suffix.lower())
        if lang:
            langs[lang] += 1
    languages = dict(sorted(langs.items(), key=lambda kv: (-kv[1], kv[0])))
    programming = [(n, c) for n, c in languages.items() if n not in _NOT_PROGRAMMING]
    primary = programming[0][0] if programming else None

    pyproject = _toml(root, "pyproject.toml", warnings) if "pyproject.toml" in fileset else {}
    setup_cfg = _ini(root, "setup.cfg", warnings) if "setup.cfg" in fileset else None
    tox_ini = _ini(root, "tox.ini", warnings) if "tox.ini" in fileset else None
    setup_py = _read(root, "setup.py", warnings) if "setup.py" in fileset else None
    pipfile = _toml(root, "Pipfile", warnings) if "Pipfile" in fileset else {}
    # A symlinked or special dependency file is unread: warned about and left out.
    dep_files = [f for f in _dependency_files(files) if not _unreadable(root, f, warnings)]

    # Declared dependencies, from every dependency file that lists them.
    deps: dict[str, set[str]] = {}

    def note(names: Iterable[str], source: str) -> None:
        for n in names:
            deps.setdefault(canonicalize_name(n), set()).add(source)

    for f in dep_files:
        if f.endswith((".txt", ".in")):
            text = _read(root, f, warnings)
            if text:
                note(_req_names(text.splitlines()), f)
    project = pyproject.get("project") if isinstance(pyproject.get("project"), dict) else {}
    note(_req_names(_as_list(project.get("dependencies"))), "pyproject.toml")
    for group in (project.get("optional-dependencies") or {}).values():
        note(_req_names(_as_list(group)), "pyproject.toml")
    groups = pyproject.get("dependency-groups")
    if isinstance(groups, dict):
        for group in groups.values():
            note(_req_names(s for s in _as_list(group)), "pyproject.toml")
    poetry = _dig(pyproject, "tool", "poetry") or {}
    if isinstance(poetry, dict):
        for key in ("dependencies", "dev-dependencies"):
            if isinstance(poetry.get(key), dict):
                note((k for k in poetry[key] if k != "python"), "pyproject.toml")
        for group in (poetry.get("group") or {}).values():
            if isinstance(group, dict) and isinstance(group.get("dependencies"), dict):
                note(group["dependencies"], "pyproject.toml")
    pdm_dev = _dig(pyproject, "tool", "pdm", "dev-dependencies")
    if isinstance(pdm_dev, dict):
        for group in pdm_dev.values():
            note(_req_names(_as_list(group)), "pyproject.toml")
    for key in ("packages", "dev-packages"):
        if isinstance(pipfile.get(key), dict):
            note(pipfile[key], "Pipfile")
    if setup_cfg is not None:
        for section, option in (("options", "install_requires"), ("options", "tests_require")):
            if setup_cfg.has_option(section, option):
                note(_req_names(setup_cfg.get(section, option).splitlines()), "setup.cfg")
        if setup_cfg.has_section("options.extras_require"):
            for _, value in setup_cfg.items("options.extras_require"):
                note(_req_names(value.splitlines()), "setup.cfg")
    if setup_py:
        for m in re.finditer(
            r"['\"]([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:[<>=!~;\[][^'\"]*)?['\"]", setup_py
        ):
            if m.group(1).lower().startswith("pytest"):
                note([m.group(1)], "setup.py")
    if tox_ini is not None:
        for section in tox_ini.sections():
            if tox_ini.has_option(section, "deps"):
                note(_req_names(tox_ini.get(section, "deps").splitlines()), "tox.ini")

    # Test framework and its evidence.
    evidence: list[str] = []
    for name in ("pytest",):
        for source in sorted(deps.get(name, ())):
            evidence.append(f"pytest is a dependency in {source}")
    plugins = sorted(d for d in deps if d.startswith("pytest-"))
    if plugins and "pytest" not in deps:
        evidence.append(f"pytest plugins are dependencies: {', '.join(plugins[:5])}")
    conftests = [f for f in files if PurePosixPath(f).name == "conftest.py"]
    if conftests:
        evidence.append(f"conftest.py: {', '.join(conftests[:5])}")
    if isinstance(_dig(pyproject, "tool", "pytest", "ini_options"), dict):
        evidence.append("[tool.pytest.ini_options] in pyproject.toml")
    elif isinstance(_dig(pyproject, "tool", "pytest"), dict):
        evidence.append("[tool.pytest] in pyproject.toml")
    if "pytest.ini" in fileset:
        evidence.append("pytest.ini")
    if tox_ini is not None and tox_ini.has_section("pytest"):
        evidence.append("[pytest] in tox.ini")
    if setup_cfg is not None and setup_cfg.has_section("tool:pytest"):
        evidence.append("[tool:pytest] in setup.cfg")

    py_files = [f for f in files if f.endswith(".py")]
    test_files = [f for f in py_files if is_test_path(f) and PurePosixPath(f).name != "conftest.py"]
    unittest_evidence: list[str] = []
    plain_functions: list[str] = []
    for f in test_files[:_MAX_SCANNED_TESTS]:
        text = _read(root, f, warnings)
        if not text:
            continue
        if re.search(r"\bunittest\.(?:IsolatedAsync)?TestCase\b|from unittest import", text):
            unittest_evidence.append(f"unittest.TestCase in {f}")
        elif re.search(
            r"from django\.test import|django\.test\.(?:Simple|Transaction)?TestCase", text
        ):
            unittest_evidence.append(f"django.test.TestCase in {f}")
        if re.search(r"^(?:async\s+)?def test_\w*\s*\(", text, re.M):
            plain_functions.append(f)
        if "import pytest" in text or "from pytest" in text:
            if not any(e.startswith("import pytest") for e in evidence):
                evidence.append(f"import pytest in {f}")
    if evidence:
        framework: str | None = "pytest"
    elif unittest_evidence:
        framework = "unittest"
        evidence = unittest_evidence[:5]
    elif plain_functions:
        framework = "pytest"
        evidence = [f"plain test functions (pytest style) in {plain_functions[0]}"]
    else:
        framework = None
    if framework == "pytest" and unittest_evidence:
        evidence.extend(unittest_evidence[:3])

    import_roots, roots_why = _import_roots(files, pyproject, setup_cfg, setup_py)
    src_layout = any(PurePosixPath(r).name == "src" for r in import_roots)

    testpaths = _as_list(_dig(pyproject, "tool", "pytest", "ini_options", "testpaths"))
    for cp, section in ((tox_ini, "pytest"), (setup_cfg, "tool:pytest")):
        if not testpaths and cp is not None and cp.has_option(section, "testpaths"):
            testpaths = cp.get(section, "testpaths").split()
    if not testpaths and "pytest.ini" in fileset:
        cp = _ini(root, "pytest.ini", warnings)
        if cp is not None and cp.has_option("pytest", "testpaths"):
            testpaths = cp.get("pytest", "testpaths").split()

    pytest_ini = _pytest_ini(root, fileset, pyproject, tox_ini, setup_cfg, warnings)
    django_settings = _django_settings(root, files, pytest_ini, warnings)

    requires_python = None
    if isinstance(project.get("requires-python"), str):
        requires_python = project["requires-python"]
    elif isinstance(poetry, dict) and isinstance(_dig(poetry, "dependencies", "python"), str):
        requires_python = poetry["dependencies"]["python"]
    elif setup_cfg is not None and setup_cfg.has_option("options", "python_requires"):
        requires_python = setup_cfg.get("options", "python_requires").strip()
    elif setup_py:
        m = re.search(r"python_requires\s*=\s*['\"]([^'\"]+)['\"]", setup_py)
        if m:
            requires_python = m.group(1)

    frameworks = [f for f in _FRAMEWORKS if f in deps]
    if "django" not in frameworks and "manage.py" in fileset:
        text = _read(root, "manage.py", warnings) or ""
        if "django" in text.lower():
            frameworks.insert(0, "django")

    return {
        "languages": languages,
        "primary_language": primary,
        "test_framework": framework,
        "test_framework_evidence": evidence,
        "dependency_files": dep_files,
        "declared_dependencies": sorted(deps),
        "frameworks": frameworks,
        "import_roots": import_roots,
        "import_roots_evidence": roots_why,
        "src_layout": src_layout,
        "test_dirs": _test_dirs(files, testpaths, root),
        "pytest_ini": pytest_ini,
        "django_settings": django_settings,
        "packages": _packages(files, import_roots),
        "requires_python": requires_python,
        "python_files": len(py_files),
        "test_files": len(test_files),
        "file_count": len(files),
        "git_tracked": from_git,
        "warnings": warnings,
    }


def imported_modules(source: str) -> set[str]:
    """The modules a source file imports (absolute imports only), and for `from m import
    x` also m.x, which may be a submodule."""
    found: set[str] = set()
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return found
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found
