"""Stages: claims, the plan's shape, failures, cancellation and the reaper."""

from __future__ import annotations

import ast
import json
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from agents_app.models import PlanSubtask, TestPlan
from agents_app.pipeline import reaper, runner
from tasks_app import services
from tasks_app.models import Task
from tests.conftest import git, start_example_task

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def task(example) -> Task:
    return start_example_task(example)


def test_the_plan_has_one_phase_per_criterion_with_lane_tagged_targets(task):
    assert runner.run_stage(task.pk, "planning") == "generating"
    task.refresh_from_db()
    plan = json.loads((Path(task.workspace) / "test_plan.json").read_text())

    crit_ids = [c["id"] for c in plan["criteria"]]
    assert crit_ids == [f"AC{n}" for n in range(1, 8)]
    phases = {p["id"]: p for p in plan["phases"]}
    assert set(crit_ids) <= set(phases)
    worktree = Path(task.worktree)
    for phase in plan["phases"]:
        for st in phase["subtasks"]:
            assert st["lane"] == "functional"
            path, _, qualname = st["target"].partition("::")
            assert (worktree / path).is_file(), st["target"]
            if qualname != "<module>":
                tree = ast.parse((worktree / path).read_text())
                names = {f"{c.name}.{f.name}" if c is not None else f.name for c, f in _defs(tree)}
                assert qualname in names, st["target"]
            assert st["command"].startswith("python -m pytest ")
            assert st["criterion"] == (phase["criterion"] or {}).get("id")
    # criteria that name code are linked to exactly that code
    ac4 = [s["target"] for s in phases["AC4"]["subtasks"]]
    assert ac4 == ["src/billable/discounts.py::best_discount"]
    ac1 = {s["target"].split("::")[1] for s in phases["AC1"]["subtasks"]}
    assert {"normalize_code", "find_discount"} <= ac1
    # the database holds the same plan
    tp = TestPlan.objects.get(task=task)
    assert tp.data == plan
    assert PlanSubtask.objects.filter(plan=tp).count() == sum(
        len(p["subtasks"]) for p in plan["phases"]
    )


def _defs(tree: ast.Module):
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            yield None, node
        elif isinstance(node, ast.ClassDef):
            yield None, node
            for sub in node.body:
                if isinstance(sub, ast.FunctionDef):
                    yield node, sub


def test_a_stage_is_claimed_once(task):
    assert runner.run_stage(task.pk, "planning", worker="w1") == "generating"
    # a duplicate delivery of the same job finds nothing to claim
    assert runner.run_stage(task.pk, "planning", worker="w2") is None
    task.refresh_from_db()
    assert task.queued_stage == "generating"
    assert task.status == "planning" and task.claimed_by == ""
    starts = task.events.filter(message="stage planning started").count()
    assert starts == 1


def test_a_failing_stage_fails_the_task_with_a_clear_error_and_a_report(task):
    plan = Path(task.workspace) / "context" / "aifactory_plan.json"
    plan.chmod(0o644)
    plan.write_text('{"phases": "not a list"}')
    assert runner.run_stage(task.pk, "planning") is None
    task.refresh_from_db()
    assert task.status == Task.Status.FAILED
    assert "planning failed" in task.error and "phases" in task.error
    report = json.loads((Path(task.workspace) / "report.json").read_text())
    assert report["status"] == "failed"
    assert report["error"] == task.error
    assert report["lanes"]["functional"]["status"] == "failed"
    md = (Path(task.workspace) / "report.md").read_text()
    assert "**Error:**" in md and "phases" in md
    assert task.events.filter(level="error").exists()
    # the worktree was released
    assert not Path(task.worktree).exists()


def test_the_reaper_fails_a_task_whose_worker_stopped(task):
    stale = timezone.now() - timedelta(minutes=30)
    Task.objects.filter(pk=task.pk).update(
        status="generating", queued_stage="", claimed_by="host:123:1", heartbeat_at=stale
    )
    assert reaper.reap_stale_tasks(stale_after_s=60) == [task.pk]
    task.refresh_from_db()
    assert task.status == Task.Status.FAILED
    assert "stopped responding" in task.error and "generating" in task.error
    report = json.loads((Path(task.workspace) / "report.json").read_text())
    assert report["status"] == "failed" and "stopped responding" in report["error"]
    # a second pass finds nothing
    assert reaper.reap_stale_tasks(stale_after_s=60) == []


def test_the_reaper_leaves_live_tasks_alone(task):
    Task.objects.filter(pk=task.pk).update(
        status="running", claimed_by="host:1:1", heartbeat_at=timezone.now()
    )
    assert reaper.reap_stale_tasks(stale_after_s=60) == []
    task.refresh_from_db()
    assert task.status == "running"


@pytest.mark.slow
def test_cancelling_a_running_stage_stops_its_sandboxed_work(task, settings):
    assert runner.run_stage(task.pk, "planning") == "generating"
    Task.objects.filter(pk=task.pk).update(options={"engine_budget_s": 120})
    result: dict = {}

    def work():
        result["next"] = runner.run_stage(task.pk, "generating")

    worker = threading.Thread(target=work)
    worker.start()
    # wait until an engine is running in the sandbox
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if task.events.filter(message__contains="generating tests for").exists():
            break
        time.sleep(0.5)
    else:
        pytest.fail("the engine never started")
    time.sleep(2)
    t0 = time.monotonic()
    services.cancel_task(task.pk)
    worker.join(timeout=60)
    assert not worker.is_alive(), "the stage did not stop after cancel"
    assert time.monotonic() - t0 < 30
    task.refresh_from_db()
    assert task.status == Task.Status.CANCELLED
    assert result["next"] is None
    report = json.loads((Path(task.workspace) / "report.json").read_text())
    assert report["status"] == "cancelled"
    assert report["lanes"]["functional"]["status"] == "cancelled"


def test_a_task_that_never_planned_cannot_be_rerun(task):
    services.cancel_task(task.pk)
    with pytest.raises(services.HandoverError, match="never got a test plan"):
        services.rerun_lane(task.pk, "functional")


def test_rerun_lane_requeues_a_finished_task(task, example):
    assert runner.run_stage(task.pk, "planning") == "generating"
    services.cancel_task(task.pk)
    task = services.rerun_lane(task.pk, "functional", enqueue=False)
    assert task.started_at is None
    assert task.status == Task.Status.PENDING and task.queued_stage == "generating"
    assert task.lanes["functional"] == {"status": "pending"}
    with pytest.raises(services.HandoverError, match="unknown lane 'dast'"):
        services.rerun_lane(task.pk, "dast")
    with pytest.raises(services.HandoverError, match="still pending"):
        services.rerun_lane(task.pk, "functional")
    # the worktree comes back for the rerun, at the same commit
    from agents_app.env.runtime import ensure_worktree

    wt = ensure_worktree(task)
    assert git(wt, "rev-parse", "HEAD").strip() == example["head_sha"]


def test_a_branch_without_python_changes_ends_done_with_nothing_to_test(example):
    repo = Path(example["repo"])
    git(repo, "checkout", "-q", "-b", "docs-only", "main")
    (repo / "README.md").write_text("# billable\n\nNow with better docs.\n")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "docs")
    git(repo, "checkout", "-q", "main")
    services.create_project("billable", repo)
    task = services.start_task(
        {
            "project_id": "billable",
            "spec_id": "docs",
            "branch": "docs-only",
            "spec_text": "## Acceptance Criteria\n\n- The README explains discounts.\n",
        },
        enqueue=False,
    )
    task = runner.run_to_end(task.pk)
    assert task.status == Task.Status.DONE, task.error
    report = json.loads((Path(task.workspace) / "report.json").read_text())
    assert report["tests"] == []
    assert report["coverage"]["changed_lines"] == 0
    assert report["coverage"]["after"]["line_pct"] is None
    assert [c["status"] for c in report["criteria"]] == ["unverifiable"]


def test_a_lost_job_between_stages_is_queued_again(task):
    from django_q.models import OrmQ

    assert runner.run_stage(task.pk, "planning") == "generating"
    # the hand-off happened but the job never reached the queue (a crash in between)
    Task.objects.filter(pk=task.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert not OrmQ.objects.exists()
    reaper.reap_stale_tasks(stale_after_s=60)
    assert [q.name() for q in OrmQ.objects.all()] == [f"task-{task.pk}-generating"]
    # while the job waits in the queue, nothing is added
    Task.objects.filter(pk=task.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    reaper.reap_stale_tasks(stale_after_s=60)
    assert OrmQ.objects.count() == 1


def test_cancel_ends_a_task_whose_runner_died(task):
    stale = timezone.now() - timedelta(hours=1)
    Task.objects.filter(pk=task.pk).update(
        status="generating", queued_stage="", claimed_by="dead:1:1", heartbeat_at=stale
    )
    task = services.cancel_task(task.pk)
    assert task.status == Task.Status.CANCELLED


def test_only_one_run_of_a_spec_is_in_flight(task, example):
    """The database refuses a second active task for a spec even if a check was raced."""
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.create(
            project=task.project,
            spec_id=task.spec_id,
            branch=task.branch,
            base_ref="main",
            spec_source="inline",
        )
