"""`.tfactory.yml`, the escape hatch when detection is wrong: validated in one sentence
that names the key (and nothing is created), then laid over what TFactory detects."""

from __future__ import annotations

import pytest

from agents_app.spec.config import ConfigError, lane_options, parse
from tasks_app import services
from tasks_app.models import Task
from tests.projects import hand_over, make_project
from tests.test_setup_shapes import CORE_BASE, CORE_FEATURE, SPEC, analysis_of

GOOD = """
version: 1
setup:
  python: "3.11"
  install: ["-e .", "-r ci/test.txt"]
  packages: [pytest-mock]
tests:
  paths: [qa]
  args: ["-o", "python_files=checks_*.py"]
  env: {GREETING: Hello}
  pass_env: [DATABASE_URL]
lanes:
  mutation: false
  functional: {engine_budget_s: 30}
"""


def test_a_good_file_is_read_with_its_lanes_as_handover_options():
    data = parse(GOOD)
    assert data["tests"]["paths"] == ["qa"]
    assert lane_options(data) == {"mutation": False, "engine_budget_s": 30}
    assert parse("version: 1\n") == {"version": 1}


@pytest.mark.parametrize(
    "text, sentence",
    [
        ("version: 2\n", ".tfactory.yml: version must be 1"),
        ("setup: {}\n", ".tfactory.yml: 'version' is required"),
        ("version: 1\ntest: {paths: [x]}\n", "unknown key test; allowed here: app, lanes,"),
        ("version: 1\ntests: {path: [x]}\n", "unknown key tests.path; allowed here: args, env,"),
        ("version: 1\nlanes: {fuzz: true}\n", "unknown key lanes.fuzz"),
        ("version: 1\nlanes: {mutation: yes-please}\n", "lanes.mutation must be true, false"),
        ("version: 1\nsetup: {python: '3'}\n", "setup.python: '3' does not match"),
        ("version: 1\ntests: {env: {API_TOKEN: abc}}\n", "tests.env.API_TOKEN looks like a secret"),
        (
            "version: 1\ntests: {env: {X: ghp_Ab3dEf6hIj9lMn2pQr5tAb3dEf6hIj9lMn2p}}\n",
            "tests.env.X holds what looks like a token",
        ),
        (
            "version: 1\nsetup: {install: ['--index-url https://evil.example/simple x']}\n",
            "pip option --index-url is not allowed",
        ),
        ("version: 1\ntests: [\n", ".tfactory.yml is not valid YAML (line"),
    ],
)
def test_a_wrong_file_is_one_sentence_naming_the_key(text, sentence):
    with pytest.raises(ConfigError) as info:
        parse(text)
    message = str(info.value)
    assert sentence in message and "\n" not in message.strip(), message


@pytest.mark.django_db
def test_a_branch_with_a_wrong_file_is_refused_and_nothing_is_created(tmp_path):
    repo = make_project(
        tmp_path,
        {"greet/__init__.py": "", "greet/core.py": CORE_BASE},
        {"greet/core.py": CORE_FEATURE, ".tfactory.yml": "version: 1\ntests: {path: [qa]}\n"},
    )
    services.create_project("proj", repo)
    handover = {"project_id": "proj", "spec_id": "s1", "branch": "feature/x", "spec_text": SPEC}
    with pytest.raises(services.HandoverError) as info:
        services.start_task(handover, enqueue=False)
    assert info.value.field == "config" and "unknown key tests.path" in str(info.value)
    assert Task.objects.count() == 0
    with pytest.raises(services.HandoverError, match="unknown key tests.path"):
        services.preview_task(handover)


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_the_file_sets_up_and_runs_a_suite_detection_would_miss(tmp_path):
    checks = (
        "import os\n\nfrom greet.core import greet\n\n\n"
        "def test_greet(mocker):\n    assert greet('Ann') == os.environ['GREETING'] + ' Ann'\n\n\n"
        "def test_greet_b():\n    assert greet('B') == 'Hello B'\n"
    )
    repo = make_project(
        tmp_path,
        {
            "greet/__init__.py": "",
            "greet/core.py": CORE_BASE,
            # no packaging, no test folder pytest would look in, a fixture from a plugin
            "qa/checks_core.py": checks,
            ".tfactory.yml": (
                "version: 1\nsetup: {packages: [pytest-mock]}\n"
                "tests: {paths: [qa], args: ['-o', 'python_files=checks_*.py'], "
                "env: {GREETING: Hello}}\nlanes: {mutation: false}\n"
            ),
        },
        {"greet/core.py": CORE_FEATURE},
    )
    status, report, out = hand_over(
        repo, SPEC, "--engine-budget", "5", "--lanes", "functional,mutation"
    )
    assert status == 0, out
    base = report["baseline"]
    assert (base["status"], base["collected"], base["passed"]) == ("ok", 2, 2), base
    assert report["lanes"]["mutation"]["status"] == "skipped"
    analysis = analysis_of(report)
    assert analysis["config"]["tests"]["paths"] == ["qa"]
    assert any("setup.packages" in s for s in analysis["setup"]["installed_from"])
