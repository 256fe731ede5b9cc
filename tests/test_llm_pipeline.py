"""The whole pipeline in model mode, against local servers that speak Anthropic's Messages
API and the OpenAI Chat Completions API through the real SDKs, scripted per test: the
planner's mapping, generator conversations whose rejected candidates are replanned
(hallucinated import, hallucinated method, flaky, spec-bending, malformed tool call), 429
then success, a flaky candidate caught by the three runs, a feedback round, a timeout and
the budget running out mid-task."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agents_app.models import GeneratedTest
from agents_app.pipeline import runner
from tasks_app.models import Task, TaskEvent
from tests.conftest import start_example_task
from tests.llm_fakes import Answer, Call, ScriptedModel, serve

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "sk-test-SECRET-llm-pipeline-0123456789"
NORMALIZE = "src/billable/discounts.py::normalize_code"

AC1_HALLUCINATED_IMPORT = '''
from billable.discounts import normalise_code


def test_normalise_code_upper_cases():
    """AC1"""
    assert normalise_code(" spring-25 ") == "SPRING-25"
'''
AC1_GOOD = '''
import pytest

from billable.discounts import Discount, DiscountError, DiscountKind, find_discount


def test_find_discount_matches_the_normalised_code():
    """AC1"""
    active = [Discount(code="SPRING-25", kind=DiscountKind.PERCENT, value=25)]
    assert find_discount(" spring-25 ", active) is active[0]


def test_find_discount_rejects_an_unknown_code():
    """AC1"""
    with pytest.raises(DiscountError):
        find_discount("NOPE", [])
'''
AC2_HALLUCINATED_METHOD = '''
from billable.discounts import Discount, DiscountKind


def test_a_percent_discount_is_valid():
    """AC2"""
    discount = Discount(code="SAVE10", kind=DiscountKind.PERCENT, value=10)
    assert discount.is_valid()
'''
AC2_GOOD = '''
import pytest

from billable.discounts import Discount, DiscountError, DiscountKind


def test_a_percentage_above_100_is_refused():
    """AC2"""
    with pytest.raises(DiscountError):
        Discount(code="SAVE10", kind=DiscountKind.PERCENT, value=101)
'''
AC3_SPEC_BENDING = '''
from billable.discounts import Discount, DiscountKind, discount_amount


def test_fifteen_percent_of_333():
    """AC3"""
    # The spec says 50 here, but the implementation truncates: the spec is wrong.
    discount = Discount(code="SAVE15", kind=DiscountKind.PERCENT, value=15)
    assert discount_amount(333, discount) == 49
'''
AC3_GOOD = '''
from billable.discounts import Discount, DiscountKind, discount_amount


def test_fifteen_percent_of_333_rounds_half_up():
    """AC3"""
    discount = Discount(code="SAVE15", kind=DiscountKind.PERCENT, value=15)
    assert discount_amount(333, discount) == 50
'''
AC4_FLAKY_LINT = '''
import time

from billable.discounts import best_discount
from billable.money import Currency


def test_no_discounts_means_none_quickly():
    """AC4"""
    started = time.time()
    assert best_discount(1000, Currency.EUR, []) is None
    assert time.time() - started < 1.0
'''
AC4_GOOD = '''
from billable.discounts import best_discount
from billable.money import Currency


def test_no_discounts_means_none():
    """AC4"""
    assert best_discount(1000, Currency.EUR, []) is None
'''
# passes or fails with the hash seed, which differs in each of the three runs; no
# lint rule can see it
AC4_FLAKY_RUNS = '''
from billable.discounts import normalize_code


def test_code_hash_parity():
    """AC4"""
    assert hash(normalize_code("wxyz")) % 2 == 0
'''
# fails on the feature branch with a clean assertion: a possible bug, shown with its criterion
AC6_FAILS = """
from billable.discounts import normalize_code


def test_codes_keep_their_case():
    \"\"\"AC6\"\"\"
    assert normalize_code(" ab-cd ") == "ab-cd"
"""
GENERIC = """
from billable.discounts import normalize_code


def test_lower_case_codes_are_upper_cased():
    assert normalize_code("abcd") == "ABCD"
"""


def criterion_of(call: Call) -> str:
    m = re.match(r"Acceptance criterion (AC\d+):", call.first)
    return m.group(1) if m else "unlinked"


def submit(source: str) -> Answer:
    return Answer(tool="submit_tests", args={"source": source})


def plan_answer() -> Answer:
    return Answer(
        tool="submit_plan",
        args={
            "criteria": [
                {"id": "AC1", "targets": [NORMALIZE], "intents": ["' spring-25 ' -> 'SPRING-25'"]},
                {"id": "AC99", "targets": [], "intents": ["made up"]},
                {"id": "AC2", "targets": ["src/billable/nowhere.py::ghost"], "intents": []},
            ]
        },
    )


def ratings(call: Call, score: int = 3) -> Answer:
    names = re.findall(r"^### (\S+)$", call.first, re.M)
    return Answer(
        tool="rate_tests",
        args={"ratings": [{"test": n, "relevance": score, "reason": "checks it"} for n in names]},
    )


@pytest.fixture
def model_settings(settings, monkeypatch):
    def configure(provider: str, url: str, **extra):
        monkeypatch.setenv("TFACTORY_TEST_LLM_KEY", KEY)
        settings.TFACTORY_LLM_PROVIDER = provider
        settings.TFACTORY_LLM_MODEL = "claude-test" if provider == "anthropic" else "qwen-test"
        settings.TFACTORY_LLM_BASE_URL = url if provider == "anthropic" else f"{url}/v1"
        settings.TFACTORY_LLM_API_KEY_ENV = "TFACTORY_TEST_LLM_KEY"
        settings.TFACTORY_LLM_TIMEOUT_S = 10
        settings.TFACTORY_LLM_MAX_RETRIES = 2
        settings.TFACTORY_LLM_CONCURRENCY = 1  # a deterministic order of calls
        settings.TFACTORY_TEST_TIMEOUT_S = 10
        for name, value in extra.items():
            setattr(settings, name, value)

    return configure


def run_task(example, options) -> tuple[Task, dict]:
    task = start_example_task(example, options=options)
    task = runner.run_to_end(task.pk)
    task.refresh_from_db()
    report = json.loads((Path(task.workspace) / "report.json").read_text())
    return task, report


def no_secret_anywhere(task: Task) -> None:
    ws = Path(task.workspace)
    for path in [ws / "report.json", ws / "report.md", *ws.glob("runs/*.json")]:
        assert KEY not in path.read_text(), path
    assert not TaskEvent.objects.filter(task=task, message__contains=KEY).exists()
    assert KEY not in json.dumps(Task.objects.filter(pk=task.pk).values()[0], default=str)


def test_anthropic_tool_use_replans_what_the_guards_reject(example, model_settings):
    seen_429 = []

    def script(call: Call) -> Answer:
        if call.agent == "planner":
            return plan_answer()
        if call.agent == "evaluator":
            return ratings(call)
        if call.agent == "triager":
            return Answer(text="AC1 to AC4 are proven by accepted tests; no bug was found.")
        crit = criterion_of(call)
        first = call.attempt == 1
        if crit == "AC1":
            return submit(AC1_HALLUCINATED_IMPORT if first else AC1_GOOD)
        if crit == "AC2":
            return submit(AC2_HALLUCINATED_METHOD if first else AC2_GOOD)
        if crit == "AC3":
            return submit(AC3_SPEC_BENDING if first else AC3_GOOD)
        if crit == "AC4":
            return submit(AC4_FLAKY_LINT if first else AC4_GOOD)
        if crit == "AC5" and first:
            return Answer(tool="write_tests", args={"code": GENERIC})  # not our tool
        if crit == "AC6" and not seen_429:
            seen_429.append(call)
            return Answer(status=429)
        return submit(GENERIC)

    fake = ScriptedModel(script)
    with serve(fake.answer) as url:
        model_settings("anthropic", url)
        task, report = run_task(example, {"mutation": False, "feedback_rounds": 0})

    assert task.status == Task.Status.DONE, task.error
    assert task.mode == report["mode"] == "llm:anthropic/claude-test"

    # the planner's mapping: known links kept, unknown ones dropped with a note
    plan = json.loads((Path(task.workspace) / "test_plan.json").read_text())
    notes = " ".join(plan["planner"]["notes"])
    assert "unknown criterion 'AC99'" in notes and "nowhere.py::ghost" in notes
    ac1 = next(p for p in plan["phases"] if p["id"] == "AC1")
    assert ac1["intents"] == ["' spring-25 ' -> 'SPRING-25'"]

    # each rejected first attempt went back with its rule, and the second was used
    rejected = {g["subtask"]: g for g in report["guard_rejections"]}
    rules = {sub: {f["rule"] for f in g["findings"]} for sub, g in rejected.items()}
    assert "PF002" in rules["AC1"] and "normalise_code" in " ".join(rejected["AC1"]["reasons"])
    assert "PF004" in rules["AC2"] and "is_valid" in " ".join(rejected["AC2"]["reasons"])
    assert rules["AC3"] & {"SF001", "SF002"}
    assert "FL003" in rules["AC4"]
    assert "no `submit_tests` tool call" in rejected["AC5"]["reasons"][0]
    assert all(g["attempt"] == 1 for g in rejected.values())
    retry = next(
        c for c in fake.of("gen_functional") if criterion_of(c) == "AC1" and c.attempt == 2
    )
    (result,) = retry.body["messages"][-1]["content"]
    assert result["type"] == "tool_result" and result["is_error"] and "PF002" in result["content"]
    assert len(seen_429) == 1  # the SDK retried it; AC6 got its tests anyway

    # the allow-listed context: the criterion and its code, nothing else of the repository
    ac1_context = next(c.first for c in fake.of("gen_functional") if criterion_of(c) == "AC1")
    assert "def normalize_code" in ac1_context and "SPRING-25" in ac1_context
    assert "class Invoice" not in ac1_context and "def test_" not in ac1_context

    tests = {t["test_id"].split("::")[-1]: t for t in report["tests"]}
    for name, crit in [
        ("test_find_discount_matches_the_normalised_code", "AC1"),
        ("test_a_percentage_above_100_is_refused", "AC2"),
        ("test_fifteen_percent_of_333_rounds_half_up", "AC3"),
        ("test_no_discounts_means_none", "AC4"),
    ]:
        assert tests[name]["verdict"] == "accept", tests[name]["reasons"]
        assert tests[name]["engine"] == "llm" and tests[name]["criteria"] == [crit]
        assert tests[name]["relevance"] == 3
    # no rejected candidate ever became a test
    assert not GeneratedTest.objects.filter(
        task=task, name__in=["test_normalise_code_upper_cases", "test_fifteen_percent_of_333"]
    ).exists()

    verified = {c["id"] for c in report["criteria"] if c["status"] == "verified"}
    assert {"AC1", "AC2", "AC3", "AC4"} <= verified
    usage = report["usage"]
    served = len(fake.calls) - len(seen_429)
    assert usage["calls"] == served and usage["input_tokens"] == 120 * served
    assert set(usage["by_agent"]) == {"planner", "gen_functional", "evaluator", "triager"}
    assert report["partial"] is None
    assert report["summary"].startswith("AC1 to AC4 are proven")
    md = (Path(task.workspace) / "report.md").read_text()
    assert "Rejected before running" in md and "written by the model" in md
    assert "llm:anthropic/claude-test" in md
    no_secret_anywhere(task)


def test_openai_compatible_malformed_calls_flaky_runs_and_a_feedback_round(example, model_settings):
    def script(call: Call) -> Answer:
        if call.agent == "planner":
            return Answer(tool="submit_plan", args='{"criteria": [')  # not JSON: plan from text
        if call.agent == "evaluator":
            return ratings(call, score=2)
        if call.agent == "triager":
            return Answer(text="Summary.")
        crit = criterion_of(call)
        if "Feedback from round 1" in call.first:
            return submit(AC3_GOOD.replace("rounds_half_up", "again"))
        if crit == "AC1":
            return (
                submit(AC1_GOOD)
                if call.attempt > 1
                else Answer(tool="submit_tests", args='{"source": "def test_x(:')
            )
        if crit == "AC4":
            return submit(AC4_FLAKY_RUNS)
        if crit == "AC3":
            return submit(AC3_GOOD)
        if crit == "AC6":
            return submit(AC6_FAILS)
        return Answer(text="I cannot help with that.")  # no tool call, no code

    fake = ScriptedModel(script)
    with serve(fake.answer) as url:
        model_settings("openai", url, TFACTORY_LLM_REPLANS_PER_SUBTASK=1)
        task, report = run_task(
            example,
            {"feedback_rounds": 1, "mutation_max_mutants": 40, "mutation_budget_s": 120},
        )
    assert task.status == Task.Status.DONE, task.error
    assert report["mode"] == "llm:openai/qwen-test"
    plan = json.loads((Path(task.workspace) / "test_plan.json").read_text())
    assert any("not valid JSON" in n for n in plan["planner"]["notes"])

    rejected = {(g["subtask"], g["attempt"]): g for g in report["guard_rejections"]}
    assert "not valid JSON" in rejected[("AC1", 1)]["reasons"][0]
    # a subtask whose model never calls the tool gives up after its replan
    assert "no `submit_tests` tool call" in rejected[("AC2", 2)]["reasons"][0]
    sub = {s["id"]: s for s in report["generation"]["subtasks"]}
    assert sub["AC2"]["tests"] == [] and sub["AC2"]["attempts"] == 2

    tests = {t["test_id"].split("::")[-1]: t for t in report["tests"]}
    flaky = tests["test_code_hash_parity"]
    assert flaky["verdict"] == "reject" and flaky["reasons"][0].startswith("flaky")
    bug = tests["test_codes_keep_their_case"]
    assert bug["verdict"] == "flag" and "possible bug" in bug["reasons"][0]
    assert any(
        r.startswith("criterion AC6: Applying a discount to an invoice") for r in bug["reasons"]
    )

    # round 2 got the changed lines round 1 left uncovered and the mutants it left alive,
    # and wrote a test for them
    assert report["generation"]["rounds"] == 2
    fb = [c.first for c in fake.of("gen_functional") if "Feedback from round 1" in c.first]
    assert fb and any("Changed lines no kept test runs" in f for f in fb)
    assert any("Mutants no kept test kills" in f and " -> " in f for f in fb)
    assert any(s.get("round") == 2 for s in report["generation"]["subtasks"])
    assert "test_fifteen_percent_of_333_again" in tests
    # round 2 reused the existing suite's run and did not scan the branch again
    messages = [e.message for e in task.events.all()]
    suite_runs = sum(m.startswith("running the existing suite") for m in messages)
    reused = sum(
        m.startswith("the existing suite's run on this commit is reused") for m in messages
    )
    assert suite_runs <= 1 and suite_runs + reused == 2, messages
    assert sum(m.startswith("lane sast: running") for m in messages) == 1
    # the judge and the summary ran once, after the last round
    assert report["summary"] == "Summary."
    assert tests["test_find_discount_matches_the_normalised_code"]["relevance"] == 2
    no_secret_anywhere(task)


def test_the_budget_running_out_mid_task_gives_a_partial_result(example, model_settings):
    def script(call: Call) -> Answer:
        if call.agent == "planner":
            return plan_answer()
        crit = criterion_of(call)
        return submit({"AC1": AC1_GOOD, "AC2": AC2_GOOD}.get(crit, GENERIC))

    fake = ScriptedModel(script)
    with serve(fake.answer) as url:
        # 200 tokens a call, the cap checked before each: the planner and three generator
        # calls go out, the next is refused
        model_settings("anthropic", url, TFACTORY_LLM_MAX_TOKENS=700)
        task, report = run_task(example, {"mutation": False})
    assert task.status == Task.Status.DONE, task.error
    assert "token budget is spent" in report["partial"]
    assert report["usage"]["calls"] == len(fake.calls) == 4
    tests = {t["test_id"].split("::")[-1]: t for t in report["tests"]}
    assert tests["test_find_discount_matches_the_normalised_code"]["verdict"] == "accept"
    assert report["summary"] is None  # nothing left to write it with
    md = (Path(task.workspace) / "report.md").read_text()
    assert "Partial result" in md and "token budget is spent" in md


def test_a_model_that_does_not_answer_in_time_ends_generation_not_the_task(example, model_settings):
    def script(call: Call) -> Answer:
        if call.agent == "planner":
            return plan_answer()
        return Answer(delay=1.5, tool="submit_tests", args={"source": GENERIC})

    fake = ScriptedModel(script)
    with serve(fake.answer) as url:
        model_settings("openai", url, TFACTORY_LLM_TIMEOUT_S=0.5, TFACTORY_LLM_MAX_RETRIES=1)
        task, report = run_task(example, {"mutation": False})
    assert task.status == Task.Status.DONE, task.error
    assert "did not answer in time" in report["partial"]
    assert len(fake.of("gen_functional")) == 2  # one subtask, one retry; the rest skipped
    assert report["tests"] == []
    assert any("did not answer in time" in s["stopped"] for s in report["generation"]["subtasks"])


def test_a_misconfigured_model_refuses_the_handover_and_creates_nothing(example, settings):
    from tasks_app import services

    settings.TFACTORY_LLM_PROVIDER = "gemini"
    settings.TFACTORY_LLM_MODEL = "x"
    with pytest.raises(
        services.HandoverError, match="unknown model provider 'gemini'.*offline=true"
    ):
        start_example_task(example)
    assert not Task.objects.exists()
    # the way out the error names works with the bad setting still in place
    payload = {"project_id": "billable", "spec_id": example["spec_id"],
               "branch": example["branch"], "options": {"offline": True}}  # fmt: skip
    assert services.start_task(payload, enqueue=False).mode == "offline"


def test_a_worker_configured_for_another_model_fails_the_task_with_a_sentence(
    example, model_settings, settings
):
    fake = ScriptedModel(lambda call: plan_answer())
    with serve(fake.answer) as url:
        model_settings("anthropic", url)
        task = start_example_task(example, options={"mutation": False})
        assert task.mode == "llm:anthropic/claude-test"
        settings.TFACTORY_LLM_PROVIDER = ""  # this worker runs offline
        task = runner.run_to_end(task.pk)
    assert task.status == Task.Status.FAILED
    assert "runs in llm:anthropic/claude-test mode but this worker is configured for offline" in (
        task.error
    )
    assert KEY not in task.error
