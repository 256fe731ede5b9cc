"""What the faces show of a task: its summary, the task list, its report in each format,
its events after a cursor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings

from tasks_app.models import Project, Task
from tasks_app.services.errors import HandoverError, NotFoundError
from tasks_app.services.tasks import get_task


def task_url(task: Task) -> str:
    """Where a person watches the task in a browser."""
    return f"{settings.TFACTORY_PUBLIC_URL}/tasks/{task.pk}/"


def task_summary(task: Task) -> dict[str, Any]:
    ws = Path(task.workspace)
    report = ws / "report.json"
    return {
        "task_id": task.pk,
        "project_id": task.project_id,
        "spec_id": task.spec_id,
        "branch": task.branch,
        "base_ref": task.base_ref,
        "head_sha": task.head_sha,
        "status": task.status,
        "stage": task.queued_stage or None,
        "mode": task.mode,
        "lanes": task.lanes,
        "error": task.error or None,
        "created_at": task.created_at,
        "started_at": task.started_at,
        "finished_at": task.finished_at,
        "updated_at": task.updated_at,
        "duration_s": task.duration_s,
        "workspace": task.workspace,
        "spec_folder": task.workspace,
        "report": str(report) if report.exists() else None,
        "report_md": str(ws / "report.md") if (ws / "report.md").exists() else None,
        "portal_url": task_url(task),
    }


TASK_LIST_MAX = 200


def list_tasks(
    *,
    project_id: str | None = None,
    status: str | None = None,
    spec_id: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> tuple[list[Task], int]:
    """Tasks newest first, filtered; returns one page and the total count."""
    tasks = Task.objects.select_related("project").order_by("-pk")
    if project_id:
        if not Project.objects.filter(pk=project_id).exists():
            raise HandoverError(f"unknown project {project_id!r}", "project_id")
        tasks = tasks.filter(project_id=project_id)
    if status:
        if status not in Task.Status.values:
            choices = ", ".join(Task.Status.values)
            raise HandoverError(f"status {status!r} is not one of {choices}", "status")
        tasks = tasks.filter(status=status)
    if spec_id:
        tasks = tasks.filter(spec_id=spec_id)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= TASK_LIST_MAX:
        raise HandoverError(f"limit must be a whole number from 1 to {TASK_LIST_MAX}", "limit")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise HandoverError("offset must be a whole number from 0", "offset")
    return list(tasks[offset : offset + limit]), tasks.count()


REPORT_FORMATS = ("json", "md", "sarif")


def read_report(task_id: int | str, fmt: str = "json") -> dict[str, Any] | str:
    """The task's report.json (parsed), report.md (text) or findings.sarif (parsed)."""
    if fmt not in REPORT_FORMATS:
        raise HandoverError(f"format {fmt!r} is not one of {', '.join(REPORT_FORMATS)}", "format")
    task = get_task(task_id)
    latest = Task.objects.filter(project=task.project, spec_id=task.spec_id).order_by("-pk")[0]
    if latest.pk != task.pk:
        # the spec's folder holds the newest run's files; this run's went to an archive
        raise NotFoundError(
            f"task {latest.pk} is a newer run of {task.project_id}/{task.spec_id}; "
            f"task {task.pk}'s report was archived beside the spec's folder",
            "task_id",
        )
    path = Path(task.workspace) / ("findings/findings.sarif" if fmt == "sarif" else f"report.{fmt}")
    if fmt == "sarif" and not path.is_file() and (Path(task.workspace) / "report.json").is_file():
        raise NotFoundError(
            f"task {task.pk} has no findings.sarif: no security lane ran in it", "format"
        )
    if not path.is_file():
        state = "is still " + task.status if not task.is_terminal else f"ended {task.status}"
        raise NotFoundError(
            f"task {task.pk} has no report yet (it {state}); reports are written when "
            "the triager finishes",
            "task_id",
        )
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if fmt in ("json", "sarif") else text


EVENTS_PAGE_MAX = 500


def task_events(
    task_id: int | str, *, after: int = 0, limit: int = 100, tail: bool = False
) -> dict[str, Any]:
    """The task's events with ids above `after`, oldest first; `next_after` resumes.
    With `tail`, the last `limit` of them (a status glance at a long log)."""
    task = get_task(task_id)
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise HandoverError("after must be a whole number from 0 (an event id)", "after")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= EVENTS_PAGE_MAX:
        raise HandoverError(f"limit must be a whole number from 1 to {EVENTS_PAGE_MAX}", "limit")
    events = task.events.filter(id__gt=after)
    if tail:
        page = list(events.order_by("-id")[:limit])[::-1]
        rows = page
    else:
        rows = list(events.order_by("id")[: limit + 1])
        page = rows[:limit]
    return {
        "task_id": task.pk,
        "status": task.status,
        "events": [
            {
                "id": e.pk,
                "created_at": e.created_at,
                "kind": e.kind,
                "level": e.level,
                "stage": e.stage,
                "message": e.message,
                "data": e.data,
            }
            for e in page
        ],
        "next_after": page[-1].pk if page else after,
        "has_more": len(rows) > limit,
    }


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, default=str)
