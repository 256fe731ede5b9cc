"""The evaluator's verdicts on planted tests, run for real in the sandbox, and the
report contract that every interface reads."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from agents_app.lanes.functional.engines import repair
from agents_app.models import GeneratedTest
from agents_app.pipeline import runner
from tasks_app import services
from tasks_app.models import Task
from tests.conftest import start_example_task, stryker_schema

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SEEDS = ("1000", "1001", "1002")  # the hash seeds of the three candidate runs


def _parity_word() -> tuple[str, int]:
    """A word whose hash parity under seed 1000 differs from another run's seed."""
    for i in range(100):
        word = f"tfactory-{i}"
        parities = [
            int(
                subprocess.run(
                    [sys.executable, "-c", f"print(hash({word!r}) % 2)"],
                    env={"PYTHONHASHSEED": seed},
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            for seed in SEEDS
        ]
        if len(set(parities)) > 1:
            return word, parities[0]
    raise AssertionError("no word found")


def planted_source() -> str:
    word, parity = _parity_word()
    return f"""\
import time

import pytest

from billable.discounts import DiscountError, normalize_code
from billable.money import percent_of

_state = []


def test_too_short():
    with pytest.raises(DiscountError, match="4 to 16"):
        normalize_code("ab")


def test_too_short_again():
    with pytest.raises(DiscountError):
        normalize_code("xy")


def test_invalid_characters():
    with pytest.raises(DiscountError, match="invalid characters"):
        normalize_code("ab$cd")


def test_wrong_expectation():
    assert normalize_code("abcd") == "abcd"


def test_wrong_length():
    assert len(normalize_code("abcd")) == 5


def test_did_not_raise():
    with pytest.raises(DiscountError):
        normalize_code("abcd")


def test_broken():
    assert normalize_code(None) == "x"


def test_checks_nothing():
    normalize_code("abcd")


def test_trivial():
    # covers the changed lines and asserts, but nothing a mutant changes can fail it
    try:
        normalize_code("abcd")
    except Exception:
        pass
    assert True


def test_order_first():
    _state.append(1)
    assert normalize_code("wxyz") == "WXYZ"


def test_order_second():
    assert _state, "needs test_order_first to run before it"


def test_hash_seed():
    assert hash({word!r}) % 2 == {parity}


def test_only_old_code():
    assert percent_of(1000, 1000) == 100


def test_slow():
    time.sleep(60)
    assert True
"""


@pytest.fixture
def evaluated(example, settings) -> Task:
    """Plan for real, plant candidates instead of engine output, run and evaluate."""
    settings.TFACTORY_TEST_TIMEOUT_S = 3
    task = _planned(example)
    _plant(task, planted_source())
    runner.run_to_end(task.pk)
    task.refresh_from_db()
    return task


def verdict(task: Task, name: str) -> GeneratedTest:
    return GeneratedTest.objects.get(task=task, name=name)


def test_verdicts_on_planted_tests(evaluated):
    task = evaluated
    assert task.status == Task.Status.DONE, task.error

    # two tests covering the same lines: exactly one is kept, the other is redundant
    pair = [verdict(task, "test_too_short"), verdict(task, "test_too_short_again")]
    kept = next(t for t in pair if t.verdict == "accept")
    dup = next(t for t in pair if t is not kept)
    assert kept.runs_passed == 3 and kept.lines_added > 0
    assert "passed 3/3 runs" in kept.reasons[0]
    assert kept.target == "src/billable/discounts.py::normalize_code"
    assert "AC1" in kept.criterion_ids
    assert dup.verdict == "reject"
    assert "redundant" in dup.reasons[-1] and kept.name in dup.reasons[-1]

    assert verdict(task, "test_invalid_characters").verdict == "accept"

    bug = verdict(task, "test_wrong_expectation")
    assert bug.verdict == "flag"
    assert bug.runs_failed == 3
    assert "possible bug" in bug.reasons[0]
    assert "AssertionError" in bug.reasons[1]

    # pytest shortens "assert 4 == 5"; an int mismatch and a missing exception are
    # assertion failures too
    for name in ("test_wrong_length", "test_did_not_raise"):
        t = verdict(task, name)
        assert t.verdict == "flag", (name, t.reasons)

    broken = verdict(task, "test_broken")
    assert broken.verdict == "reject"
    assert "AttributeError" in broken.reasons[0] and "broken" in broken.reasons[0]

    nothing = verdict(task, "test_checks_nothing")
    assert nothing.verdict == "reject" and "checks nothing" in nothing.reasons[-1]

    for name in ("test_order_second", "test_hash_seed"):
        flaky = verdict(task, name)
        assert flaky.verdict == "reject", (name, flaky.reasons)
        assert flaky.reasons[0].startswith("flaky:"), flaky.reasons
        assert 0 < flaky.runs_passed < 3

    slow = verdict(task, "test_slow")
    assert slow.verdict == "reject" and "time limit" in slow.reasons[0]

    # the mutation gate: covering changed lines is not enough, a kept test must kill a
    # mutant of them that the existing suite lets survive
    trivial = verdict(task, "test_trivial")
    assert trivial.verdict == "reject", trivial.reasons
    assert trivial.reasons[-1].startswith("trivial: kills none of the"), trivial.reasons
    # what it kills (mutants that break the module's import) the existing suite kills too
    assert isinstance(trivial.mutants_killed, int)
    strong = verdict(task, "test_invalid_characters")
    assert strong.mutants_killed > 0
    assert "mutant(s) the existing suite lets survive" in strong.reasons[-1], strong.reasons

    old = verdict(task, "test_only_old_code")
    assert old.verdict == "reject"
    assert old.reasons[-1].startswith("trivial:"), old.reasons

    # the accepted tests are written out, ready to commit, and still pass on their own
    accepted = Path(task.workspace) / "tests" / "functional" / "accepted" / "test_planted.py"
    names = [n for n, _ in repair.test_functions(accepted.read_text())]
    assert set(names) == set(
        GeneratedTest.objects.filter(task=task, verdict="accept").values_list("name", flat=True)
    )


ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def test_the_report_honours_the_contract(evaluated):
    task = evaluated
    ws = Path(task.workspace)
    report = json.loads((ws / "report.json").read_text())
    for key in (
        "task_id project_id spec_id branch base_ref head_sha status mode started_at "
        "finished_at duration_s error lanes criteria tests coverage mutation findings usage "
        "sandbox"
    ).split():
        assert key in report, key
    assert report["task_id"] == task.pk
    assert report["status"] == "done" and report["error"] is None
    assert report["mode"] == "offline"
    assert ISO.match(report["started_at"]) and ISO.match(report["finished_at"])
    assert isinstance(report["duration_s"], float) and report["duration_s"] > 0
    lane = report["lanes"]["functional"]
    assert lane["status"] == "done"
    for key in ("started_at", "finished_at", "duration_s", "summary"):
        assert key in lane
    assert report["findings"] == []
    mut = report["mutation"]
    assert report["lanes"]["mutation"]["status"] == "done"
    assert mut["mutants"] > 0 and mut["tested"] > 0
    for side in ("before", "after"):
        assert set(mut[side]) >= {"killed", "survived", "no_coverage", "timeout", "score"}
        assert 0.0 <= mut[side]["score"] <= 100.0
    assert mut["after"]["score"] > mut["before"]["score"]
    assert mut["report"] == "findings/mutation.json"
    assert mut["survivors_total"] == mut["after"]["survived"] + mut["after"]["no_coverage"]
    for m in mut["survivors"]:
        assert m["snippet"].startswith("- ") and "\n+ " in m["snippet"]
        assert (ws / "context" / "diff.patch").read_text().count(m["file"]) > 0
    stryker = json.loads((ws / mut["report"]).read_text())
    jsonschema.validate(stryker, stryker_schema())
    kept = {t["test_id"] for t in report["tests"] if t["verdict"] == "accept"}
    killers = {k for f in stryker["files"].values() for m in f["mutants"] for k in m["killedBy"]}
    assert kept <= killers | {None}  # every kept test kills something
    assert not any(k.startswith("tfactory_candidates") for k in killers)
    assert set(report["usage"]) >= {"input_tokens", "output_tokens", "cost_usd", "budget_usd"}
    assert report["sandbox"]["backend"] in ("docker", "bwrap")
    if report["sandbox"]["backend"] == "docker":
        assert report["sandbox"]["image"].startswith("tfactory-runner-python:")
    assert "limits" in report["sandbox"]

    for t in report["tests"]:
        assert set(t) >= {
            "test_id",
            "file",
            "lane",
            "engine",
            "target",
            "criterion",
            "verdict",
            "reasons",
            "runs",
            "lines_added",
            "mutants_killed",
        }
        assert t["verdict"] in ("accept", "reject", "flag")
        assert t["reasons"] and all(isinstance(r, str) for r in t["reasons"])
        assert set(t["runs"]) == {"passed", "failed"}
        assert isinstance(t["lines_added"], int)
        if t["runs"]["passed"] == 3 and "checks nothing" not in t["reasons"][-1]:
            assert isinstance(t["mutants_killed"], int), t
        elif t["runs"]["passed"] == 0:
            assert t["mutants_killed"] is None
        assert (ws / t["file"]).is_file()

    statuses = {c["id"]: c["status"] for c in report["criteria"]}
    assert set(statuses.values()) <= {"verified", "flagged", "unverified", "unverifiable"}
    assert statuses["AC1"] == "flagged"  # test_wrong_expectation exercises normalize_code
    for c in report["criteria"]:
        assert set(c) >= {"id", "text", "tests", "status"}

    cov = report["coverage"]
    assert cov["changed_lines"] > 0 and cov["changed_branches"] > 0
    for side in ("before", "after"):
        for k in ("line_pct", "branch_pct"):
            assert 0.0 <= cov[side][k] <= 100.0
    assert cov["after"]["line_pct"] > cov["before"]["line_pct"]

    md = (ws / "report.md").read_text()
    assert "## Possible bugs" in md and "test_wrong_expectation" in md
    assert "### Accepted tests" in md and "test_invalid_characters" in md
    assert "Changed-line coverage" in md
    assert "Mutation score on the changed lines" in md
    assert "### Surviving mutants" in md and "```diff" in md


def test_the_mutation_lane_reruns_alone(evaluated):
    task = evaluated
    before = dict(GeneratedTest.objects.filter(task=task).values_list("test_id", "id"))
    first = json.loads((Path(task.workspace) / "report.json").read_text())["mutation"]
    services.rerun_lane(task.pk, "mutation", enqueue=False)
    task.refresh_from_db()
    assert task.queued_stage == "running"
    assert task.lanes["mutation"]["status"] == "pending"
    runner.run_to_end(task.pk)
    task.refresh_from_db()
    assert task.status == Task.Status.DONE, task.error
    # the same candidates (no new generation), a new kill matrix with the same figures
    assert dict(GeneratedTest.objects.filter(task=task).values_list("test_id", "id")) == before
    again = json.loads((Path(task.workspace) / "report.json").read_text())["mutation"]
    assert task.lanes["mutation"]["status"] == "done"
    assert (again["mutants"], again["before"], again["after"]) == (
        first["mutants"],
        first["before"],
        first["after"],
    )


def _plant(task: Task, source: str) -> None:
    rel = "tests/functional/test_planted.py"
    (Path(task.workspace) / rel).write_text(source)
    GeneratedTest.objects.bulk_create(
        GeneratedTest(
            task=task, test_id=f"{rel}::{name}", lane="functional", engine="planted",
            file=rel, name=name, code=code,
        )
        for name, code in repair.test_functions(source)
    )  # fmt: skip
    Task.objects.filter(pk=task.pk).update(queued_stage="running")


def _planned(example: dict) -> Task:
    task = start_example_task(example)
    assert runner.run_stage(task.pk, "planning") == "generating"
    task.refresh_from_db()
    return task


def test_a_symlink_planted_by_a_test_is_not_followed_by_the_host(example, monkeypatch):
    """A candidate turns its run's results file into a link to the host's environment."""
    monkeypatch.setenv("TFACTORY_TEST_SECRET_TOKEN", "ghp_plantedsecretvalue1234567890abcd")
    task = _planned(example)
    _plant(
        task,
        """\
import os


def test_plants_a_link():
    path = os.environ["TFACTORY_RESULTS"]
    os.symlink("/proc/self/environ", path)
    assert True
""",
    )
    runner.run_to_end(task.pk)
    task.refresh_from_db()
    assert task.status == Task.Status.DONE, task.error
    runs = Path(task.workspace) / "runs"
    text = "".join(p.read_text() for p in runs.glob("*.json"))
    assert "plantedsecretvalue" not in text
    assert "could not be read" in text
    t = GeneratedTest.objects.get(task=task)
    assert t.verdict == "reject"


def test_a_project_that_runs_pytest_cov_still_gets_per_test_coverage(example):
    """addopts = --cov with pytest-cov installed must not take coverage away from us."""
    repo = Path(example["repo"])
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", example["branch"]], check=True)
    pyproject = repo / "pyproject.toml"
    text = pyproject.read_text()
    text = re.sub(r"(test\s*=\s*\[)", r'\1"pytest-cov", ', text, count=1)
    text = re.sub(r'addopts = "([^"]*)"', r'addopts = "\1 --cov=billable"', text)
    assert "pytest-cov" in text and "--cov=billable" in text
    pyproject.write_text(text)
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam",
         "coverage in CI"],
        check=True,
    )  # fmt: skip
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", "main"], check=True)
    task = _planned(example)
    _plant(
        task,
        """\
import pytest

from billable.discounts import DiscountError, normalize_code


def test_too_short():
    with pytest.raises(DiscountError):
        normalize_code("ab")
""",
    )
    runner.run_to_end(task.pk)
    task.refresh_from_db()
    assert task.status == Task.Status.DONE, task.error
    t = GeneratedTest.objects.get(task=task)
    assert t.verdict == "accept", t.reasons
    assert t.lines_added > 0


LIMIT_TESTS = """\
import os
import time

import pytest

from billable.discounts import DiscountError, normalize_code


def test_good():
    with pytest.raises(DiscountError):
        normalize_code("ab")


def test_memory_hog():
    hog = bytearray(3 * 1024**3)
    assert hog


def test_fork_bomb():
    children = []
    for _ in range(5000):
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        children.append(pid)
    assert children


def test_kills_its_process():
    os.kill(os.getpid(), 9)
"""


@pytest.mark.parametrize("backend", ["docker", "bwrap"])
def test_a_test_that_hits_a_limit_is_marked_and_the_task_goes_on(example, settings, backend):
    from agents_app.sandbox.docker import docker_problem

    if backend == "docker" and (problem := docker_problem()):
        pytest.skip(f"no Docker daemon: {problem}")
    settings.TFACTORY_SANDBOX = backend
    settings.TFACTORY_SANDBOX_MEMORY_MB = 1024
    settings.TFACTORY_SANDBOX_PIDS = 128
    task = _planned(example)
    _plant(task, LIMIT_TESTS)
    runner.run_to_end(task.pk)
    task.refresh_from_db()
    assert task.status == Task.Status.DONE, task.error
    reasons = {
        t.name: (t.verdict, " ".join(t.reasons)) for t in GeneratedTest.objects.filter(task=task)
    }
    assert reasons["test_good"][0] == "accept", reasons
    assert reasons["test_memory_hog"][0] == "reject"
    assert "memory limit" in reasons["test_memory_hog"][1], reasons
    assert reasons["test_fork_bomb"][0] == "reject"
    assert "process limit" in reasons["test_fork_bomb"][1], reasons
    assert reasons["test_kills_its_process"][0] == "reject"
    assert "took the test process down" in reasons["test_kills_its_process"][1], reasons


def test_with_no_passing_test_every_mutant_is_no_coverage(example):
    """No existing suite and no green candidate: the lane reports NoCoverage for every
    mutant without starting a test process (pytest on no paths would collect anything)."""
    repo = Path(example["repo"])
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", example["branch"]], check=True)
    subprocess.run(["git", "-C", str(repo), "rm", "-rq", "tests"], check=True)
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm",
         "no tests"],
        check=True,
    )  # fmt: skip
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", "main"], check=True)
    task = _planned(example)
    _plant(task, "def test_fails():\n    assert 1 == 2\n")
    runner.run_to_end(task.pk)
    task.refresh_from_db()
    assert task.status == Task.Status.DONE, task.error
    mut = json.loads((Path(task.workspace) / "report.json").read_text())["mutation"]
    assert mut["mutants"] > 0
    assert mut["statuses"] == {"NoCoverage": mut["mutants"]}
    assert mut["before"]["score"] == 0.0 and mut["after"]["score"] == 0.0
    matrix = json.loads((Path(task.workspace) / "runs" / "mutation.json").read_text())
    assert "dry_run" not in matrix and "timing" not in matrix  # no test process ran


def test_with_the_mutation_lane_off_the_gate_is_open_and_the_report_says_so(example):
    task = _planned(example)
    Task.objects.filter(pk=task.pk).update(options={**task.options, "mutation": False})
    _plant(
        task,
        "import pytest\n\nfrom billable.discounts import DiscountError, normalize_code\n\n\n"
        "def test_too_short():\n    with pytest.raises(DiscountError):\n"
        "        normalize_code('ab')\n",
    )
    runner.run_to_end(task.pk)
    task.refresh_from_db()
    assert task.status == Task.Status.DONE, task.error
    assert task.lanes["mutation"]["status"] == "skipped"
    report = json.loads((Path(task.workspace) / "report.json").read_text())
    assert report["mutation"] is None
    (t,) = report["tests"]
    assert t["verdict"] == "accept" and t["mutants_killed"] is None
    assert "not checked for teeth" in t["reasons"][-1]
    assert any("did not run" in n for n in report["notes"])
    md = (Path(task.workspace) / "report.md").read_text()
    assert "Mutation testing: skipped" in md
