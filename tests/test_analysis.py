"""Project analysis (agents_app.spec.analysis)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

from agents_app.spec.analysis import analyse_project, list_files

GIT = ["git", "-c", "user.name=T", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]


def make(root: Path, files: dict[str, str]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def commit_all(root: Path) -> None:
    subprocess.run([*GIT, "init", "-q"], cwd=root, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-q", "-m", "init"], cwd=root, check=True)


FLAT = {
    "README.md": "# Shop\n",
    "setup.py": "from setuptools import setup\nsetup(name='shop', python_requires='>=3.10')\n",
    "requirements.txt": "django>=5\nrequests==2.32.0  # http\n",
    "requirements-dev.txt": "-r requirements.txt\npytest==8.0\npytest-cov\n",
    "requirements/ci.txt": "coverage\n",
    "docs/requirements.txt": "sphinx\n",
    "dev-requirements.in": "",
    "shop/__init__.py": "",
    "shop/cart.py": "def total():\n    return 1\n",
    "shop/api/views.py": "X = 1\n",
    "tests/conftest.py": "import pytest\n",
    "tests/test_cart.py": "import pytest\n\ndef test_total():\n    assert True\n",
    "tests/unit/test_views.py": "def test_v():\n    pass\n",
    "scripts/deploy.py": "print('x')\n",
    "manage.py": "import django\n",
    "static/app.js": "console.log(1)\n",
    "config.yaml": "a: 1\n",
}


def test_flat_layout_with_pytest(tmp_path):
    root = make(tmp_path, FLAT)
    commit_all(root)
    a = analyse_project(root)
    assert a["languages"] == {"python": 9, "markdown": 1, "javascript": 1, "yaml": 1}
    assert a["primary_language"] == "python"
    assert a["test_framework"] == "pytest"
    assert "pytest is a dependency in requirements-dev.txt" in a["test_framework_evidence"]
    assert "conftest.py: tests/conftest.py" in a["test_framework_evidence"]
    assert a["dependency_files"] == [
        "dev-requirements.in",
        "requirements-dev.txt",
        "requirements.txt",
        "requirements/ci.txt",
        "setup.py",
    ]
    assert a["import_roots"] == ["."] and a["src_layout"] is False
    assert a["test_dirs"] == ["tests"]
    assert a["packages"] == ["shop"]  # scripts/ has no __init__.py; manage.py is not a package
    assert a["requires_python"] == ">=3.10"
    assert a["python_files"] == 9 and a["test_files"] == 2
    assert a["frameworks"] == ["django"]
    assert {"django", "pytest", "pytest-cov", "requests", "coverage"} <= set(
        a["declared_dependencies"]
    )
    assert a["git_tracked"] is True and a["warnings"] == []
    json.dumps(a)


def test_src_layout_declared_in_pyproject(tmp_path):
    root = make(
        tmp_path,
        {
            "pyproject.toml": (
                '[project]\nname = "shop"\nrequires-python = ">=3.11"\n'
                'dependencies = ["attrs"]\n'
                '[project.optional-dependencies]\ntest = ["pytest>=8", "hypothesis"]\n'
                '[tool.setuptools]\npackage-dir = {"" = "src"}\n'
                '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n'
            ),
            "src/shop/__init__.py": "",
            "src/shop/cart.py": "X = 1\n",
            "src/helpers.py": "Y = 1\n",
            "src/nsonly/mod.py": "Z = 1\n",
            "tests/test_cart.py": "def test_x():\n    assert True\n",
            "uv.lock": "",
        },
    )
    a = analyse_project(root)
    assert a["import_roots"] == ["src"] and a["src_layout"] is True
    assert a["import_roots_evidence"] == ["[tool.setuptools] package-dir"]
    assert a["packages"] == ["helpers", "nsonly", "shop"]
    assert a["requires_python"] == ">=3.11"
    assert a["dependency_files"] == ["pyproject.toml", "uv.lock"]
    assert a["test_framework"] == "pytest"
    assert a["test_framework_evidence"][:2] == [
        "pytest is a dependency in pyproject.toml",
        "[tool.pytest.ini_options] in pyproject.toml",
    ]
    assert a["test_dirs"] == ["tests"]
    assert a["git_tracked"] is False


def test_src_layout_inferred_without_configuration(tmp_path):
    root = make(tmp_path, {"src/pkg/__init__.py": "", "src/pkg/m.py": "", "README.md": ""})
    a = analyse_project(root)
    assert a["import_roots"] == ["src"] and a["src_layout"] is True
    assert a["packages"] == ["pkg"]


def test_other_build_backends_declare_import_roots(tmp_path):
    cases = {
        "poetry": '[tool.poetry]\nname = "x"\npackages = [{ include = "pkg", from = "lib" }]\n'
        '[tool.poetry.dependencies]\npython = "^3.10"\n',
        "hatch": '[tool.hatch.build.targets.wheel]\npackages = ["src/pkg"]\n',
        "setuptools-find": '[tool.setuptools.packages.find]\nwhere = ["src"]\n',
        "pdm": '[tool.pdm.build]\npackage-dir = "src"\n',
    }
    expected = {"poetry": ["lib"], "hatch": ["src"], "setuptools-find": ["src"], "pdm": ["src"]}
    for name, toml in cases.items():
        root = make(tmp_path / name, {"pyproject.toml": toml, "lib/pkg/__init__.py": ""})
        a = analyse_project(root)
        assert a["import_roots"] == expected[name], name
    assert analyse_project(tmp_path / "poetry")["requires_python"] == "^3.10"


def test_setup_cfg_package_dir_and_pytest_section(tmp_path):
    root = make(
        tmp_path,
        {
            "setup.cfg": (
                "[options]\npackage_dir =\n    =src\npython_requires = >=3.9\n"
                "install_requires =\n    requests\n[tool:pytest]\ntestpaths = tests\n"
            ),
            "src/pkg/__init__.py": "",
            "tests/test_a.py": "def test_a():\n    pass\n",
        },
    )
    a = analyse_project(root)
    assert a["import_roots"] == ["src"]
    assert a["requires_python"] == ">=3.9"
    assert a["test_framework"] == "pytest"
    assert "[tool:pytest] in setup.cfg" in a["test_framework_evidence"]


def test_pytest_ini_and_tox_ini_are_evidence(tmp_path):
    a = analyse_project(make(tmp_path / "ini", {"pytest.ini": "[pytest]\n", "m.py": ""}))
    assert a["test_framework"] == "pytest" and a["test_framework_evidence"] == ["pytest.ini"]
    b = analyse_project(make(tmp_path / "tox", {"tox.ini": "[tox]\n[pytest]\naddopts = -q\n"}))
    assert b["test_framework"] == "pytest" and b["test_framework_evidence"] == [
        "[pytest] in tox.ini"
    ]


def test_unittest_projects(tmp_path):
    root = make(
        tmp_path,
        {
            "calc/__init__.py": "",
            "calc/ops.py": "def add(a, b):\n    return a + b\n",
            "tests/test_ops.py": "import unittest\n\nclass T(unittest.TestCase):\n    pass\n",
            "requirements.txt": "attrs\n",
        },
    )
    a = analyse_project(root)
    assert a["test_framework"] == "unittest"
    assert a["test_framework_evidence"] == ["unittest.TestCase in tests/test_ops.py"]


def test_plain_test_functions_mean_pytest(tmp_path):
    root = make(tmp_path, {"m.py": "", "test_m.py": "def test_m():\n    assert 1\n"})
    a = analyse_project(root)
    assert a["test_framework"] == "pytest"
    assert a["test_framework_evidence"] == ["plain test functions (pytest style) in test_m.py"]
    assert a["test_dirs"] == ["."]


def test_no_tests_at_all(tmp_path):
    a = analyse_project(make(tmp_path, {"app.py": "print(1)\n", "notes.md": ""}))
    assert a["test_framework"] is None and a["test_framework_evidence"] == []
    assert a["test_dirs"] == [] and a["test_files"] == 0
    assert a["packages"] == ["app"] and a["requires_python"] is None


def test_invalid_pyproject_is_a_warning(tmp_path):
    root = make(tmp_path, {"pyproject.toml": "[project\nname = 'x'\n", "a.py": ""})
    a = analyse_project(root)
    assert a["import_roots"] == ["."]
    assert len(a["warnings"]) == 1 and a["warnings"][0].startswith("pyproject.toml: invalid TOML")
    assert a["dependency_files"] == ["pyproject.toml"]


def test_walk_skips_git_venvs_and_node_modules(tmp_path):
    root = make(
        tmp_path,
        {
            "app.py": "",
            ".venv/lib/site.py": "",
            "env/pyvenv.cfg": "home = /usr\n",
            "env/lib/x.py": "",
            "node_modules/pkg/index.js": "",
            "build/__pycache__/a.py": "",
            "web/index.ts": "",
        },
    )
    (root / ".git").mkdir()  # a broken .git: the walk is used
    a = analyse_project(root)
    assert a["languages"] == {"python": 1, "typescript": 1}
    assert a["git_tracked"] is False


def test_only_git_tracked_files_count_in_a_git_repo(tmp_path):
    root = make(tmp_path, {"a.py": "", "b.md": ""})
    commit_all(root)
    make(root, {"untracked.py": "", "more/c.py": ""})
    a = analyse_project(root)
    assert a["languages"] == {"markdown": 1, "python": 1}
    assert a["python_files"] == 1


def test_primary_language_ignores_markup_and_data(tmp_path):
    root = make(tmp_path, {f"docs/p{i}.md": "" for i in range(5)} | {"x.json": "", "a.ts": ""})
    a = analyse_project(root)
    assert a["primary_language"] == "typescript"
    assert analyse_project(make(tmp_path / "empty", {"README.md": ""}))["primary_language"] is None


def test_it_never_runs_project_code(tmp_path):
    marker = tmp_path / "ran"
    root = make(
        tmp_path / "p",
        {
            "setup.py": f"open({str(marker)!r}, 'w').write('x')\n",
            "conftest.py": f"open({str(marker)!r}, 'w').write('x')\n",
            "pkg/__init__.py": f"open({str(marker)!r}, 'w').write('x')\n",
        },
    )
    analyse_project(root)
    assert not marker.exists()


def test_pipfile_and_lock_files(tmp_path):
    root = make(
        tmp_path,
        {
            "Pipfile": '[packages]\nflask = "*"\n[dev-packages]\npytest = "*"\n',
            "Pipfile.lock": "{}",
            "poetry.lock": "",
            "pdm.lock": "",
            "app.py": "",
        },
    )
    a = analyse_project(root)
    assert a["dependency_files"] == ["Pipfile", "Pipfile.lock", "pdm.lock", "poetry.lock"]
    assert a["frameworks"] == ["flask"]
    assert a["test_framework_evidence"] == ["pytest is a dependency in Pipfile"]


# --- untrusted repositories: symlinks and special files ---------------------------------

SECRET = "tfactorysecretkey0c9e7b41"  # would parse as a requirement name if it were read
HOST_DOC = "HOST-ONLY-DOCSTRING-5e1b"


def outside_tree(tmp_path: Path) -> Path:
    """Host files outside the repository that a malicious repository links to."""
    out = tmp_path / "host"
    (out / "secret_dir").mkdir(parents=True)
    (out / "secret_key").write_text(SECRET + "\n")
    (out / "host_mod.py").write_text(f'"""{HOST_DOC}"""\n\ndef host_only():\n    pass\n')
    (out / "pyproject.toml").write_text(
        f'[project]\nname = "{SECRET}"\ndependencies = ["{SECRET}"]\n'
    )
    (out / "secret_dir" / "leaked_mod.py").write_text(f"# {SECRET}\nX = 1\n")
    (out / "secret_dir" / "requirements.txt").write_text(SECRET + "\n")
    (out / "secret_dir" / "test_leak.py").write_text(f"import pytest  # {SECRET}\n")
    return out


def link(repo: Path, rel: str, target: Path) -> None:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    # Relative, like a committed `requirements.txt -> ../../secret_key`.
    path.symlink_to(os.path.relpath(target, path.parent))


def hostile_repo(tmp_path: Path) -> tuple[Path, Path]:
    host = outside_tree(tmp_path)
    repo = make(
        tmp_path / "repo",
        {
            "pkg/__init__.py": "",
            "pkg/real.py": "def real():\n    return 1\n",
            "requirements-dev.txt": "pytest\n",
            "tests/test_real.py": "def test_real():\n    assert True\n",
        },
    )
    link(repo, "requirements.txt", host / "secret_key")
    link(repo, "pyproject.toml", host / "pyproject.toml")
    link(repo, "pkg/mod.py", host / "host_mod.py")
    link(repo, "tests/test_linked.py", host / "secret_key")
    link(repo, "src", host / "secret_dir")
    return repo, host


def assert_nothing_leaked(a: dict) -> None:
    text = json.dumps(a)
    assert SECRET not in text and HOST_DOC not in text and "leaked" not in text
    assert a["dependency_files"] == ["requirements-dev.txt"]
    assert a["declared_dependencies"] == ["pytest"]
    assert a["import_roots"] == ["."] and a["src_layout"] is False
    assert a["packages"] == ["pkg"]
    assert a["test_framework"] == "pytest"
    assert a["test_framework_evidence"] == ["pytest is a dependency in requirements-dev.txt"]
    assert "requirements.txt is a symlink; not read" in a["warnings"]
    assert "pyproject.toml is a symlink; not read" in a["warnings"]
    assert "tests/test_linked.py is a symlink; not read" in a["warnings"]


def test_committed_symlinks_are_never_followed(tmp_path):
    repo, _ = hostile_repo(tmp_path)
    commit_all(repo)
    a = analyse_project(repo)
    assert a["git_tracked"] is True
    assert_nothing_leaked(a)
    files, _ = list_files(repo)
    # The links' own names are listed (git tracks them); nothing behind them is.
    assert not [f for f in files if f.startswith("src/")]
    assert {"src", "requirements.txt", "pkg/mod.py"} <= set(files)


def test_walk_does_not_follow_symlinks(tmp_path):
    repo, _ = hostile_repo(tmp_path)
    a = analyse_project(repo)  # no .git: the walk is used
    assert a["git_tracked"] is False
    assert_nothing_leaked(a)
    files, _ = list_files(repo)
    assert not [f for f in files if f.startswith("src/")]
    assert "src" in files


def test_git_names_under_a_symlinked_folder_are_dropped(tmp_path):
    host = outside_tree(tmp_path)
    repo = make(tmp_path / "repo", {"src/app/__init__.py": "", "src/app/requirements.txt": ""})
    make(repo, {"requirements.txt": "attrs\n"})
    commit_all(repo)
    # The worktree no longer matches the index: src is now a link to a host folder.
    shutil.rmtree(repo / "src")
    link(repo, "src", host / "secret_dir")
    (host / "secret_dir" / "app").mkdir()
    (host / "secret_dir" / "app" / "__init__.py").write_text(f"# {SECRET}\n")
    files, from_git = list_files(repo)
    assert from_git and files == ["requirements.txt"]
    a = analyse_project(repo)
    assert SECRET not in json.dumps(a) and a["packages"] == []


def test_testpaths_through_a_symlink_or_outside_do_not_count(tmp_path):
    host = outside_tree(tmp_path)
    repo = make(
        tmp_path / "repo",
        {
            "pytest.ini": "[pytest]\ntestpaths = linked ../host /etc tests\n",
            "tests/test_a.py": "def test_a():\n    pass\n",
        },
    )
    link(repo, "linked", host / "secret_dir")
    assert analyse_project(repo)["test_dirs"] == ["tests"]


def run_with_timeout(fn, *args, timeout: float = 20.0):
    box: dict = {}

    def target() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # re-raised in the test's thread
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), f"{fn.__name__} hung"
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_fifos_do_not_hang_the_analysis(tmp_path):
    walked = make(tmp_path / "walked", {"app.py": "", "requirements-dev.txt": "pytest\n"})
    os.mkfifo(walked / "requirements.txt")
    os.mkfifo(walked / "setup.py")
    (walked / "tests").mkdir()
    os.mkfifo(walked / "tests" / "test_pipe.py")
    a = run_with_timeout(analyse_project, walked)
    assert a["dependency_files"] == ["requirements-dev.txt"]
    assert "requirements.txt is not a regular file; not read" in a["warnings"]
    assert "setup.py is not a regular file; not read" in a["warnings"]
    assert "tests/test_pipe.py is not a regular file; not read" in a["warnings"]

    # A tracked file replaced by a FIFO in the worktree.
    tracked = make(tmp_path / "tracked", {"pyproject.toml": "[project]\nname = 'x'\n", "m.py": ""})
    commit_all(tracked)
    (tracked / "pyproject.toml").unlink()
    os.mkfifo(tracked / "pyproject.toml")
    b = run_with_timeout(analyse_project, tracked)
    assert b["git_tracked"] is True and b["dependency_files"] == []
    assert b["warnings"] == ["pyproject.toml is not a regular file; not read"]
