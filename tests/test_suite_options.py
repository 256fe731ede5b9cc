"""The existing suite runs as the project runs it: its pytest configuration (addopts less
what would corrupt the measurement, testpaths), unittest's file names for a unittest-only
suite, and the settings module of a Django project."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents_app.spec.analysis import analyse_project
from agents_app.stages.execute import filter_addopts, suite_options


@pytest.mark.parametrize(
    "addopts, kept, dropped",
    [
        ("-ra --strict-markers", "-ra --strict-markers", []),
        ("--cov=pkg --cov-report term -n 4 -q", "-q",
         ["--cov=pkg", "--cov-report", "term", "-n", "4"]),
        ("-x --doctest-modules -p xdist --dist=loadfile", "--doctest-modules",
         ["-x", "-p", "xdist", "--dist=loadfile"]),
        ("-nauto --maxfail=2 --import-mode=importlib", "--import-mode=importlib",
         ["-nauto", "--maxfail=2"]),
        ("--cov --cov-fail-under 90 -p no:warnings", "-p no:warnings",
         ["--cov", "--cov-fail-under", "90"]),
        ("-p randomly --reruns 3 -vv", "-vv", ["-p", "randomly", "--reruns", "3"]),
    ],
)  # fmt: skip
def test_addopts_keep_what_the_project_means_and_drop_what_corrupts_the_measure(
    addopts, kept, dropped
):
    assert filter_addopts(addopts) == (kept, dropped)


def project(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_the_project_s_pytest_configuration_is_found_as_pytest_finds_it(tmp_path):
    root = project(
        tmp_path,
        {
            "pyproject.toml": "[tool.pytest.ini_options]\naddopts = ['-ra', '--cov=x']\n"
            "testpaths = ['testing']\n",
            "tox.ini": "[pytest]\naddopts = -q\n",  # pyproject comes first
            "testing/test_a.py": "def test_a():\n    pass\n",
            "x/__init__.py": "",
        },
    )
    analysis = analyse_project(root)
    assert analysis["pytest_ini"]["file"] == "pyproject.toml"
    assert analysis["test_dirs"] == ["testing"]
    options, env, dropped = suite_options(analysis)
    assert options == ["-o", "addopts=-ra"] and dropped == ["--cov=x"] and env == {}
    # pytest.ini wins over everything, even when it has no [pytest] options
    (root / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers\n")
    assert suite_options(analyse_project(root))[0] == ["-o", "addopts=--strict-markers"]


def test_a_unittest_only_suite_is_collected_by_unittest_s_file_names(tmp_path):
    root = project(
        tmp_path,
        {
            "setup.py": "from setuptools import setup\nsetup(name='u')\n",
            "u/__init__.py": "",
            "tests/testcore.py": "import unittest\n\n\nclass T(unittest.TestCase):\n"
            "    def test_x(self):\n        pass\n",
        },
    )
    analysis = analyse_project(root)
    assert analysis["test_framework"] == "unittest"
    options, _, _ = suite_options(analysis)
    assert options == [
        "-o", "python_files=test*.py *_test.py *_tests.py",
        "-o", "python_classes=", "-o", "python_functions=",
    ]  # fmt: skip


def test_a_django_app_runs_with_the_settings_module_its_test_runner_names(tmp_path):
    root = project(
        tmp_path,
        {
            "pyproject.toml": "[project]\nname='app'\ndependencies=['Django>=4.2']\n",
            "runtests.py": "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', "
            "'tests.settings')\n",
            "tests/settings.py": "SECRET_KEY = 'x'\n",
            "tests/test_views.py": "from django.test import TestCase\n",
        },
    )
    _, env, _ = suite_options(analyse_project(root))
    assert env == {"DJANGO_SETTINGS_MODULE": "tests.settings"}


def test_the_package_under_test_is_the_sub_project_that_owns_the_change(tmp_path):
    from agents_app.spec.analysis import package_root

    files = ["README.md", "libs/a/pyproject.toml", "libs/a/a/x.py", "libs/b/setup.py",
             "libs/b/b/y.py", "libs/b/tests/test_y.py", "tests/data/setup.py"]  # fmt: skip
    assert package_root(files, ["libs/b/b/y.py"]) == "libs/b"
    assert package_root(files, ["libs/a/a/x.py", "libs/b/b/y.py"]) == "."  # both: unknown
    assert package_root(["pyproject.toml", *files], ["libs/b/b/y.py"]) == "."  # a project
    root = project(
        tmp_path,
        {
            "libs/b/setup.py": "from setuptools import setup\nsetup(name='b')\n",
            "libs/b/pytest.ini": "[pytest]\naddopts = -ra --cov=b\n",
            "libs/b/b/__init__.py": "",
            "libs/b/tests/test_y.py": "def test_y():\n    pass\n",
        },
    )
    analysis = analyse_project(root, ["libs/b/b/__init__.py"])
    assert analysis["package_root"] == "libs/b" and analysis["test_dirs"] == ["libs/b/tests"]
    options, _, _ = suite_options(analysis)
    assert options == ["-c", "libs/b/pytest.ini", "--rootdir", ".", "-o", "addopts=-ra"]
