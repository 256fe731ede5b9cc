"""The cached project environment: real pip in the real bwrap sandbox, real package index."""

from __future__ import annotations

import json
import os
import textwrap
import threading
import time
from pathlib import Path

import pytest

from agents_app.env.plan import poetry_requirement, setup_plan
from agents_app.env.project import (
    RUNNER_REQUIREMENTS,
    ProjectEnv,
    ProjectEnvCancelled,
    ProjectEnvError,
    dependency_files,
    ensure_project_env,
    env_key,
    marker_path,
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


def test_plan_takes_requirements_files_by_what_they_hold(tmp_path):
    repo = make_project(
        tmp_path / "repo",
        {
            "requirements.txt": "six\n",
            "test-requirements.txt": "toml\n",
            "requirements/base.txt": "iniconfig\n",
            "requirements/docs.txt": "sphinx\n",
            "requirements-dev.txt": "ruff\n",
            "pyproject.toml": "[project]\nname='p'\ndependencies=['attrs']\n",
        },
    )
    plan = setup_plan(repo)
    assert plan.project is not None and plan.project.origin.startswith("pyproject.toml")
    assert [(s.label, s.origin, s.args, s.optional) for s in plan.sources] == [
        ("runtime requirements", "requirements.txt", ["-r", "requirements.txt"], False),
        ("runtime requirements", "requirements/base.txt", ["-r", "requirements/base.txt"], False),
        ("test dependencies", "test-requirements.txt", ["-r", "test-requirements.txt"], False),
        ("dev dependencies", "requirements-dev.txt", ["-r", "requirements-dev.txt"], True),
    ]  # docs requirements are not the tests'


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
            test = ["my-proj[docs]", "pytest-mock"]
            dev = ["iniconfig", {include-group = "lint"}]
            lint = ["ruff"]
            """
        },
    )
    plan = setup_plan(repo)
    # the project itself, with its test extra and the extras its groups ask for
    assert plan.project is not None and plan.project.extras == ["test", "docs"]
    assert [(s.origin, s.args, s.optional) for s in plan.sources] == [
        ("pyproject.toml [dependency-groups] test", ["pytest-mock"], False),
        ("pyproject.toml [dependency-groups] dev", ["iniconfig", "ruff"], True),
    ]


def test_plan_for_a_setup_py_project(tmp_path):
    repo = make_project(
        tmp_path / "repo",
        {
            "setup.py": """
            from setuptools import setup
            TESTS = ["pytest-mock"]
            setup(name="legacy", install_requires=["six"], extras_require={"test": ["toml"]},
                  tests_require=TESTS, python_requires=">=3.8", use_scm_version=True)
            """
        },
    )
    plan = setup_plan(repo)
    assert plan.project is not None and plan.project.origin == "setup.py"
    assert plan.project.extras == ["test"] and plan.project.scm == "setuptools-scm"
    assert plan.requires_python == ">=3.8"
    assert [(s.origin, s.args) for s in plan.sources] == [
        ("setup.py tests_require", ["pytest-mock"])
    ]
    assert plan.version_env("2.1.0")["SETUPTOOLS_SCM_PRETEND_VERSION"] == "2.1.0"


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
            [build-system]
            requires = ["poetry-core"]
            build-backend = "poetry.core.masonry.api"
            """
        },
    )
    plan = setup_plan(repo)
    assert plan.project is not None and plan.project.backend == "poetry.core.masonry.api"
    assert plan.requires_python == ">=3.9,<4"
    assert [(s.origin, s.args) for s in plan.sources] == [
        ("pyproject.toml [tool.poetry.group.test]", ["toml>=0.10.2,<0.11", "iniconfig>=2.0,<3"])
    ]
    assert poetry_requirement("a", "^0.2.3") == "a>=0.2.3,<0.3"
    assert poetry_requirement("a", "1.2.3") == "a==1.2.3"
    assert poetry_requirement("a", ">=1,<2") == "a>=1,<2"
    assert poetry_requirement("a", "*") == "a"


def test_no_dependency_files_plan_is_empty(tmp_path):
    repo = make_project(tmp_path / "repo", {"app.py": "x = 1\n"})
    plan = setup_plan(repo)
    assert plan.project is None and plan.sources == []
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
    # The marker lives beside the environment (where no sandbox can write), not inside.
    marker = marker_path(env.path)
    assert marker == env.path.parent / f"py-{env.key[:16]}.json"
    assert marker.is_file() and not marker.is_symlink()
    assert json.loads(marker.read_text())["key"] == env.key
    assert not (env.path / ".tfactory-env.json").exists()
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
    # the project itself is installed (editable): its metadata and entry points are there
    assert "pyproj-demo==0.1" in env.installed
    assert "the project itself (editable)" in " ".join(env.setup["installed_from"])
    work = tmp_path / "work"
    work.mkdir()
    code = "import six, toml, pytest, coverage, importlib.metadata as m; "
    code += "print(m.version('pyproj-demo'))"
    result = run_in_env(sandbox, env, code, work)
    assert result.ok and result.stdout.strip() == "0.1", result.stderr


@pytest.mark.slow
@needs_bwrap
def test_a_setup_py_project_is_installed_and_tests_import_the_checkout(
    tmp_path, cache_dir, sandbox
):
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
    assert "legacy-demo==0.1" in env.installed
    work = tmp_path / "work"
    work.mkdir()
    (work / "legacy_demo.py").write_text("VALUE = 2  # the checkout under test\n")
    result = sandbox.run(
        [str(env.python), "-c", "import legacy_demo, six, toml; print(legacy_demo.VALUE)"],
        mounts=[env.mount(), Mount(work, writable=True)],
        workdir=work,
        timeout_s=60,
        env={"PYTHONPATH": str(work)},
    )
    # the runs put the checkout first: it wins over the installed copy
    assert result.ok and result.stdout.strip() == "2", result.stderr


@pytest.mark.slow
@needs_bwrap
def test_a_hatch_vcs_project_gets_its_version_and_its_generated_version_module(
    tmp_path, cache_dir, sandbox
):
    from tests.projects import git

    repo = make_project(
        tmp_path / "vcs",
        {
            "pyproject.toml": """
            [build-system]
            requires = ["hatchling", "hatch-vcs"]
            build-backend = "hatchling.build"
            [project]
            name = "vcspkg"
            dynamic = ["version"]
            [tool.hatch.version]
            source = "vcs"
            [tool.hatch.build.hooks.vcs]
            version-file = "src/vcspkg/_version.py"
            """,
            "src/vcspkg/__init__.py": "from vcspkg._version import __version__\n",
            ".gitignore": "src/vcspkg/_version.py\n",
        },
    )
    git(repo, "init", "-q", "-b", "main")
    git(repo, "-c", "user.email=a@b", "-c", "user.name=a", "add", "-A")
    git(repo, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "-m", "x")
    git(repo, "tag", "v1.4.2")
    env = ensure_project_env(repo, sandbox, cache_dir)
    assert "vcspkg==1.4.2" in env.installed
    assert env.setup["version"] == "1.4.2"
    assert env.setup["plan"]["project"]["scm"] == "hatch-vcs"
    assert "1.4.2" in env.generated["src/vcspkg/_version.py"]
    # the checkout lacks the module until it is laid over the worktree
    from agents_app.env.runtime import overlay_generated

    assert overlay_generated(repo, env.generated) == ["src/vcspkg/_version.py"]
    result = sandbox.run(
        [str(env.python), "-c", "import vcspkg; print(vcspkg.__version__)"],
        mounts=[env.mount(), Mount(repo)],
        workdir=repo,
        timeout_s=60,
        env={"PYTHONPATH": str(repo / "src")},
    )
    assert result.ok and result.stdout.strip() == "1.4.2", result.stderr


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
    assert not marker_path(envs / f"py-{key[:16]}").exists()
    assert not list((cache_dir.resolve() / "build").glob(f"py-{key[:16]}*"))


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


# -- security: what the host reads and writes, what projects share --------------------------


def test_project_is_part_of_the_key_and_of_a_safe_folder_name(tmp_path):
    from agents_app.env.project import _env_name

    repo = make_project(tmp_path / "repo", {"requirements.txt": "six==1.16.0\n"})
    plain, alpha, beta = (
        env_key(repo),
        env_key(repo, project="alpha"),
        env_key(repo, project="beta"),
    )
    assert len({plain, alpha, beta}) == 3
    assert env_key(repo, project="alpha") == alpha
    assert _env_name(plain) == f"py-{plain[:16]}"
    assert _env_name(alpha, "alpha") == f"py-alpha-{alpha[:16]}"
    for project in ("../../etc/passwd", "Team/Alpha 1", "x\ny", "..", "/", "é" * 80):
        name = _env_name(env_key(repo, project=project), project)
        assert "/" not in name and ".." not in name and "\n" not in name
        assert name.startswith("py-") and len(name) <= 3 + 41 + 16
    assert _env_name(alpha, "Team/Alpha 1").startswith("py-team-alpha-1-")


def test_requirement_includes_are_hashed_and_outside_ones_refused(tmp_path):
    repo = make_project(
        tmp_path / "repo",
        {
            "requirements.txt": "-r sub/inner.txt\n--constraint=pins/c.txt  # pins\nsix\n",
            "sub/inner.txt": "-r ../sub/deeper.txt\ntoml\n",
            "sub/deeper.txt": "iniconfig\n",
            "pins/c.txt": "six==1.16.0\n",
        },
    )
    key = env_key(repo)
    (repo / "sub" / "deeper.txt").write_text("iniconfig==2.0.0\n")
    assert env_key(repo) != key
    key = env_key(repo)
    (repo / "pins" / "c.txt").write_text("six==1.17.0\n")
    assert env_key(repo) != key
    key = env_key(repo)
    (repo / "sub" / "deeper.txt").unlink()  # missing: hashed as missing, pip will complain
    assert env_key(repo) != key

    outside = tmp_path / "outside.txt"
    outside.write_text("secret-requirement\n")
    for line in (
        "-r ../outside.txt",
        f"-r {outside}",
        "--requirement=../../x.txt",
        "-c file:///etc/passwd",
        "-r https://example.com/reqs.txt",
        "-r ${HOME}/reqs.txt",
        "-rsub/../../outside.txt",
    ):
        (repo / "requirements.txt").write_text(f"six\n{line}\n")
        with pytest.raises(ProjectEnvError, match="only files inside the repository"):
            env_key(repo)

    (repo / "sub" / "link.txt").symlink_to(outside)
    (repo / "requirements.txt").write_text("-r sub/link.txt\n")
    with pytest.raises(ProjectEnvError, match="symlink"):
        env_key(repo)
    (repo / "linkdir").symlink_to(tmp_path)
    (repo / "requirements.txt").write_text("-r linkdir/outside.txt\n")
    with pytest.raises(ProjectEnvError, match="symlink"):
        env_key(repo)


def test_symlinked_dependency_files_are_not_read(tmp_path):
    secret = tmp_path / "secret_key"
    secret.write_text("six==1.16.0  # SECRET-7f3a\n")
    repo = make_project(tmp_path / "repo", {"app.py": "x = 1\n"})
    clean_key = env_key(repo)
    (repo / "requirements.txt").symlink_to(secret)
    (repo / "pyproject.toml").symlink_to(secret)  # not TOML: reading it would raise
    (repo / "requirements").symlink_to(tmp_path)
    assert dependency_files(repo) == []
    assert env_key(repo) == clean_key
    secret.write_text("toml==0.10.2  # SECRET-changed\n")
    assert env_key(repo) == clean_key
    plan = setup_plan(repo)
    assert plan.project is None and plan.sources == []

    from agents_app.env.project import skipped_dependency_files

    assert skipped_dependency_files(repo) == ["pyproject.toml", "requirements", "requirements.txt"]


def test_cancel_before_start_and_while_waiting_for_the_lock(tmp_path):
    import fcntl

    from agents_app.env.project import _env_name

    repo = make_project(tmp_path / "repo", {"requirements.txt": "six==1.16.0\n"})
    done = threading.Event()
    done.set()
    fresh_cache = tmp_path / "cache"
    with pytest.raises(ProjectEnvCancelled, match="cancelled"):
        ensure_project_env(repo, get_sandbox("none"), fresh_cache, cancel=done)
    assert not fresh_cache.exists()

    # Another build of the same key holds the lock: a cancelled waiter gives up.
    envs = fresh_cache.resolve() / "envs"
    envs.mkdir(parents=True)
    name = _env_name(env_key(repo, project="p"), "p")
    cancel = threading.Event()
    with open(envs / f".{name}.lock", "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        threading.Timer(0.5, cancel.set).start()
        started = time.monotonic()
        with pytest.raises(ProjectEnvCancelled):
            ensure_project_env(repo, get_sandbox("none"), fresh_cache, project="p", cancel=cancel)
        assert time.monotonic() - started < 5
    assert not (envs / name).exists()
    assert issubclass(ProjectEnvCancelled, ProjectEnvError)


@pytest.mark.slow
@needs_bwrap
def test_two_projects_with_identical_requirements_get_different_envs(tmp_path, sandbox):
    cache = tmp_path / "cache"
    envs = {}
    for project in ("alpha", "beta"):
        repo = make_project(tmp_path / project / "repo", {"requirements.txt": "six==1.16.0\n"})
        envs[project] = ensure_project_env(repo, sandbox, cache, project=project)
    alpha, beta = envs["alpha"], envs["beta"]
    assert alpha.key != beta.key and alpha.path != beta.path
    assert alpha.path.name == f"py-alpha-{alpha.key[:16]}"
    assert beta.path.name == f"py-beta-{beta.key[:16]}"
    assert not alpha.reused and not beta.reused
    assert "six==1.16.0" in alpha.installed and "six==1.16.0" in beta.installed
    # One pip cache per project, none shared.
    caches = sorted(p.name for p in (cache / "pip-caches").iterdir())
    assert len(caches) == 2 and caches[0].startswith("alpha-") and caches[1].startswith("beta-")
    assert not (cache / "pip-cache").exists()
    again = ensure_project_env(tmp_path / "alpha" / "repo", sandbox, cache, project="alpha")
    assert again.reused and again.path == alpha.path


@pytest.mark.slow
@needs_bwrap
def test_links_planted_by_build_code_are_never_followed_by_the_host(tmp_path, sandbox):
    """setup.py (run by pip with network, the env writable) plants symlinks named like the
    old in-env marker and like metadata the host used to read, pointing at a host file."""
    import sys

    from agents_app.env.project import _env_name

    host_file = tmp_path / "host-file.txt"
    original = "Metadata-Version: 2.1\nName: leaked-host-secret\nVersion: 6.6.6\n"
    host_file.write_text(original)
    repo = make_project(
        tmp_path / "planter",
        {
            "setup.py": """
            import json, os, pathlib, sys
            from setuptools import setup

            plan = json.loads((pathlib.Path(__file__).resolve().parent / "plant.json").read_text())
            env = pathlib.Path(plan["env"])
            for rel in plan["links"]:
                link = env / rel
                try:
                    link.parent.mkdir(parents=True, exist_ok=True)
                    if os.path.lexists(link):
                        os.unlink(link)
                    os.symlink(plan["target"], link)
                    print("planted", link, file=sys.stderr)
                except OSError as exc:
                    print("could not plant", link, exc, file=sys.stderr)
            setup(name="planter", version="0.1", py_modules=["planter"])
            """,
            "planter.py": "VALUE = 1\n",
        },
    )
    cache = tmp_path / "cache"
    project = "planter-proj"
    final = cache.resolve() / "envs" / _env_name(env_key(repo, project=project), project)
    site = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
    links = [
        ".tfactory-env.json",
        f"{site}/planted-1.0.dist-info/METADATA",
        f"{site}/planted-1.0.dist-info/direct_url.json",
        f"../{final.name}.json",  # the real marker: outside every mount, must fail
    ]
    # plant.json is not a dependency file: the key (and so the env path) stays the same.
    (repo / "plant.json").write_text(
        json.dumps({"env": str(final), "target": str(host_file), "links": links})
    )
    lines: list[str] = []
    env = ensure_project_env(repo, sandbox, cache, project=project, emit=lines.append)
    assert env.path == final
    # The build code did run and plant its links inside the environment …
    assert os.path.islink(final / ".tfactory-env.json")
    assert os.path.islink(final / site / "planted-1.0.dist-info" / "METADATA")
    # … but the host neither wrote through them nor read them.
    assert host_file.read_text() == original and not host_file.is_symlink()
    assert not any("leaked-host-secret" in p or "6.6.6" in p for p in env.installed)
    # the project itself stays installed (its metadata is real, read inside the sandbox)
    assert [p for p in env.installed if p.lower().startswith("planter")] == ["planter==0.1"]
    marker = marker_path(final)
    assert marker.is_file() and not marker.is_symlink()
    assert json.loads(marker.read_text())["key"] == env.key
    again = ensure_project_env(repo, sandbox, cache, project=project)
    assert again.reused and again.installed == env.installed
    assert host_file.read_text() == original


@pytest.mark.slow
@needs_bwrap
def test_symlinked_requirements_file_is_skipped_with_a_warning(tmp_path, sandbox):
    secret = tmp_path / "secret_key"
    secret.write_text("six==1.16.0\n")
    repo = make_project(tmp_path / "linked", {"app.py": "x = 1\n"})
    (repo / "requirements.txt").symlink_to(secret)
    lines: list[str] = []
    env = ensure_project_env(repo, sandbox, tmp_path / "cache", project="linked", emit=lines.append)
    assert any("requirements.txt is a symlink" in line for line in lines), lines
    assert not any(p.startswith("six==") for p in env.installed)
    assert any(p.startswith("pytest==") for p in env.installed)
    marker = json.loads(marker_path(env.path).read_text())
    assert marker["dependency_files"] == []
    assert marker["setup"]["plan"]["sources"] == [] and marker["setup"]["plan"]["project"] is None


@pytest.mark.slow
@needs_bwrap
def test_cancel_during_a_build_stops_it_and_leaves_nothing(tmp_path, sandbox):
    repo = make_project(
        tmp_path / "slow",
        {
            "setup.py": """
            import time
            from setuptools import setup
            time.sleep(120)
            setup(name="slow", version="0.1", py_modules=[])
            """
        },
    )
    cache = tmp_path / "cache"
    cancel = threading.Event()
    threading.Timer(3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(ProjectEnvCancelled):
        ensure_project_env(repo, sandbox, cache, project="slow", cancel=cancel, timeout_s=300)
    assert time.monotonic() - started < 30
    envs = cache.resolve() / "envs"
    assert [p.name for p in envs.iterdir() if not p.name.endswith(".lock")] == []
    assert list((cache.resolve() / "build").iterdir()) == []


def test_the_interpreter_is_the_default_when_accepted_else_the_newest_accepted():
    from agents_app.env.interpreters import Interpreter, NoInterpreter, choose

    default = Interpreter("/usr/bin/python3", "3.11.7")
    others = [
        default,
        Interpreter("/p/3.12/bin/python3", "3.12.1"),
        Interpreter("/p/3.13/bin/python3", "3.13.0"),
        Interpreter("/p/3.9", "3.9.18"),
    ]
    assert choose(others, ">=3.9", None) is default
    assert choose(others, ">=3.12", None).version == "3.13.0"
    assert choose(others, ">=3.10,<3.13", None) is default
    assert choose(others, "<3.10", None).version == "3.9.18"
    assert choose(others, ">=3.9", "3.12").version == "3.12.1"
    with pytest.raises(NoInterpreter, match=r"requires Python >=3\.14; the sandbox has 3\.11\.7"):
        choose(others, ">=3.14", None)
    with pytest.raises(NoInterpreter, match=r"asks for Python 3\.8"):
        choose(others, None, "3.8")


@pytest.mark.slow
@needs_bwrap
def test_a_project_that_requires_a_newer_python_gets_one_of_the_host_s(tmp_path, cache_dir):
    from agents_app.env.interpreters import Version, host_interpreters

    sandbox = get_sandbox("bwrap")
    newer = [
        i for i in host_interpreters(sandbox.env_python) if Version(i.version) >= Version("3.12")
    ]
    if not newer:
        pytest.skip("no Python 3.12 or newer on this host")
    repo = make_project(
        tmp_path / "newer",
        {
            "pyproject.toml": """
            [project]
            name = "newer"
            version = "0.1"
            requires-python = ">=3.12"
            [build-system]
            requires = ["setuptools"]
            build-backend = "setuptools.build_meta"
            """,
            "newer/__init__.py": "",
        },
    )
    env = ensure_project_env(repo, sandbox, cache_dir)
    newest = max(newer, key=lambda i: Version(i.version))
    assert env.setup["python"] == newest.version
    assert (
        "the newest the sandbox has that the project's >=3.12 accepts" in env.setup["python_choice"]
    )
    assert env.python_prefix  # a host installation the runs must bind
    work = tmp_path / "work"
    work.mkdir()
    result = sandbox.run(
        [
            str(env.python),
            "-c",
            "import sys, importlib.metadata as m; m.version('newer'); "
            "print('%d.%d' % sys.version_info[:2])",
        ],
        mounts=[env.mount(), Mount(Path(env.python_prefix)), Mount(work, writable=True)],
        workdir=work,
        timeout_s=60,
    )
    assert result.ok and result.stdout.strip() == newest.minor, result.stderr


@pytest.mark.parametrize(
    "output, package, reason",
    [
        (
            "Collecting git+https://github.com/o/r (from -r t.txt (line 5))\n"
            "ERROR: Cannot find command 'git' - do you have 'git' installed and in your PATH?",
            "git+https://github.com/o/r",
            "a version-control requirement the sandbox cannot fetch",
        ),
        (
            "ERROR: Could not find a version that satisfies the requirement nope==1 "
            "(from versions: none)\nERROR: No matching distribution found for nope==1",
            "nope==1",
            "no release on the package index satisfies it",
        ),
        ("ERROR: Exception:\nTraceback ...", None, "Exception:"),
    ],
)
def test_pip_s_words_name_the_requirement_and_the_reason(output, package, reason):
    from agents_app.env.project import pip_failure

    found_package, found_reason = pip_failure(output)
    assert found_package == package and found_reason.startswith(reason)
