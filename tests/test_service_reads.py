"""The read side every way in shares: preview, task lists, the event cursor, reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks_app import services
from tasks_app.core.events import emit_event
from tasks_app.models import Task, TaskEvent
from tests.conftest import git, start_example_task

pytestmark = pytest.mark.django_db


def payload(example: dict, **overrides) -> dict:
    data = {
        "project_id": "billable",
        "spec_id": example["spec_id"],
        "branch": example["branch"],
        "base_ref": "main",
    }
    return {**data, **overrides}


def test_preview_says_what_would_be_created_and_writes_nothing(example, tf_home):
    services.create_project("billable", example["repo"])
    preview = services.preview_task(payload(example, options={"mutation": False}))
    assert preview["head_sha"] == example["head_sha"]
    assert preview["mode"] == "offline"
    assert preview["lanes"] == ["functional", "sast", "deps", "secrets"]
    assert [c["id"] for c in preview["spec"]["criteria"]][:2] == ["AC1", "AC2"]
    assert preview["spec"]["source"] == "aifactory"
    paths = {f["path"] for f in preview["changed_files"]}
    assert any(p.endswith(".py") for p in paths)
    assert all(isinstance(f["added"], int) for f in preview["changed_files"])
    assert preview["spec_folder"].endswith(f"billable/specs/{example['spec_id']}")
    assert preview["previous_task"] is None and preview["warnings"] == []
    assert Task.objects.count() == 0 and TaskEvent.objects.count() == 0
    assert not (tf_home / "workspaces").exists()
    assert len(git(Path(example["repo"]), "worktree", "list").splitlines()) == 1


def test_preview_fails_like_the_handover_would(example):
    services.create_project("billable", example["repo"])
    with pytest.raises(services.HandoverError, match="does not exist") as err:
        services.preview_task(payload(example, branch="feature/missing"))
    assert err.value.field == "branch"
    with pytest.raises(services.HandoverError, match="unknown project"):
        services.preview_task(payload(example, project_id="nobody"))


def test_preview_warns_when_the_spec_has_no_criteria(example):
    services.create_project("billable", example["repo"])
    preview = services.preview_task(
        payload(example, spec_id="adhoc", spec_text="Make discounts work.")
    )
    assert preview["spec"]["criteria"] == [] and preview["warnings"]


def test_a_second_handover_of_a_spec_in_flight_is_a_conflict(example):
    start_example_task(example)
    with pytest.raises(services.ConflictError, match="still pending"):
        services.preview_task(payload(example))


def test_tasks_are_listed_newest_first_with_filters(example):
    first = start_example_task(example)
    Task.objects.filter(pk=first.pk).update(status=Task.Status.DONE)
    second = services.start_task(
        payload(example, spec_id="adhoc", spec_text="# S\n\n- AC1: codes work\n"), enqueue=False
    )
    tasks, total = services.list_tasks()
    assert [t.pk for t in tasks] == [second.pk, first.pk] and total == 2
    tasks, total = services.list_tasks(status="done")
    assert [t.pk for t in tasks] == [first.pk] and total == 1
    tasks, total = services.list_tasks(project_id="billable", limit=1, offset=1)
    assert [t.pk for t in tasks] == [first.pk] and total == 2
    tasks, _ = services.list_tasks(spec_id="adhoc")
    assert [t.pk for t in tasks] == [second.pk]
    for kwargs, field in [
        ({"status": "exploded"}, "status"),
        ({"project_id": "nobody"}, "project_id"),
        ({"limit": 0}, "limit"),
        ({"limit": 10_000}, "limit"),
        ({"offset": -1}, "offset"),
    ]:
        with pytest.raises(services.HandoverError) as err:
            services.list_tasks(**kwargs)
        assert err.value.field == field


def test_events_page_after_a_cursor_without_gaps_or_repeats(example):
    task = start_example_task(example)
    for n in range(7):
        emit_event(task, f"line {n}")
    seen, after = [], 0
    while True:
        page = services.task_events(task.pk, after=after, limit=3)
        seen += [e["id"] for e in page["events"]]
        after = page["next_after"]
        if not page["has_more"]:
            break
    ids = list(task.events.order_by("id").values_list("id", flat=True))
    assert seen == ids
    assert services.task_events(task.pk, after=after)["events"] == []
    tail = services.task_events(task.pk, limit=2, tail=True)
    assert [e["id"] for e in tail["events"]] == ids[-2:] and tail["next_after"] == ids[-1]
    with pytest.raises(services.HandoverError):
        services.task_events(task.pk, after=-1)
    with pytest.raises(services.NotFoundError):
        services.task_events(999_999)


def test_reports_are_read_only_once_written_and_only_for_the_latest_run(example):
    task = start_example_task(example)
    with pytest.raises(services.NotFoundError, match="no report yet"):
        services.read_report(task.pk, "md")
    ws = Path(task.workspace)
    (ws / "report.json").write_text(json.dumps({"task_id": task.pk, "status": "done"}))
    (ws / "report.md").write_text("# Report\n")
    assert services.read_report(task.pk) == {"task_id": task.pk, "status": "done"}
    assert services.read_report(task.pk, "md") == "# Report\n"
    with pytest.raises(services.HandoverError, match="format"):
        services.read_report(task.pk, "html")
    Task.objects.filter(pk=task.pk).update(status=Task.Status.DONE)
    services.start_task(payload(example), enqueue=False)
    with pytest.raises(services.NotFoundError, match="newer run"):
        services.read_report(task.pk)


@pytest.mark.parametrize("bad", ["abc", "1; DROP TABLE", None, 10**30])
def test_a_bad_task_id_is_not_found(bad):
    with pytest.raises(services.NotFoundError):
        services.get_task(bad)


def test_the_summary_links_the_portal(example, settings):
    settings.TFACTORY_PUBLIC_URL = "https://tf.example"
    task = start_example_task(example)
    summary = services.task_summary(task)
    assert summary["portal_url"].startswith("https://tf.example/")
    assert str(task.pk) in summary["portal_url"]
    assert summary["spec_folder"] == task.workspace and summary["status"] == "pending"
