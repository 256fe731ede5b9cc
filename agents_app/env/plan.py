"""What to install for a project, read the way its own CI would set it up — statically:
nothing of the project runs on the host.

The plan has the project itself (installed editable where its build backend can, with a
pretend version for setuptools-scm / hatch-vcs / pdm / poetry-dynamic-versioning projects
whose copy has no git history, and with the extras its tests need), then its test
dependencies, each with where it came from: PEP 735 `[dependency-groups]`, extras, Poetry
and PDM groups, Hatch environments, requirements files for tests (and what they include),
tox.ini's `[testenv]`, setup.cfg / setup.py `tests_require`. Groups named `dev` are
*optional*: dev groups often carry linters and doc tools, so one that will not install is
dropped with pip's reason instead of failing the set-up.
"""

from __future__ import annotations

import ast
import configparser
import fnmatch
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from agents_app.env import requirements as reqfiles
from agents_app.spec import config
from tasks_app.core import safe_fs

TEST_NAMES = ("test", "tests", "testing", "ci")
DEV_NAMES = ("dev",)
# Hatch's environments a test command runs in
HATCH_ENVS = ("hatch-test", "test", "tests", "default")

# Requirements files, by what they hold; matched against repository-relative paths.
RUNTIME_FILES = ("requirements.txt", "requirements/base*.txt", "requirements/prod*.txt")
TEST_FILES = (
    "requirements[-_]test*.txt", "test[-_]requirements*.txt", "tests[-_]requirements*.txt",
    "requirements/test*.txt", "tests/requirements*.txt", "requirements/ci*.txt",
)  # fmt: skip
DEV_FILES = (
    "requirements[-_]dev*.txt", "dev[-_]requirements*.txt", "requirements/dev*.txt",
)  # fmt: skip

# The pretend-version variables of the version-from-git tools (each ignores the others')
VERSION_VARIABLES = (
    "SETUPTOOLS_SCM_PRETEND_VERSION",  # setuptools-scm, and hatch-vcs and flit-scm through it
    "PDM_BUILD_SCM_VERSION",  # pdm-backend's scm source
    "POETRY_DYNAMIC_VERSIONING_BYPASS",  # poetry-dynamic-versioning
)
FALLBACK_VERSION = "0.0.0"


@dataclass
class Source:
    """One set of requirements to install, and where it was declared."""

    label: str  # what it is: "test dependencies", "dev dependencies", …
    origin: str  # where: "pyproject.toml [dependency-groups] test"
    args: list[str]  # pip install arguments: requirement strings, "-r" and a path
    optional: bool = False  # a dev group: dropped (with pip's reason) when it fails


@dataclass
class ProjectInstall:
    """The project itself, installed into its environment."""

    origin: str  # "pyproject.toml (hatchling.build)", "setup.py", …
    backend: str
    extras: list[str] = field(default_factory=list)
    optional_extras: list[str] = field(default_factory=list)
    scm: str | None = None  # the version-from-git tool, when one is used
    editable: bool = True


@dataclass
class SetupPlan:
    root: str = "."  # the folder of the package under test, relative to the repository
    project: ProjectInstall | None = None
    sources: list[Source] = field(default_factory=list)
    requires_python: str | None = None
    python: str | None = None  # the interpreter `.tfactory.yml` asks for ("3.12")
    scm: str | None = None  # the version-from-git tool the project's build uses
    notes: list[str] = field(default_factory=list)
    # the project's other groups (docs, lint, …): not installed, unless its suite turns out
    # to import something only they declare (`also`)
    other_groups: list[Source] = field(default_factory=list)

    def provider_of(self, module: str) -> Source | None:
        """The other group that declares a distribution named like `module`."""
        wanted = canonicalize_name(module.split(".")[0])
        for group in self.other_groups:
            if any(_requirement_name(a) == wanted for a in group.args):
                return group
        return None

    def version_env(self, version: str) -> dict[str, str]:
        """The pretend-version variables for the install, when the project gets its
        version from git (its copy has no history)."""
        if self.scm is None:
            return {}
        return dict.fromkeys(VERSION_VARIABLES, version)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class PlanError(ValueError):
    """A file the plan needs is unreadable (bad TOML, …); the message names it."""


def pep440(tag: str | None) -> str:
    """The version a git tag stands for ('v1.2.3' -> '1.2.3'), else FALLBACK_VERSION."""
    text = re.sub(r"^(?:v|version|release)[-_.]?", "", (tag or "").strip(), flags=re.I)
    try:
        return str(Version(text)) if text else FALLBACK_VERSION
    except InvalidVersion:
        return FALLBACK_VERSION


def setup_plan(repo: Path, root: str = ".", also: list[str] | None = None) -> SetupPlan:
    """The plan for the package at `root` of the repository `repo` (read with safe_fs:
    a symlinked file is never followed). `also`: other groups (by origin) to install too,
    because the suite imports what they declare."""
    repo = Path(repo)
    plan = SetupPlan(root=root)
    reader = _Reader(repo, root)
    config_text = reader.text(config.FILE)
    try:
        project_config = config.parse(config_text) if config_text is not None else {}
    except config.ConfigError as exc:
        raise PlanError(str(exc)) from exc
    pyproject = reader.toml("pyproject.toml")
    setup_cfg = reader.ini("setup.cfg")
    setup_py = reader.setup_call()
    own = _own_name(pyproject, setup_cfg, setup_py)
    plan.requires_python = _requires_python(pyproject, setup_cfg, setup_py)

    self_extras: list[str] = []

    def add(label: str, origin: str, items: list[str], optional: bool = False) -> None:
        args: list[str] = []
        for item in items:
            item = item.strip()
            if not item:
                continue
            name, extras = _self_reference(item, own)
            if name:  # `myproj[test]` inside a group: the project itself, with extras
                self_extras.extend(e for e in extras if e not in self_extras)
                continue
            if item.startswith("-e") or "{" in item or item.startswith(("file:", "/")):
                plan.notes.append(f"{origin}: {item!r} is a local or editable path; not installed")
                continue
            if item not in args:
                args.append(item)
        if args:
            plan.sources.append(Source(label, origin, args, optional))

    # requirements files (and what they include, through pip's own -r)
    for patterns, label, optional in (
        (RUNTIME_FILES, "runtime requirements", False),
        (TEST_FILES, "test dependencies", False),
        (DEV_FILES, "dev dependencies", True),
    ):
        for rel in reader.files(patterns):
            plan.sources.append(Source(label, rel, ["-r", rel], optional))

    project_table = pyproject.get("project") if isinstance(pyproject.get("project"), dict) else {}
    dynamic = set(project_table.get("dynamic") or [])
    tool = pyproject.get("tool") if isinstance(pyproject.get("tool"), dict) else {}

    # PEP 735 dependency groups
    groups = pyproject.get("dependency-groups")
    if isinstance(groups, dict):
        for name in (*TEST_NAMES, *DEV_NAMES):
            items = _dependency_group(groups, name, set())
            add(
                "dev dependencies" if name in DEV_NAMES else "test dependencies",
                f"pyproject.toml [dependency-groups] {name}",
                items,
                optional=name in DEV_NAMES,
            )

    # the other PEP 735 groups, in case the suite needs one of them
    if isinstance(groups, dict):
        for name in sorted(set(groups) - set(TEST_NAMES) - set(DEV_NAMES)):
            items = [i for i in _dependency_group(groups, name, set()) if "{" not in i]
            if items:
                plan.other_groups.append(
                    Source(
                        "other dependencies", f"pyproject.toml [dependency-groups] {name}", items
                    )
                )

    # extras: declared in pyproject, setup.cfg or setup.py
    declared_extras = set()
    if "optional-dependencies" not in dynamic and isinstance(
        project_table.get("optional-dependencies"), dict
    ):
        declared_extras |= set(project_table["optional-dependencies"])
    if setup_cfg is not None and setup_cfg.has_section("options.extras_require"):
        declared_extras |= set(setup_cfg.options("options.extras_require"))
    if isinstance(setup_py.get("extras_require"), dict):
        declared_extras |= {str(k) for k in setup_py["extras_require"]}
    poetry = tool.get("poetry") if isinstance(tool.get("poetry"), dict) else {}
    if isinstance(poetry.get("extras"), dict):
        declared_extras |= set(poetry["extras"])
    declared_extras = {canonicalize_name(e) for e in declared_extras}
    extras = [e for e in TEST_NAMES if e in declared_extras]
    optional_extras = [e for e in DEV_NAMES if e in declared_extras]

    # Poetry groups
    if poetry:
        tables: list[tuple[str, Any, bool]] = [
            ("dev-dependencies", poetry.get("dev-dependencies"), True)
        ]
        poetry_groups = poetry.get("group") if isinstance(poetry.get("group"), dict) else {}
        for name in (*TEST_NAMES, *DEV_NAMES):
            group = poetry_groups.get(name)
            if isinstance(group, dict):
                tables.append((f"group.{name}", group.get("dependencies"), name in DEV_NAMES))
        for where, table, optional in tables:
            if isinstance(table, dict):
                items = [
                    spec
                    for name, value in table.items()
                    if name.lower() != "python" and (spec := poetry_requirement(name, value))
                ]
                add(
                    "dev dependencies" if optional else "test dependencies",
                    f"pyproject.toml [tool.poetry.{where}]",
                    items,
                    optional,
                )

    # Poetry's other groups, in case the suite needs one of them
    for name, group in (poetry.get("group") or {}).items() if poetry else ():
        if name in (*TEST_NAMES, *DEV_NAMES) or not isinstance(group, dict):
            continue
        items = [
            spec
            for dep, value in (group.get("dependencies") or {}).items()
            if (spec := poetry_requirement(dep, value))
        ]
        if items:
            plan.other_groups.append(
                Source("other dependencies", f"pyproject.toml [tool.poetry.group.{name}]", items)
            )

    # PDM's own dev groups (before PEP 735)
    pdm = tool.get("pdm") if isinstance(tool.get("pdm"), dict) else {}
    if isinstance(pdm.get("dev-dependencies"), dict):
        for name, items in pdm["dev-dependencies"].items():
            if name not in (*TEST_NAMES, *DEV_NAMES) and isinstance(items, list):
                kept = [str(i) for i in items if "{" not in str(i) and not str(i).startswith("-")]
                if kept:
                    origin = f"pyproject.toml [tool.pdm.dev-dependencies] {name}"
                    plan.other_groups.append(Source("other dependencies", origin, kept))
        for name in (*TEST_NAMES, *DEV_NAMES):
            items = pdm["dev-dependencies"].get(name)
            if isinstance(items, list):
                add(
                    "dev dependencies" if name in DEV_NAMES else "test dependencies",
                    f"pyproject.toml [tool.pdm.dev-dependencies] {name}",
                    [str(i) for i in items],
                    optional=name in DEV_NAMES,
                )

    # uv's dev group (before PEP 735)
    uv = tool.get("uv") if isinstance(tool.get("uv"), dict) else {}
    if isinstance(uv.get("dev-dependencies"), list):
        add(
            "dev dependencies",
            "pyproject.toml [tool.uv] dev-dependencies",
            [str(i) for i in uv["dev-dependencies"]],
            optional=True,
        )

    # Hatch environments the tests run in
    hatch_envs = ((tool.get("hatch") or {}).get("envs") or {}) if isinstance(tool, dict) else {}
    if isinstance(hatch_envs, dict):
        for name in HATCH_ENVS:
            env = hatch_envs.get(name)
            if not isinstance(env, dict):
                continue
            items = [
                str(i)
                for key in ("dependencies", "extra-dependencies")
                for i in (env.get(key) or [])
                if isinstance(env.get(key), list)
            ]
            add("test dependencies", f"pyproject.toml [tool.hatch.envs.{name}]", items)
            for feature in env.get("features") or []:
                name_ = canonicalize_name(str(feature))
                if name_ in declared_extras and name_ not in extras:
                    extras.append(name_)

    # tox's test environment
    for origin, tox in reader.tox():
        deps = tox.get("deps", "")
        items: list[str] = []
        by_factor: dict[str, str] = {}  # a package pinned per factor (django42: …): one
        for line in deps.splitlines():
            line = line.strip()
            factor = re.match(r"^[\w\-,{}!]+:\s*(?=\S)", line)
            if factor and not line.startswith(("-r", "-c")):
                requirement = line[factor.end() :]
                name = _requirement_name(requirement)
                if name:  # the last factor's pin of each package (usually the newest)
                    by_factor[name] = requirement
                continue
            if not line or line.startswith("#"):
                continue
            line = line.replace("{toxinidir}/", "").replace("{toxinidir}", ".")
            if "{" in line:
                plan.notes.append(f"{origin}: {line!r} uses a tox substitution; not installed")
                continue
            if line.startswith("-r") or line.startswith("-c"):
                for option, value in reqfiles.includes(line):
                    rel = reqfiles.include_path(reader.rel("tox.ini"), value)
                    if rel is None or not reader.exists(rel):
                        plan.notes.append(f"{origin}: {option} {value!r} is not in the repository")
                    elif option == "-r" and not any(
                        s.args == ["-r", rel] for s in plan.sources
                    ):  # fmt: skip
                        plan.sources.append(Source("test dependencies", origin, ["-r", rel]))
                continue
            items.append(line)
        # a factor's pin (django42: Django>=4.2) only for a package nothing else declares:
        # `pytest6: pytest==6.2.5` is a compatibility run, not the suite's own set-up
        declared = {_requirement_name(i) for i in items} | _declared(
            project_table, dynamic, poetry, setup_cfg, setup_py
        )
        items += [r for name, r in by_factor.items() if name not in declared]
        add("test dependencies", origin, items)
        for extra in _tox_extras(tox.get("extras", "")):
            if extra not in extras:
                extras.append(extra)

    # setup.cfg / setup.py tests_require
    if setup_cfg is not None and setup_cfg.has_option("options", "tests_require"):
        add(
            "test dependencies",
            "setup.cfg [options] tests_require",
            setup_cfg.get("options", "tests_require").splitlines(),
        )
    if isinstance(setup_py.get("tests_require"), list):
        add(
            "test dependencies",
            "setup.py tests_require",
            [str(i) for i in setup_py["tests_require"]],
        )

    # the project itself
    build = pyproject.get("build-system") if isinstance(pyproject.get("build-system"), dict) else {}
    packaged = bool(build or project_table or poetry.get("name")) or bool(setup_py.get("_found"))
    packaged = packaged or (setup_cfg is not None and setup_cfg.has_section("metadata"))
    if packaged:
        backend = str(build.get("build-backend") or "setuptools.build_meta:__legacy__")
        origin = (
            f"{reader.rel('pyproject.toml')} ({backend})"
            if build or project_table
            else reader.rel("setup.py" if setup_py.get("_found") else "setup.cfg")
        )
        for extra in self_extras:
            name_ = canonicalize_name(extra)
            if name_ in declared_extras and name_ not in extras + optional_extras:
                extras.append(name_)
        plan.project = ProjectInstall(
            origin=origin,
            backend=backend,
            extras=extras,
            optional_extras=[e for e in optional_extras if e not in extras],
            scm=_scm(build, tool, reader, setup_py),
        )
        plan.scm = plan.project.scm
    else:
        if extras:
            plan.notes.append(
                f"extras {', '.join(extras)} are declared but the project is not a package; "
                "not installed"
            )
        if not plan.sources and (pyproject or setup_cfg is not None):
            plan.notes.append("no dependencies are declared for the tests")
    for origin in also or []:
        group = next((g for g in plan.other_groups if g.origin == origin), None)
        if group is not None and group not in plan.sources:
            plan.sources.append(Source("dependencies the suite imports", group.origin, group.args))
    return _configured(plan, project_config, reader)


def _configured(plan: SetupPlan, project_config: dict[str, Any], reader: _Reader) -> SetupPlan:
    """The plan with `.tfactory.yml`'s setup laid over it: its install lines replace what
    was detected, its packages come on top, its python is asked for."""
    setup = project_config.get("setup") or {}
    origin = reader.rel(config.FILE)
    lines = config.install_lines(project_config)
    if lines is not None:
        plan.notes.append(f"{origin} setup.install replaces the detected set-up")
        plan.project = None
        plan.sources = [
            Source("installed as configured", f"{origin} setup.install", args) for args in lines
        ]
    if setup.get("packages"):
        plan.sources.append(
            Source("packages as configured", f"{origin} setup.packages", list(setup["packages"]))
        )
    if setup.get("python"):
        plan.python = str(setup["python"])
    return plan


def poetry_requirement(name: str, spec: Any) -> str | None:
    """A Poetry dependency as a pip requirement (git, path and url ones are left out)."""
    extras = ""
    markers = ""
    if isinstance(spec, list):  # several constraints by marker: the first is enough
        spec = spec[0] if spec else "*"
    if isinstance(spec, dict):
        if any(k in spec for k in ("git", "path", "url")):
            return None
        if spec.get("extras"):
            extras = "[" + ",".join(spec["extras"]) + "]"
        if isinstance(spec.get("markers"), str):
            markers = f"; {spec['markers']}"
        spec = spec.get("version", "*")
    if not isinstance(spec, str):
        return None
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
    return f"{name}{extras}{','.join(parts)}{markers}"


# ---------------------------------------------------------------- reading the files


class _Reader:
    """The project's files, relative to its root folder, read without following links."""

    def __init__(self, repo: Path, root: str):
        self.repo = repo
        self.root = root.strip("/") or "."

    def rel(self, name: str) -> str:
        return name if self.root == "." else f"{self.root}/{name}"

    def exists(self, rel: str) -> bool:
        try:
            safe_fs.read_bytes(self.repo, rel, limit=1)
        except OSError:
            return False
        return True

    def text(self, name: str) -> str | None:
        try:
            return safe_fs.read_text(self.repo, self.rel(name), limit=2_000_000)
        except (OSError, UnicodeDecodeError):
            return None

    def toml(self, name: str) -> dict[str, Any]:
        text = self.text(name)
        if text is None:
            return {}
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PlanError(f"{self.rel(name)} is not valid TOML: {exc}") from exc

    def ini(self, name: str) -> configparser.RawConfigParser | None:
        text = self.text(name)
        if text is None:
            return None
        parser = configparser.RawConfigParser()
        try:
            parser.read_string(text)
        except configparser.Error as exc:
            raise PlanError(f"{self.rel(name)} cannot be read: {exc}") from exc
        return parser

    def setup_call(self) -> dict[str, Any]:
        """The literal keyword arguments of setup(...) in setup.py (others are unknown:
        nothing is executed); `_found` says whether there is a setup.py at all."""
        text = self.text("setup.py")
        if text is None:
            return {}
        found: dict[str, Any] = {"_found": True, "_text": text}
        try:
            tree = ast.parse(text)
        except SyntaxError:
            return found
        names: dict[str, Any] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name):
                    try:
                        names[target.id] = ast.literal_eval(node.value)
                    except (ValueError, SyntaxError, TypeError):
                        pass
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", "")) == "setup"
            ):
                for kw in node.keywords:
                    if kw.arg is None:
                        continue
                    try:
                        found[kw.arg] = ast.literal_eval(kw.value)
                    except (ValueError, SyntaxError, TypeError):
                        if isinstance(kw.value, ast.Name) and kw.value.id in names:
                            found[kw.arg] = names[kw.value.id]
                        elif isinstance(kw.value, ast.Constant | ast.Name):
                            found[kw.arg] = getattr(kw.value, "value", True)
        return found

    def files(self, patterns: tuple[str, ...]) -> list[str]:
        """Regular files below the root (two levels deep) matching the patterns, in
        pattern order."""
        base = self.repo if self.root == "." else self.repo / self.root
        candidates: list[str] = []
        for first in sorted(_regular(base)):
            candidates.append(first)
        for sub in ("requirements", "tests", "test"):
            if (base / sub).is_dir() and not (base / sub).is_symlink():
                candidates += [f"{sub}/{n}" for n in sorted(_regular(base / sub))]
        out: list[str] = []
        for pattern in patterns:
            for rel in candidates:
                if fnmatch.fnmatchcase(rel, pattern) and self.rel(rel) not in out:
                    out.append(self.rel(rel))
        return out

    def tox(self) -> list[tuple[str, dict[str, str]]]:
        """tox's [testenv] (deps, extras) from tox.ini, setup.cfg's [tox:tox] file, or
        pyproject's legacy_tox_ini."""
        found = []
        sources = [(self.rel("tox.ini"), self.text("tox.ini"), "testenv")]
        pyproject = self.toml("pyproject.toml")
        legacy = ((pyproject.get("tool") or {}).get("tox") or {}).get("legacy_tox_ini")
        if isinstance(legacy, str):
            sources.append((self.rel("pyproject.toml") + " [tool.tox]", legacy, "testenv"))
        sources.append((self.rel("setup.cfg"), self.text("setup.cfg"), "testenv"))
        for origin, text, section in sources:
            if not text or f"[{section}" not in text:
                continue
            parser = configparser.RawConfigParser()
            try:
                parser.read_string(text)
            except configparser.Error:
                continue
            if parser.has_section(section):
                found.append(
                    (
                        f"{origin} [{section}]",
                        {k: parser.get(section, k) for k in ("deps", "extras")
                         if parser.has_option(section, k)},
                    )
                )  # fmt: skip
        return found


def _regular(folder: Path) -> list[str]:
    try:
        return [e.name for e in folder.iterdir() if e.is_file() and not e.is_symlink()]
    except OSError:
        return []


_EXTRA = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _tox_extras(text: str) -> list[str]:
    """tox's `extras`: the plain ones, and a factor's (`tests: tests`) when the factor is a
    Python version or names tests — not a special run's (`mypy: tests-mypy`)."""
    found = []
    for line in text.splitlines():
        line = line.strip()
        factor = re.match(r"^([\w\-,{}!]+):\s*", line)
        if factor:
            names = factor.group(1).lower()
            if not (re.search(r"\bpy\d|test", names)):
                continue
            line = line[factor.end() :]
        for extra in re.split(r"[\s,]+", line):
            if _EXTRA.match(extra):
                found.append(canonicalize_name(extra))
    return found


def _declared(
    project_table: dict[str, Any], dynamic: set[str], poetry: dict[str, Any], setup_cfg: Any,
    setup_py: dict[str, Any],
) -> set[str | None]:  # fmt: skip
    """The names of the project's own runtime dependencies, as far as they are static."""
    reqs: list[str] = []
    if "dependencies" not in dynamic:
        reqs += [str(r) for r in project_table.get("dependencies") or []]
    reqs += [str(k) for k in (poetry.get("dependencies") or {}) if k.lower() != "python"]
    if setup_cfg is not None and setup_cfg.has_option("options", "install_requires"):
        reqs += setup_cfg.get("options", "install_requires").splitlines()
    if isinstance(setup_py.get("install_requires"), list):
        reqs += [str(r) for r in setup_py["install_requires"]]
    return {_requirement_name(r.strip()) for r in reqs if r.strip()}


def _requirement_name(text: str) -> str | None:
    try:
        return canonicalize_name(Requirement(text).name)
    except InvalidRequirement:
        return None


def _dependency_group(groups: dict[str, Any], name: str, seen: set[str]) -> list[str]:
    """A PEP 735 group with its `{include-group = …}` entries resolved."""
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


def _own_name(pyproject: dict, setup_cfg: Any, setup_py: dict) -> str:
    name = (pyproject.get("project") or {}).get("name") or (
        (pyproject.get("tool") or {}).get("poetry") or {}
    ).get("name")
    if not name and setup_cfg is not None and setup_cfg.has_option("metadata", "name"):
        name = setup_cfg.get("metadata", "name")
    if not name and isinstance(setup_py.get("name"), str):
        name = setup_py["name"]
    return canonicalize_name(str(name)) if name else ""


def _self_reference(item: str, own: str) -> tuple[str, list[str]]:
    """(the project's name, the extras) when a requirement names the project itself."""
    if not own:
        return "", []
    try:
        req = Requirement(item)
    except InvalidRequirement:
        return "", []
    if canonicalize_name(req.name) != own:
        return "", []
    return own, sorted(canonicalize_name(e) for e in req.extras)


def _requires_python(pyproject: dict, setup_cfg: Any, setup_py: dict) -> str | None:
    value = (pyproject.get("project") or {}).get("requires-python")
    poetry_python = (
        ((pyproject.get("tool") or {}).get("poetry") or {}).get("dependencies") or {}
    ).get("python")
    if not value and isinstance(poetry_python, str):
        value = poetry_requirement("python", poetry_python)
        value = value.removeprefix("python") if value else None
    if not value and setup_cfg is not None and setup_cfg.has_option("options", "python_requires"):
        value = setup_cfg.get("options", "python_requires")
    if not value and isinstance(setup_py.get("python_requires"), str):
        value = setup_py["python_requires"]
    return str(value).strip() or None if value else None


def _scm(build: dict, tool: dict, reader: _Reader, setup_py: dict) -> str | None:
    """The version-from-git tool the build uses, if any."""
    requires = " ".join(str(r) for r in build.get("requires") or []).lower()
    hatch_version = (
        ((tool.get("hatch") or {}).get("version") or {}) if isinstance(tool, dict) else {}
    )
    if "hatch-vcs" in requires or hatch_version.get("source") == "vcs":
        return "hatch-vcs"
    if re.search(r"setuptools[-_]scm", requires) or "setuptools_scm" in tool:
        return "setuptools-scm"
    if ((tool.get("pdm") or {}).get("version") or {}).get("source") == "scm":
        return "pdm-backend"
    if (tool.get("poetry-dynamic-versioning") or {}).get("enable"):
        return "poetry-dynamic-versioning"
    if "flit_scm" in requires or "flit-scm" in requires:
        return "setuptools-scm"
    text = str(setup_py.get("_text") or "")
    if "use_scm_version" in text or "setuptools_scm" in (reader.text("setup.cfg") or ""):
        return "setuptools-scm"
    return None
