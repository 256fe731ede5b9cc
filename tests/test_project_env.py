"""The cached project environment: real pip in the real bwrap sandbox, real package index."""

from __future__ import annotations

import textwrap
import threading
import time
from pathlib import Path

import pytest

from agents_app.project_env import (
    MARKER_NAME,
    RUNNER_REQUIREMENTS,
    ProjectEnv,
    ProjectEnvError,
    _install_plan,
    _poetry_spec,
    dependency_files,
    ensure_project_env,
    env_key,
)
from agents_app.sandbox import Mount, get_sandbox
from agents_app.sandbox.bwrap import bwrap_problem

needs_bwrap = pytest.mark.skipif(bwrap_problem() is not None, reason=f"bwrap: {bwrap_problem()}")


def make_project(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    """Shared by the module so pip's download cache is warm after the first build."""
    return tmp_path_factory.mktemp("tfactory-cache")


@pytest.fixture(scope="module")
def sandbox():
    return get_sandbox("bwrap")


def run_in_env(sandbox, env: ProjectEnv, code: str, work: Path):
    return sandbox.run(
        [str(env.python), "-c", textwrap.dedent(code)],
        mounts=[env.mount(), Mount(work, writable=True)],
        workdir=work,
        timeout_s=60,
    )


# -- fast: files, keys, plans --------------------------------------------------------------


def test_dependency_files_and_key(tmp_path):
    repo = make_project(
        tmp_path / "repo",
        {
            "requirements.txt": "six==1.16.0\n",
            "requirements-dev.txt": "-r requirements.txt\n",
            "dev-requirements.txt": "toml\n",
            "requirements/test.txt": "iniconfig\n",
            "pyproject.toml": "[project]\nname = 'x'\n",
            "setup.cfg": "[metadata]\nname = x\n",
            "poetry.lock": "",
            "app.py": "print('not a dependency file')\n",
            "docs/requirements.txt": "sphinx\n",
        },
    )
    assert dependency_files(repo) == [
        "dev-requirements.txt",
        "poetry.lock",
        "pyproject.toml",
        "requirements-dev.txt",
        "requirements.txt",
        "requirements/test.txt",
        "setup.cfg",
    ]
    key = env_key(repo)
    assert len(key) == 64 and key == env_key(repo)
    (repo / "app.py").write_text("changed, but not a dependency\n")
    assert env_key(repo) == key
    (repo / "requirements.txt").write_text("six==1.17.0\n")
    assert env_key(repo) != key
    assert any(r.startswith("coverage==7.") for r in RUNNER_REQUIREMENTS)
    assert "pytest-timeout==2.4.0" in RUNNER_REQUIREMENTS


def test_plan_prefers_requirements_files(tmp_path):
    repo = make_project(
        tmp_path / "repo",
        {
            "requirements.txt": "six\n",
            "test-requirements.txt": "toml\n",
            "requirements/base.txt": "iniconfig\n",
            "requirements/docs.txt": "sphinx\n",
            "pyproject.toml": "[project]\nname='p'\ndependencies=['attrs']\n",
        },
    )
    plan = _install_plan(repo)
    assert len(plan.steps) == 1 and not plan.installs_project
    args = plan.steps[0].pip_args
    files = [args[i + 1] for i, a in enumerate(args) if a == "-r"]
    assert files == [
        str(repo / "requirements.txt"),
        str(repo / "test-requirements.txt"),
        str(repo / "requirements/base.txt"),
    ]


def test_plan_for_static_pyproject(tmp_path):
    repo = make_project(
        tmp_path / "repo",
        {
            "pyproject.toml": """
            [project]
            name = "My_Proj"
            dependencies = ["six==1.16.0"]
            [project.optional-dependencies]
            test = ["toml==0.10.2", "my-proj[extra]"]
            docs = ["sphinx"]
            [dependency-groups]
            dev = ["iniconfig", {include-group = "lint"}]
            lint = ["ruff"]
            """
        },
    )
    plan = _install_plan(repo)
    assert not plan.installs_project
    assert plan.steps[0].pip_args == ["install", "six==1.16.0", "toml==0.10.2", "iniconfig", "ruff"]


def test_plan_installs_then_removes_setup_py_projects(tmp_path):
    repo = make_project(
        tmp_path / "repo",
        {
            "setup.py": """
            from setuptools import setup
            setup(name="legacy", install_requires=["six"], extras_require={"test": ["toml"]})
            """
        },
    )
    plan = _install_plan(repo)
    assert plan.installs_project
    assert plan.steps[0].pip_args == ["install", f"{repo}[test]"]


def test_plan_for_poetry(tmp_path):
    repo = make_project(
        tmp_path / "repo",
        {
            "pyproject.toml": """
            [tool.poetry]
            name = "po"
            [tool.poetry.dependencies]
            python = "^3.9"
            six = "^1.16"
            [tool.poetry.group.test.dependencies]
            toml = "~0.10.2"
            iniconfig = {version = "^2.0", extras = []}
            local = {path = "../local"}
            """
        },
    )
    plan = _install_plan(repo)
    assert plan.installs_project
    assert plan.steps[0].pip_args == ["install", str(repo)]
    assert plan.steps[1].pip_args == ["install", "toml>=0.10.2,<0.11", "iniconfig>=2.0,<3"]
    assert _poetry_spec("a", "^0.2.3") == "a>=0.2.3,<0.3"
    assert _poetry_spec("a", "1.2.3") == "a==1.2.3"
    assert _poetry_spec("a", ">=1,<2") == "a>=1,<2"
    assert _poetry_spec("a", "*") == "a"


def test_no_dependency_files_plan_is_empty(tmp_path):
    repo = make_project(tmp_path / "repo", {"app.py": "x = 1\n"})
    assert _install_plan(repo).steps == []
    assert dependency_files(repo) == []


# -- slow: real builds ---------------------------------------------------------------------


@pytest.mark.slow
@needs_bwrap
def test_requirements_project_builds_once_and_is_reused(tmp_path, cache_dir, sandbox):
    repo = make_project(
        tmp_path / "proj",
        {"requirements.txt": "six==1.16.0\n", "app.py": "import six\n"},
    )
    lines: list[str] = []
    env = ensure_project_env(repo, sandbox, cache_dir, emit=lines.append)
    assert env.reused is False
    assert env.path == cache_dir.resolve() / "envs" / f"py-{env.key[:16]}"
    assert (env.path / MARKER_NAME).is_file()
    assert "six==1.16.0" in env.installed
    assert any(p.startswith("coverage==7.") for p in env.installed)
    assert "pytest-timeout==2.4.0" in env.installed
    assert any(p.startswith("pytest==") for p in env.installed)
    assert lines[0] == "installing project dependencies (pip) …"
    assert env.site_packages.is_dir() and env.python.exists()

    work = tmp_path / "work"
    work.mkdir()
    result = run_in_env(
        sandbox,
        env,
        f"""
        import six, pytest, coverage, pytest_timeout
        print(six.__file__)
        try:
            open({str(env.site_packages / "pwned.py")!r}, "w")
        except OSError as exc:
            print("read-only", exc.errno)
        """,
        work,
    )
    assert result.ok, result.stderr
    assert result.stdout.splitlines()[0].startswith(str(env.site_packages))
    assert "read-only 30" in result.stdout
    # Console scripts point at the final path, not the temporary build directory.
    assert (env.path / "bin" / "pytest").read_text().startswith(f"#!{env.path}/bin/python")
    pytest_run = sandbox.run(
        [str(env.path / "bin" / "pytest"), "--version"],
        mounts=[env.mount(), Mount(work, writable=True)],
        workdir=work,
        timeout_s=60,
    )
    assert pytest_run.ok, pytest_run.stderr

    lines.clear()
    started = time.monotonic()
    again = ensure_project_env(repo, sandbox, cache_dir, emit=lines.append)
    assert time.monotonic() - started < 2
    assert again.reused is True and again.path == env.path and again.key == env.key
    assert again.installed == env.installed
    assert lines == [f"reused cached environment py-{env.key[:16]}"]

    (repo / "requirements.txt").write_text("six==1.16.0\ntoml==0.10.2\n")
    assert env_key(repo) != env.key


@pytest.mark.slow
@needs_bwrap
def test_static_pyproject_project(tmp_path, cache_dir, sandbox):
    repo = make_project(
        tmp_path / "pyproj",
        {
            "pyproject.toml": """
            [project]
            name = "pyproj-demo"
            version = "0.1"
            dependencies = ["six==1.16.0"]
            [project.optional-dependencies]
            test = ["toml==0.10.2", "pyproj-demo[other]"]
            [build-system]
            requires = ["setuptools"]
            build-backend = "setuptools.build_meta"
            """,
            "pyproj_demo/__init__.py": "",
        },
    )
    env = ensure_project_env(repo, sandbox, cache_dir)
    assert "six==1.16.0" in env.installed and "toml==0.10.2" in env.installed
    assert not any(p.lower().startswith("pyproj-demo") for p in env.installed)
    work = tmp_path / "work"
    work.mkdir()
    result = run_in_env(sandbox, env, "import six, toml, pytest, coverage", work)
    assert result.ok, result.stderr


@pytest.mark.slow
@needs_bwrap
def test_setup_py_project_is_not_left_installed(tmp_path, cache_dir, sandbox):
    repo = make_project(
        tmp_path / "legacy",
        {
            "setup.py": """
            from setuptools import setup
            setup(
                name="legacy-demo",
                version="0.1",
                py_modules=["legacy_demo"],
                install_requires=["six==1.16.0"],
                extras_require={"test": ["toml==0.10.2"]},
            )
            """,
            "legacy_demo.py": "VALUE = 1\n",
        },
    )
    env = ensure_project_env(repo, sandbox, cache_dir)
    assert "six==1.16.0" in env.installed and "toml==0.10.2" in env.installed
    assert not any(p.lower().startswith("legacy") for p in env.installed)
    work = tmp_path / "work"
    work.mkdir()
    result = run_in_env(
        sandbox,
        env,
        """
        import importlib.util
        assert importlib.util.find_spec("legacy_demo") is None
        import six, toml
        """,
        work,
    )
    assert result.ok, result.stderr


@pytest.mark.slow
@needs_bwrap
def test_broken_requirement_raises_and_leaves_nothing(tmp_path, cache_dir, sandbox):
    repo = make_project(
        tmp_path / "broken",
        {"requirements.txt": "tfactory-no-such-package-7f3a9c==1.0\n"},
    )
    with pytest.raises(ProjectEnvError) as info:
        ensure_project_env(repo, sandbox, cache_dir, timeout_s=300)
    message = str(info.value)
    assert "pip install -r" in message and "requirements.txt" in message
    assert "tfactory-no-such-package-7f3a9c" in message
    assert "dependencies failed" in message and "exited 1" in message
    key = env_key(repo)
    envs = cache_dir.resolve() / "envs"
    assert not (envs / f"py-{key[:16]}").exists()
    assert not list(envs.glob(f".tmp-py-{key[:16]}-*"))
    assert not list((cache_dir.resolve() / "build").glob(f"py-{key[:16]}-*"))


@pytest.mark.slow
@needs_bwrap
def test_concurrent_calls_build_once(tmp_path, cache_dir, sandbox):
    # A project with no dependency files still gets the runner requirements.
    repo = make_project(tmp_path / "bare", {"mod.py": "def f():\n    return 1\n"})
    results: list[ProjectEnv] = []
    errors: list[BaseException] = []
    lines: list[str] = []

    def worker() -> None:
        try:
            results.append(ensure_project_env(repo, sandbox, cache_dir, emit=lines.append))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not errors, errors
    assert sorted(r.reused for r in results) == [False, True]
    assert results[0].path == results[1].path
    assert lines.count("installing project dependencies (pip) …") == 1
    assert any(p.startswith("coverage==") for p in results[0].installed)
    work = tmp_path / "work"
    work.mkdir()
    assert run_in_env(sandbox, results[0], "import pytest, coverage", work).ok
