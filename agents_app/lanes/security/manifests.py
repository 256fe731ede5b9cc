"""A Python project's declared and locked dependencies, read from its files without
running anything: requirements files (with their -r/-c includes), pyproject.toml (PEP
621, dependency groups, Poetry), setup.cfg, setup.py (literal install_requires only),
Pipfile, and the lock files Pipfile.lock, poetry.lock, pdm.lock, uv.lock and
pylock.toml.

Files are read through a `read(path) -> str | None` callable, so the same code reads the
feature branch's worktree (through safe_fs) and the base commit (git blobs).
"""

from __future__ import annotations

import ast
import configparser
import json
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from agents_app.env import requirements

Reader = Callable[[str], str | None]

TOP_LEVEL = (
    "pyproject.toml", "setup.py", "setup.cfg", "Pipfile", "Pipfile.lock", "poetry.lock",
    "uv.lock", "pdm.lock", "pylock.toml",
)  # fmt: skip
TOP_LEVEL_GLOBS = (
    "requirements*.txt", "requirements*.in", "*-requirements.txt", "*_requirements.txt",
    "constraints*.txt", "pylock.*.toml",
)  # fmt: skip
LOCKS = ("Pipfile.lock", "poetry.lock", "uv.lock", "pdm.lock", "pylock.toml")
MAX_INCLUDES = 200


def is_dependency_file(path: str) -> bool:
    parts = path.split("/")
    name = parts[-1]
    if len(parts) == 1:
        return name in TOP_LEVEL or any(fnmatchcase(name, g) for g in TOP_LEVEL_GLOBS)
    return (
        len(parts) == 2 and parts[0] in ("requirements", "reqs") and name.endswith((".txt", ".in"))
    )


@dataclass
class Dependency:
    name: str
    specifier: str  # as declared ("" for any version)
    file: str
    line: int | None
    source: str  # requirements | pyproject | poetry | setup | pipfile | lock
    version: str | None = None  # an exact version: pinned or locked
    url: bool = False  # a direct URL or path requirement: no release version to check
    group: str = ""

    @property
    def key(self) -> str:
        return canonicalize_name(self.name)


@dataclass
class Manifest:
    dependencies: list[Dependency] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def exact_version(specifier: str) -> str | None:
    """The one version a specifier allows (==X or ===X), else None."""
    parts = [p.strip() for p in specifier.split(",") if p.strip()]
    if len(parts) != 1:
        return None
    m = re.fullmatch(r"===?\s*([A-Za-z0-9_.!+\-]+)", parts[0])
    if m and "*" not in m.group(1):
        return m.group(1)
    return None


def _find(text: str, needle: str, start: int = 0) -> tuple[int | None, int]:
    """(1-based line, end offset) of the first occurrence of `needle` (a name, quoted or
    bare) at or after `start`; (None, start) when there is none."""
    pattern = re.compile(r"(?<![A-Za-z0-9_.\-])" + re.escape(needle) + r"(?![A-Za-z0-9_\-])", re.I)
    m = pattern.search(text, start)
    return (text.count("\n", 0, m.start()) + 1, m.end()) if m else (None, start)


def _line_of(text: str, needle: str) -> int | None:
    return _find(text, needle)[0]


def _declared(req: str, file: str, text: str, source: str, group: str) -> Dependency | None:
    """A requirement string of a declaration file, at the line that names it."""
    name = re.split(r"[\s\[<>=!~;@(]", req.strip(), maxsplit=1)[0]
    return _from_requirement(req, file, _line_of(text, name), source, group)


def _from_requirement(
    text: str, file: str, line: int | None, source: str, group: str = ""
) -> Dependency | None:
    try:
        req = Requirement(text)
    except InvalidRequirement:
        return None
    spec = str(req.specifier)
    return Dependency(
        name=req.name,
        specifier=spec,
        file=file,
        line=line,
        source=source,
        version=None if req.url else exact_version(spec),
        url=bool(req.url),
        group=group,
    )


# ---------------------------------------------------------------- requirements files


def _requirements(path: str, read: Reader, out: Manifest, seen: set[str]) -> None:
    text = read(path)
    if text is None:
        return
    seen.add(path)
    out.files.append(path)
    for number, line in requirements.logical_lines(text):
        if included := requirements.includes(line):
            for _, value in included:
                include = requirements.include_path(path, value)
                if include is None:
                    out.problems.append(
                        f"{path}:{number}: include {value!r} is outside the repository; not read"
                    )
                elif include not in seen and len(seen) < MAX_INCLUDES:
                    _requirements(include, read, out, seen)
            continue
        if line.startswith("-"):
            if line.startswith(("-e", "--editable")):
                target = line.split(None, 1)[-1]
                out.dependencies.append(
                    Dependency(target[:100], "", path, number, "requirements", url=True)
                )
            continue  # other pip options: index urls, --hash lines
        line = re.split(r"\s--?\w", " " + line)[0].strip() or line  # trailing --hash=...
        dep = _from_requirement(line, path, number, "requirements")
        if dep is None:
            out.problems.append(f"{path}:{number}: not a requirement pip would read: {line[:80]!r}")
        else:
            out.dependencies.append(dep)


# ---------------------------------------------------------------- pyproject, setup, Pipfile


def _parsed(
    path: str, read: Reader, out: Manifest, parse: Callable[[str], Any], what: str
) -> tuple[str, Any] | None:
    """(text, parsed) of a file that exists and parses; a file that does not parse is a
    problem of the manifest, one that is missing is nothing."""
    text = read(path)
    if text is None:
        return None
    try:
        data = parse(text)
    except (ValueError, SyntaxError, tomllib.TOMLDecodeError, configparser.Error) as exc:
        out.problems.append(f"{path}: not {what} ({getattr(exc, 'msg', None) or exc})")
        return None
    out.files.append(path)
    return text, data


def _config(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser


def _poetry_specifier(spec: object) -> tuple[str, bool] | None:
    """A Poetry constraint as a PEP 440 specifier, and whether it is a URL/path/git one."""
    if isinstance(spec, dict):
        if any(k in spec for k in ("git", "path", "url", "file")):
            return "", True
        spec = spec.get("version", "*")
    if not isinstance(spec, str):
        return None
    parts = []
    for raw in spec.split(","):
        c = raw.strip()
        if c in ("", "*"):
            continue
        m = re.fullmatch(r"\^\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?(.*)", c)
        if m:
            nums = [int(x) if x is not None else None for x in m.groups()[:3]]
            major, minor = nums[0], nums[1]
            if major > 0 or minor is None:
                upper = f"{major + 1}.0.0"
            elif minor > 0 or nums[2] is None:
                upper = f"0.{minor + 1}.0"
            else:
                upper = f"0.0.{nums[2] + 1}"
            parts += [f">={c[1:].strip()}", f"<{upper}"]
            continue
        m = re.fullmatch(r"~\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?(.*)", c)
        if m and not c.startswith("~="):
            major, minor = int(m.group(1)), m.group(2)
            upper = f"{major}.{int(minor) + 1}.0" if minor is not None else f"{major + 1}.0.0"
            parts += [f">={c[1:].strip()}", f"<{upper}"]
            continue
        if re.fullmatch(r"\d[\w.!+\-]*", c):
            c = f"=={c}"
        parts.append(c)
    return ",".join(parts), False


def _pyproject(path: str, read: Reader, out: Manifest) -> None:
    if (parsed := _parsed(path, read, out, tomllib.loads, "valid TOML")) is None:
        return
    text, data = parsed

    def add(req: object, group: str) -> None:
        if isinstance(req, str):
            dep = _declared(req, path, text, "pyproject", group)
            if dep is None:
                out.problems.append(f"{path}: not a requirement: {req[:80]!r}")
            else:
                out.dependencies.append(dep)

    project = data.get("project") if isinstance(data.get("project"), dict) else {}
    for req in project.get("dependencies") or []:
        add(req, "")
    for group, reqs in (project.get("optional-dependencies") or {}).items():
        for req in reqs if isinstance(reqs, list) else []:
            add(req, group)
    for group, reqs in (data.get("dependency-groups") or {}).items():
        for req in reqs if isinstance(reqs, list) else []:
            add(req, group)
    poetry = (data.get("tool") or {}).get("poetry") or {}
    tables = [("", poetry.get("dependencies")), ("dev", poetry.get("dev-dependencies"))]
    for group, table in (poetry.get("group") or {}).items():
        if isinstance(table, dict):
            tables.append((group, table.get("dependencies")))
    for group, table in tables:
        for name, spec in (table or {}).items() if isinstance(table, dict) else []:
            if name.lower() == "python":
                continue
            converted = _poetry_specifier(spec)
            if converted is None:
                continue
            specifier, is_url = converted
            out.dependencies.append(
                Dependency(
                    name=name,
                    specifier=specifier,
                    file=path,
                    line=_line_of(text, name),
                    source="poetry",
                    version=None if is_url else exact_version(specifier),
                    url=is_url,
                    group=group,
                )
            )


def _setup_cfg(path: str, read: Reader, out: Manifest) -> None:
    if (parsed := _parsed(path, read, out, _config, "readable as setup.cfg")) is None:
        return
    text, parser = parsed
    entries = []
    if parser.has_option("options", "install_requires"):
        entries.append(("", parser.get("options", "install_requires")))
    if parser.has_section("options.extras_require"):
        entries += list(parser.items("options.extras_require"))
    for group, value in entries:
        for req in (r.strip() for r in value.splitlines()):
            if req and not req.startswith("#"):
                dep = _declared(req, path, text, "setup", group)
                if dep is not None:
                    out.dependencies.append(dep)


def _setup_py(path: str, read: Reader, out: Manifest) -> None:
    if (parsed := _parsed(path, read, out, ast.parse, "parseable")) is None:
        return
    for node in ast.walk(parsed[1]):
        if not (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", "")) == "setup"
        ):
            continue
        for kw in node.keywords:
            values: list[tuple[str, ast.AST]] = []
            if kw.arg == "install_requires":
                values.append(("", kw.value))
            elif kw.arg == "extras_require" and isinstance(kw.value, ast.Dict):
                for k, v in zip(kw.value.keys, kw.value.values, strict=True):
                    if isinstance(k, ast.Constant) and isinstance(k.value, str):
                        values.append((k.value, v))
            for group, value in values:
                if not isinstance(value, ast.List | ast.Tuple):
                    out.problems.append(
                        f"{path}: {kw.arg} is computed; only literal lists are read"
                    )
                    continue
                for elt in value.elts:
                    if isinstance(elt, ast.Constant) and isinstance(elt.value, str):
                        dep = _from_requirement(elt.value, path, elt.lineno, "setup", group)
                        if dep is not None:
                            out.dependencies.append(dep)


def _pipfile(path: str, read: Reader, out: Manifest) -> None:
    if (parsed := _parsed(path, read, out, tomllib.loads, "valid TOML")) is None:
        return
    text, data = parsed
    for section, group in (("packages", ""), ("dev-packages", "dev")):
        for name, spec in (data.get(section) or {}).items():
            if isinstance(spec, dict):
                is_url = any(k in spec for k in ("git", "path", "file", "editable"))
                spec = spec.get("version", "*")
            else:
                is_url = False
            specifier = "" if spec in ("*", "", None) else str(spec)
            out.dependencies.append(
                Dependency(
                    name, specifier, path, _line_of(text, name), "pipfile",
                    version=None if is_url else exact_version(specifier), url=is_url, group=group,
                )
            )  # fmt: skip


# ---------------------------------------------------------------- lock files


def _lock(path: str, read: Reader, out: Manifest) -> None:
    name = path.rsplit("/", 1)[-1]
    parse = json.loads if name == "Pipfile.lock" else tomllib.loads
    if (parsed := _parsed(path, read, out, parse, "readable")) is None:
        return
    text, data = parsed
    if name == "Pipfile.lock":
        for section, group in (("default", ""), ("develop", "dev")):
            for pkg, entry in (data.get(section) or {}).items():
                version = exact_version(str((entry or {}).get("version") or ""))
                out.dependencies.append(
                    Dependency(pkg, f"=={version}" if version else "", path,
                               _line_of(text, f'"{pkg}"'), "lock", version=version,
                               url=version is None, group=group)
                )  # fmt: skip
        return
    packages = data.get("packages") if name.startswith("pylock") else data.get("package")
    pos = 0
    for entry in packages or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        source = entry.get("source") if isinstance(entry.get("source"), dict) else {}
        if any(k in source for k in ("editable", "virtual", "directory", "path")):
            continue  # the project itself, or a local folder
        # entries come in file order: search on from the previous one
        line, pos = _find(text, f'"{entry["name"]}"', pos)
        if line is None:
            line, pos = _find(text, entry["name"], pos)
        version = entry.get("version") if isinstance(entry.get("version"), str) else None
        is_url = version is None or "git" in source or "url" in source and "registry" not in source
        out.dependencies.append(
            Dependency(entry["name"], f"=={version}" if version else "", path, line, "lock",
                       version=None if is_url else version, url=is_url)
        )  # fmt: skip


def read_manifest(files: Iterable[str], read: Reader) -> Manifest:
    """Every dependency the files declare or lock, in file order."""
    out = Manifest()
    seen: set[str] = set()
    for path in sorted(set(files)):
        name = path.rsplit("/", 1)[-1]
        if name in LOCKS or fnmatchcase(name, "pylock.*.toml"):
            _lock(path, read, out)
        elif name == "pyproject.toml":
            _pyproject(path, read, out)
        elif name == "setup.cfg":
            _setup_cfg(path, read, out)
        elif name == "setup.py":
            _setup_py(path, read, out)
        elif name == "Pipfile":
            _pipfile(path, read, out)
        elif path not in seen:
            _requirements(path, read, out, seen)
    return out
