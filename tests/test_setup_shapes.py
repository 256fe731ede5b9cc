"""Real projects of every set-up shape, generated here and handed over through the command
line: each is set up with its real build backend from PyPI, and its own suite is
collected and run as the project would run it — so its 'before' figures are real."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks_app import services
from tests.projects import git, hand_over, make_project

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CORE_BASE = 'def greet(name):\n    """Greet someone."""\n    return "Hello " + name\n'
CORE_FEATURE = (
    'def greet(name, punctuation=""):\n'
    '    """Greet someone, with punctuation at the end if given."""\n'
    "    if not name:\n"
    '        raise ValueError("name is empty")\n'
    '    return f"Hello {name}{punctuation}"\n'
)
TEST_CORE = (
    "from greet.core import greet\n\n\n"
    "def test_greet():\n    assert greet('Ann') == 'Hello Ann'\n\n\n"
    "def test_greet_again():\n    assert greet('Bo') == 'Hello Bo'\n"
)
SPEC = (
    "# Punctuation\n\n## Acceptance Criteria\n\n"
    "### AC#1\n`greet('Ann', '!')` returns `'Hello Ann!'`.\n\n"
    "### AC#2\n`greet('')` raises ValueError.\n"
)
QUICK = ("--engine-budget", "5", "--no-mutation", "--lanes", "functional")


def shape(tmp_path: Path, files: dict[str, str], pkg: str = "greet", tag: str | None = None):
    """A project whose feature branch changes `greet`, handed over; (exit, report, setup)."""
    base = {**files, f"{pkg}/core.py": CORE_BASE, f"{pkg}/__init__.py": files.get(
        f"{pkg}/__init__.py", "")}  # fmt: skip
    repo = make_project(tmp_path, base, {f"{pkg}/core.py": CORE_FEATURE})
    if tag:
        git(repo, "tag", tag, "main")
    status, report, out = hand_over(repo, SPEC, *QUICK)
    return status, report, analysis_of(report).get("setup") or {}, out


def analysis_of(report: dict) -> dict:
    task = services.get_task(report["task_id"])
    return json.loads((Path(task.workspace) / "context" / "project_analysis.json").read_text())


def events_of(report: dict) -> str:
    page = services.task_events(report["task_id"], limit=500)
    return "\n".join(e["message"] for e in page["events"])


def assert_suite_ran(report: dict, collected: int, out: str) -> None:
    base = report["baseline"]
    assert base["status"] == "ok", (base, out[-3000:])
    assert base["collected"] == collected and base["passed"] == collected, base
    before = report["coverage"]["before"]["line_pct"]
    assert before is not None and before > 0, report["coverage"]


def test_setup_py_with_setuptools_scm_and_a_version_module_written_at_build(tmp_path):
    status, report, setup, out = shape(
        tmp_path,
        {
            "setup.py": (
                "from setuptools import setup\n"
                "setup(name='greet', packages=['greet'], use_scm_version={'write_to': "
                "'greet/_version.py'}, setup_requires=['setuptools_scm'],\n"
                "      tests_require=['pytest-mock'])\n"
            ),
            "pyproject.toml": '[build-system]\nrequires = ["setuptools>=64", "setuptools-scm>=8"]\n'
            'build-backend = "setuptools.build_meta"\n',
            "greet/__init__.py": "from greet._version import version as __version__\n",
            ".gitignore": "greet/_version.py\n",
            "tests/test_core.py": TEST_CORE + "\n\ndef test_version():\n    import greet\n"
            "    assert greet.__version__ == '3.1.0'\n",
        },
        tag="v3.1.0",
    )
    assert status == 0, out
    assert_suite_ran(report, 3, out)
    assert setup["version"] == "3.1.0" and setup["plan"]["project"]["scm"] == "setuptools-scm"
    assert any("setup.py tests_require" in s for s in setup["installed_from"])


def test_hatch_vcs_with_a_src_layout(tmp_path):
    files = {
        "pyproject.toml": (
            '[build-system]\nrequires = ["hatchling", "hatch-vcs"]\n'
            'build-backend = "hatchling.build"\n'
            '[project]\nname = "greet"\ndynamic = ["version"]\n'
            '[tool.hatch.version]\nsource = "vcs"\n'
            '[tool.hatch.build.hooks.vcs]\nversion-file = "src/greet/_version.py"\n'
            '[dependency-groups]\ntests = ["pytest", "pytest-mock"]\n'
            '[tool.pytest.ini_options]\naddopts = "--cov=greet -ra"\n'
        ),
        "src/greet/__init__.py": "from greet._version import __version__\n",
        "src/greet/core.py": CORE_BASE,
        "tests/test_core.py": TEST_CORE,
    }
    repo = make_project(tmp_path, files, {"src/greet/core.py": CORE_FEATURE})
    git(repo, "tag", "1.2.0", "main")
    status, report, out = hand_over(repo, SPEC, *QUICK)
    assert status == 0, out
    assert_suite_ran(report, 2, out)
    analysis = analysis_of(report)
    assert analysis["src_layout"] and analysis["setup"]["plan"]["project"]["scm"] == "hatch-vcs"
    assert analysis["setup"]["version"] == "1.2.0"
    # the project's addopts ran, less the coverage plugin that would corrupt the measure
    assert "the project's pytest addopts without --cov=greet" in events_of(report)


def test_flit_with_tox_deps(tmp_path):
    status, report, setup, out = shape(
        tmp_path,
        {
            "pyproject.toml": (
                '[build-system]\nrequires = ["flit_core>=3.4"]\n'
                'build-backend = "flit_core.buildapi"\n'
                '[project]\nname = "greet"\ndynamic = ["version", "description"]\n'
            ),
            "greet/__init__.py": '"""Greetings."""\n__version__ = "0.3"\n',
            "tox.ini": "[tox]\nenvlist = py\n[testenv]\ndeps =\n    pytest\n    pytest-mock\n"
            "commands = pytest\n",
            "tests/test_core.py": TEST_CORE,
        },
    )
    assert status == 0, out
    assert_suite_ran(report, 2, out)
    assert any("tox.ini [testenv]" in s for s in setup["installed_from"])
    assert any("(editable)" in s for s in setup["installed_from"])


def test_poetry_with_a_test_group(tmp_path):
    status, report, setup, out = shape(
        tmp_path,
        {
            "pyproject.toml": (
                '[tool.poetry]\nname = "greet"\nversion = "0.1.0"\ndescription = ""\n'
                'authors = ["A <a@example.com>"]\n'
                '[tool.poetry.dependencies]\npython = ">=3.9"\n'
                '[tool.poetry.group.test.dependencies]\npytest = ">=7"\npytest-mock = "*"\n'
                '[build-system]\nrequires = ["poetry-core>=1.0.0"]\n'
                'build-backend = "poetry.core.masonry.api"\n'
            ),
            "tests/test_core.py": TEST_CORE,
            # a suite that rewrites a fixture file of the repository, as tomlkit's does
            "tests/fixture.toml": "a = 1\n",
            "tests/test_rewrite.py": (
                "from pathlib import Path\n\n\ndef test_rewrite():\n"
                "    f = Path(__file__).with_name('fixture.toml')\n"
                "    f.write_text(f.read_text())\n"
            ),
        },
    )
    assert status == 0, out
    assert_suite_ran(report, 3, out)
    assert any("tool.poetry.group.test" in s for s in setup["installed_from"])


def test_pdm_with_its_own_dev_groups(tmp_path):
    status, report, setup, out = shape(
        tmp_path,
        {
            "pyproject.toml": (
                '[build-system]\nrequires = ["pdm-backend"]\nbuild-backend = "pdm.backend"\n'
                '[project]\nname = "greet"\nversion = "0.1.0"\nrequires-python = ">=3.9"\n'
                '[tool.pdm.dev-dependencies]\ntest = ["pytest", "pytest-mock"]\n'
                '[tool.pytest.ini_options]\ntestpaths = ["checks"]\n'
            ),
            "checks/test_core.py": TEST_CORE,
        },
    )
    assert status == 0, out
    assert_suite_ran(report, 2, out)
    assert setup["plan"]["requires_python"] == ">=3.9"


def test_a_django_app_tested_with_pytest_django(tmp_path):
    status, report, setup, out = shape(
        tmp_path,
        {
            "pyproject.toml": (
                '[build-system]\nrequires = ["setuptools>=64"]\n'
                'build-backend = "setuptools.build_meta"\n'
                '[project]\nname = "greet"\nversion = "1.0"\ndependencies = ["Django>=4.2"]\n'
                '[project.optional-dependencies]\ntest = ["pytest", "pytest-django"]\n'
                '[tool.setuptools]\npackages = ["greet"]\n'
                '[tool.pytest.ini_options]\nDJANGO_SETTINGS_MODULE = "tests.settings"\n'
            ),
            "tests/__init__.py": "",
            "tests/settings.py": (
                "SECRET_KEY = 'not-secret'\nINSTALLED_APPS = ['django.contrib.contenttypes']\n"
                "DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', "
                "'NAME': ':memory:'}}\nUSE_TZ = True\n"
            ),
            "tests/test_core.py": (
                "from django.conf import settings\nfrom django.test import SimpleTestCase\n\n"
                "from greet.core import greet\n\n\n"
                "class GreetTests(SimpleTestCase):\n"
                "    def test_greet(self):\n        self.assertEqual(greet('Ann'), 'Hello Ann')\n\n"
                "    def test_settings(self):\n        self.assertTrue(settings.USE_TZ)\n"
            ),
        },
    )
    assert status == 0, out
    assert_suite_ran(report, 2, out)
    assert any("extras test" in s for s in setup["installed_from"])


def test_a_unittest_only_suite_named_the_unittest_way(tmp_path):
    status, report, setup, out = shape(
        tmp_path,
        {
            "setup.py": "from setuptools import setup\nsetup(name='greet', packages=['greet'])\n",
            "tests/__init__.py": "",
            "tests/testcore.py": (
                # as Markdown's suite does: warnings are errors, and a helper class named
                # like a test has an __init__ (unittest never collects it; pytest would)
                "import unittest\nimport warnings\n\nfrom greet.core import greet\n\n"
                "warnings.simplefilter('error')\n\n\n"
                "class TestSuite:\n    def __init__(self, name):\n        self.name = name\n\n\n"
                "class GreetTests(unittest.TestCase):\n"
                "    def test_greet(self):\n        self.assertEqual(greet('Ann'), 'Hello Ann')\n\n"
                "    def test_greet_b(self):\n        self.assertEqual(greet('B'), 'Hello B')\n"
            ),
        },
    )
    assert status == 0, out
    assert_suite_ran(report, 2, out)


def test_a_package_in_a_subfolder_of_a_monorepo(tmp_path):
    sub = "packages/greet"
    files = {
        "README.md": "# monorepo\n",
        "docs/index.md": "# docs\n",
        # another sub-project the change does not touch
        "packages/other/pyproject.toml": '[project]\nname = "other"\nversion = "1"\n',
        f"{sub}/pyproject.toml": (
            '[build-system]\nrequires = ["setuptools>=64"]\n'
            'build-backend = "setuptools.build_meta"\n'
            '[project]\nname = "greet"\nversion = "1.0"\n'
            '[dependency-groups]\ntest = ["pytest", "pytest-mock"]\n'
            # only this package's own configuration collects its `check_` functions
            '[tool.pytest.ini_options]\npython_functions = ["check_*"]\n'
        ),
        f"{sub}/greet/__init__.py": "",
        f"{sub}/greet/core.py": CORE_BASE,
        f"{sub}/tests/test_core.py": (
            "from greet.core import greet\n\n\n"
            "def check_greet(mocker):\n    assert greet('Ann') == 'Hello Ann'\n"
        ),
    }
    repo = make_project(tmp_path, files, {f"{sub}/greet/core.py": CORE_FEATURE})
    status, report, out = hand_over(repo, SPEC, *QUICK)
    assert status == 0, out
    assert_suite_ran(report, 1, out)
    analysis = analysis_of(report)
    assert analysis["package_root"] == sub
    assert analysis["import_roots"] == [sub] and analysis["test_dirs"] == [f"{sub}/tests"]
    assert any("dependency-groups" in s for s in analysis["setup"]["installed_from"])


def test_a_suite_that_imports_what_only_another_group_declares_gets_that_group(tmp_path):
    # git-changelog's tests import mkdocstrings, which only its docs group declares
    status, report, setup, out = shape(
        tmp_path,
        {
            "pyproject.toml": (
                '[build-system]\nrequires = ["setuptools>=64"]\n'
                'build-backend = "setuptools.build_meta"\n'
                '[project]\nname = "greet"\nversion = "1.0"\n'
                '[tool.setuptools]\npackages = ["greet"]\n'
                '[dependency-groups]\ntest = ["pytest"]\ndocs = ["tomli-w"]\n'
            ),
            "tests/test_core.py": "import tomli_w\n\n" + TEST_CORE,
        },
    )
    assert status == 0, out
    assert_suite_ran(report, 2, out)
    assert any(
        "dependencies the suite imports from pyproject.toml [dependency-groups] docs" in s
        for s in setup["installed_from"]
    ), setup
    assert "the suite imports tomli_w, which only pyproject.toml [dependency-groups] docs" in (
        events_of(report)
    )
