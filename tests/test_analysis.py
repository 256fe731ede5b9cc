"""Project analysis (agents_app.analysis)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from agents_app.analysis import analyse_project

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
