"""A task's life after its handover: queue a stage, cancel, rerun a lane, and run one in
the foreground (the command line's way; the workers run the same stages)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from agents_app.pipeline import queue, reaper, runner
from tasks_app.core.events import add_listener, emit_event, remove_listener
from tasks_app.core.lanes import LANES, SECURITY_LANES
from tasks_app.core.workspace import Runs, Workspace
from tasks_app.models import Task, TaskEvent
from tasks_app.services.errors import ConflictError, HandoverError, NotFoundError

# the stage a rerun of each lane starts from: mutation testing needs the candidates' runs
# (coverage per test), not new candidates; a security lane runs alone in the running stage
LANE_START = {
    "functional": "generating",
    "mutation": "running",
    **{lane: "running" for lane in SECURITY_LANES},
}


def queue_stage(task: Task, stage: str, *, enqueue: bool = True) -> None:
    """Mark `stage` as queued for the task and hand a job to the workers."""
    # heartbeat_at marks the hand-off, so the reaper can tell a lost job from a new one
    Task.objects.filter(pk=task.pk).update(queued_stage=stage, heartbeat_at=timezone.now())
    task.queued_stage = stage
    if enqueue:
        transaction.on_commit(lambda: queue.enqueue_stage(task.pk, stage))


def by_number(queryset: Any, value: int | str, what: str) -> Any:
    """The row whose id is `value` (a whole number), or NotFoundError under `<what>_id`."""
    try:
        return queryset.get(pk=int(value))
    except (ValueError, TypeError, OverflowError) as exc:
        raise NotFoundError(f"{what} id {value!r} is not a number", f"{what}_id") from exc
    except queryset.model.DoesNotExist as exc:
        raise NotFoundError(f"no {what} with id {value}", f"{what}_id") from exc


def get_task(task_id: int | str) -> Task:
    return by_number(Task.objects.select_related("project"), task_id, "task")


def cancel_task(task_id: int | str) -> Task:
    """Cancel a task. A queued one stops at once; a running stage stops at its next check."""
    task = get_task(task_id)
    if task.is_terminal:
        raise ConflictError(f"task {task.pk} already ended ({task.status})", "task_id")
    Task.objects.filter(pk=task.pk).update(cancel_requested=True)
    # Nobody is working on it: cancel right here (another process got there first
    # when the update finds no unclaimed row).
    # ... or whoever claimed it stopped beating (a killed CLI, a crashed worker)
    stale = timezone.now() - timedelta(seconds=settings.TFACTORY_STALE_AFTER_S)
    nobody = Q(claimed_by="") | Q(heartbeat_at__lt=stale)
    stopped = Task.objects.filter(nobody, pk=task.pk).exclude(status__in=Task.TERMINAL)
    if stopped.update(
        status=Task.Status.CANCELLED, queued_stage="", claimed_by="", finished_at=timezone.now()
    ):
        task.refresh_from_db()
        runner.finish_cancelled(task)
    else:
        emit_event(task, "cancel requested; the running stage stops at its next check")
    task.refresh_from_db()
    return task


def rerun_lane(task_id: int | str, lane: str, *, enqueue: bool = True) -> Task:
    """Run one lane of a finished task again: functional from generation on, mutation
    from the candidates' runs on (the same candidates, a new kill matrix)."""
    task = get_task(task_id)
    if lane not in LANES:
        raise HandoverError(f"unknown lane {lane!r}; lanes: {', '.join(LANES)}", "lane")
    if not task.is_terminal:
        raise ConflictError(f"task {task.pk} is still {task.status}; rerun it when it ends")
    latest = Task.objects.filter(project=task.project, spec_id=task.spec_id).order_by("-pk")[0]
    if latest.pk != task.pk:
        # the spec's folder now holds the newer run's files
        raise ConflictError(
            f"task {latest.pk} is a newer run of {task.project_id}/{task.spec_id}; rerun that one"
        )
    if not (Path(task.workspace) / "test_plan.json").exists():
        raise ConflictError(f"task {task.pk} never got a test plan; start a new handover")
    try:
        with transaction.atomic():
            moved = Task.objects.filter(pk=task.pk, status__in=Task.TERMINAL).update(
                status=Task.Status.PENDING,
                error="",
                cancel_requested=False,
                started_at=None,
                finished_at=None,
                claimed_by="",
            )
    except IntegrityError as exc:
        raise ConflictError(
            f"another run of {task.project_id}/{task.spec_id} is in flight"
        ) from exc
    if not moved:
        raise ConflictError(f"task {task.pk} was changed meanwhile; try again")
    task.refresh_from_db()
    lanes = dict(task.lanes)
    lanes[lane] = {"status": "pending"}
    task.lanes = lanes
    task.options = {**task.options, "rerun_lane": lane}
    task.save(update_fields=["lanes", "options"])
    # a feedback round the evaluator asked for before the task ended is not this rerun's
    (Workspace(task.workspace_path).runs / Runs.FEEDBACK).unlink(missing_ok=True)
    emit_event(task, f"rerun of lane {lane} requested", kind="status", data={"status": "pending"})
    queue_stage(task, LANE_START[lane], enqueue=enqueue)
    return task


def run_in_foreground(task_id: int, on_event: Callable[[TaskEvent], None] | None = None) -> Task:
    """Run every queued stage of the task in this process (the command line's way), with
    `on_event` called for each of its events, those so far included. Ctrl-C or SIGTERM
    (raised as KeyboardInterrupt) cancels the task and is raised again."""
    # tasks left claimed by a foreground run that was killed would block their spec
    reaper.reap_stale_tasks(requeue=False)
    task = get_task(task_id)
    if on_event is not None:
        add_listener(task.pk, on_event)
        for event in task.events.order_by("id"):
            on_event(event)
    try:
        return runner.run_to_end(task.pk)
    except KeyboardInterrupt:
        runner.mark_cancelled(task.pk)
        raise
    finally:
        if on_event is not None:
            remove_listener(task.pk, on_event)
