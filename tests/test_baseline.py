"""Baseline honesty: the existing suite's state on the feature branch is reported as it
is — ok, failing (with the failing tests' names) or broken (with the first error) — and a
suite that could not run, or a project that could not be set up, never reads as 0%."""

from __future__ import annotations

import pytest

from tasks_app import services
from tests.projects import hand_over, make_project


def report_md(report: dict) -> str:
    return services.read_report(report["task_id"], "md")


pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BASE = {
    "calc/__init__.py": "",
    "calc/ops.py": 'def add(a, b):\n    """Sum."""\n    return a + b\n',
    "tests/__init__.py": "",
    "tests/test_ops.py": (
        "from calc.ops import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
    ),
}
FEATURE = {
    "calc/ops.py": (
        'def add(a, b):\n    """Sum."""\n    return a + b\n\n\n'
        "def mul(a, b):\n    if a == 0:\n        return 0\n    return a * b\n"
    )
}
SPEC = "# Multiply\n\n## Acceptance Criteria\n\n### AC#1\n`mul(2, 3)` returns 6.\n"
QUICK = ("--engine-budget", "5", "--mutation-budget", "120", "--lanes", "functional,mutation")


def test_a_suite_that_cannot_be_collected_is_broken_and_its_before_figures_unknown(tmp_path):
    repo = make_project(
        tmp_path, {**BASE, "tests/conftest.py": "import not_a_module_anywhere  # noqa\n"}, FEATURE
    )
    status, report, out = hand_over(repo, SPEC, *QUICK)
    assert status == 3, out
    base = report["baseline"]
    assert base["status"] == "broken" and base["collected"] == 0
    assert "No module named 'not_a_module_anywhere'" in base["first_error"]
    assert report["coverage"]["before"]["line_pct"] is None
    assert "could not be run" in report["coverage"]["before"]["unknown"]
    assert report["lanes"]["functional"]["status"] == "degraded"
    if report["mutation"]:
        assert report["mutation"]["before"]["score"] is None
    assert "could not be run on the feature branch" in report_md(report)
    assert "could not be run on the feature branch" in out
    assert "changed-line coverage: unknown ->" in out


def test_a_failing_suite_is_reported_with_the_failing_tests_and_real_figures(tmp_path):
    failing = "def test_wrong():\n    assert 1 + 1 == 3\n"
    repo = make_project(tmp_path, {**BASE, "tests/test_wrong.py": failing}, FEATURE)
    status, report, out = hand_over(repo, SPEC, *QUICK)
    assert status == 0, out
    base = report["baseline"]
    assert base["status"] == "failing"
    assert base["failing_tests"] == ["tests/test_wrong.py::test_wrong"]
    assert (base["collected"], base["passed"], base["failed"]) == (2, 1, 1)
    assert isinstance(report["coverage"]["before"]["line_pct"], float)
    assert report["lanes"]["functional"]["status"] == "done"


def test_a_dependency_that_does_not_exist_is_a_setup_failure_naming_it(tmp_path):
    repo = make_project(
        tmp_path,
        {**BASE, "requirements.txt": "tfactory-no-such-package-anywhere==0.0.1\n"},
        FEATURE,
    )
    status, report, out = hand_over(repo, SPEC, "--engine-budget", "5")
    assert status == 3, out
    assert report["status"] == "done"
    setup = report["setup"]
    assert setup["status"] == "failed"
    assert setup["package"].startswith("tfactory-no-such-package-anywhere")
    assert "no release on the package index" in setup["reason"]
    assert report["baseline"]["status"] == "broken"
    assert report["coverage"]["before"]["line_pct"] is None
    assert report["coverage"]["after"]["line_pct"] is None
    assert report["lanes"]["functional"]["status"] == "degraded"
    assert report["lanes"]["mutation"]["status"] == "skipped"
    # the security lanes need nothing of the project and still ran
    assert report["lanes"]["sast"]["status"] in ("done", "degraded")
    assert "could not be set up" in out
    assert "tfactory-no-such-package-anywhere" in report_md(report)
