"""The layout's rules hold: no import circle in first-party code, and every import-linter
contract in pyproject.toml fails on an import planted the wrong way."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("tfactory", "tasks_app", "agents_app", "findings_app")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def module_files(root: Path) -> dict[str, Path]:
    """Every first-party module (migrations and the sandbox's runner-side scripts, which
    import nothing of ours, included) by its dotted name."""
    found = {}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """module -> the first-party modules it imports, at any depth of its code (imports
    inside functions count). `from p import x` is an edge to p.x when that is a module,
    else to p; an absolute or relative name is resolved to the nearest module."""
    modules = module_files(root)

    def nearest(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                edges |= {nearest(a.name) for a in node.names if a.name.split(".")[0] in PACKAGES}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                if base.split(".")[0] not in PACKAGES:
                    continue
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    edges.add(full if full in modules else nearest(base))
        graph[name] = {e for e in edges if e and e != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as the modules along it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_first_party_code_has_no_import_circle():
    graph = import_graph(ROOT)
    assert len(graph) > 100  # the whole tree was read
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_the_circle_finder_sees_a_circle_made_by_an_import_inside_a_function(tmp_path):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=_no_caches)
    plant(tmp_path / "tasks_app/core/workspace.py", "tasks_app.services", "get_task")
    cycle = find_cycle(import_graph(tmp_path))
    assert cycle is not None and "tasks_app.core.workspace" in cycle


def _no_caches(_dir: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__"]


def plant(path: Path, module: str, name: str) -> None:
    """A wrong-way import, inside a function: the checks see those too."""
    with path.open("a") as fh:
        fh.write(
            f"\n\ndef _planted():\n    from {module} import {name}  # noqa\n\n    return {name}\n"
        )


# (contract id, the file the import is planted in, what it imports): each breaks only
# the contract named, so each contract is shown to catch it on its own
PLANTED = [
    ("layers", "agents_app/lanes/mutation/gate.py", "agents_app.stages.evaluate", "run"),
    ("pipeline-never-up", "agents_app/stages/plan.py", "tasks_app.services", "get_task"),
    ("sandbox-knows-no-stage", "agents_app/sandbox/probes.py", "agents_app.pipeline.context",
     "StageContext"),
    ("core-is-the-bottom", "tasks_app/core/git.py", "findings_app.store", "save"),
]  # fmt: skip


def lint_imports(root: Path, *contracts: str) -> subprocess.CompletedProcess:
    args = [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"]
    for contract in contracts:
        args += ["--contract", contract]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), "HOME": str(root)}
    return subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tree")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, root / package, ignore=_no_caches)
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def test_the_contracts_hold_on_the_tree_as_it_is(tree_copy):
    result = lint_imports(tree_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize("contract, where, module, name", PLANTED, ids=[p[0] for p in PLANTED])
def test_each_contract_fails_on_an_import_planted_the_wrong_way(
    tmp_path, contract, where, module, name
):
    root = tmp_path / "tree"
    for package in PACKAGES:
        shutil.copytree(ROOT / package, root / package, ignore=_no_caches)
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    importer = where.removesuffix(".py").replace("/", ".")
    assert lint_imports(root, contract).returncode == 0
    plant(root / where, module, name)
    result = lint_imports(root, contract)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and importer in result.stdout, result.stdout


@pytest.mark.django_db
def test_the_job_paths_django_q2_stored_still_resolve():
    # queued rows and the reaper's Schedule row hold dotted paths: they must not move
    from django.utils.module_loading import import_string
    from django_q.models import Schedule

    from agents_app.pipeline import queue

    reaper = Schedule.objects.get(name="tfactory-reaper")
    assert reaper.func == "agents_app.jobs.reap_job"
    assert queue.STAGE_JOB == "agents_app.jobs.stage_job"
    for path in (reaper.func, queue.STAGE_JOB):
        assert callable(import_string(path))
