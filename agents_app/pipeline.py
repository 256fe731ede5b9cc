"""Runs the pipeline's stages: claim, heartbeat, run, hand over to the next stage.

Planner -> generators -> executor -> evaluator -> triager -> delivery (in model mode the
evaluator may send the task back to the generators for a feedback round). Each stage is
one durable job; the same `run_stage` serves the django-q2 workers and the foreground CLI.
A stage gets a StageContext (the task, an `emit` callable, a cancel flag) and never
imports views.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models.functions import Coalesce
from django.utils import timezone

from tasks_app import git
from tasks_app.events import Emitter, emit_event, redact
from tasks_app.models import Task, TaskEvent
from tasks_app.workspace import Workspace

log = logging.getLogger(__name__)

STAGES = ("planning", "generating", "running", "evaluating", "triaging", "delivering")
ACTIVE = STAGES


class Cancelled(Exception):
    """The task was cancelled while a stage ran."""


class StageError(Exception):
    """A stage failed for a reason a person can act on; the message says which."""


@dataclass
class StageContext:
    task: Task
    stage: str
    emit: Emitter
    cancel: threading.Event = field(default_factory=threading.Event)
    _sandbox: Any = None

    @property
    def ws(self) -> Workspace:
        return Workspace(self.task.workspace_path)

    def check_cancelled(self) -> None:
        if self.cancel.is_set():
            raise Cancelled()

    @property
    def sandbox(self) -> Any:
        """The task's sandbox backend, chosen once per stage from TFACTORY_SANDBOX."""
        if self._sandbox is None:
            from agents_app.sandbox import Limits, get_sandbox

            self._sandbox = get_sandbox(
                self.task.options.get("sandbox") or settings.TFACTORY_SANDBOX,
                Limits(
                    memory_mb=settings.TFACTORY_SANDBOX_MEMORY_MB,
                    file_mb=settings.TFACTORY_SANDBOX_FILE_MB,
                    pids=settings.TFACTORY_SANDBOX_PIDS,
                ),
            )
        return self._sandbox

    def set_lane(self, lane: str, status: str, summary: str | None = None, **extra: Any) -> None:
        set_lane(self.task, lane, status, summary, stage=self.stage, **extra)

    def option(self, name: str, default: Any) -> Any:
        return self.task.options.get(name, default)


def set_lane(
    task: Task, lane: str, status: str, summary: str | None = None, stage: str = "", **extra: Any
) -> None:
    task.refresh_from_db(fields=["lanes"])
    lanes = dict(task.lanes)
    entry = dict(lanes.get(lane, {}))
    now = timezone.now()
    if status == "running":
        entry = {"status": "running", "started_at": now.isoformat()}
    else:
        entry["status"] = status
        if entry.get("started_at") and status in ("done", "failed", "cancelled", "skipped"):
            entry["finished_at"] = now.isoformat()
            started = timezone.datetime.fromisoformat(entry["started_at"])
            entry["duration_s"] = round((now - started).total_seconds(), 3)
    if summary is not None:
        entry["summary"] = summary
    entry.update(extra)
    lanes[lane] = entry
    task.lanes = lanes
    Task.objects.filter(pk=task.pk).update(lanes=lanes)
    emit_event(
        task,
        f"lane {lane}: {status}" + (f" — {summary}" if summary else ""),
        kind=TaskEvent.Kind.LANE,
        stage=stage,
        data={"lane": lane, "status": status},
    )


def _stage_function(stage: str) -> Callable[[StageContext], str | None]:
    from agents_app import evaluator, executor, planner, triager
    from agents_app.generators import functional
    from tasks_app import delivery

    return {
        "planning": planner.run,
        "generating": functional.run,
        "running": executor.run,
        "evaluating": evaluator.run,
        "triaging": triager.run,
        "delivering": delivery.run,
    }[stage]


def next_stage(stage: str) -> str | None:
    i = STAGES.index(stage)
    return STAGES[i + 1] if i + 1 < len(STAGES) else None


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


class Heartbeat(threading.Thread):
    """Refreshes the claim while a stage runs; notices cancellation and a lost claim."""

    def __init__(self, task_id: int, worker: str, cancel: threading.Event):
        super().__init__(name=f"heartbeat-{task_id}", daemon=True)
        self.task_id = task_id
        self.worker = worker
        self.cancel = cancel
        self.stopped = threading.Event()
        self.lost = False

    def run(self) -> None:
        try:
            while not self.stopped.wait(settings.TFACTORY_HEARTBEAT_S):
                try:
                    alive = Task.objects.filter(pk=self.task_id, claimed_by=self.worker).update(
                        heartbeat_at=timezone.now()
                    )
                    cancelled = Task.objects.filter(pk=self.task_id, cancel_requested=True)
                    cancelled = cancelled.exists()
                except Exception:
                    # one failed beat (e.g. a locked database) must not end the heartbeat:
                    # the reaper would take a live task; try again next beat
                    log.exception("heartbeat for task %s failed; retrying", self.task_id)
                    connection.close()
                    continue
                if not alive:
                    # the reaper or a cancel took the task away from this worker
                    self.lost = True
                    self.cancel.set()
                    return
                if cancelled:
                    self.cancel.set()
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)


def run_stage(task_id: int, stage: str, *, worker: str | None = None) -> str | None:
    """Claim `stage` of the task, run it, and queue the next one.

    Returns the next stage to run, or None when the task ended or someone else had
    already claimed this stage.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    worker = worker or worker_name()
    now = timezone.now()
    claimed = Task.objects.filter(pk=task_id, queued_stage=stage, cancel_requested=False).update(
        queued_stage="",
        status=stage,
        claimed_by=worker,
        heartbeat_at=now,
        started_at=Coalesce("started_at", now),
    )
    if not claimed:
        # another process got there first, or the task was cancelled meanwhile
        return None
    task = Task.objects.select_related("project").get(pk=task_id)
    emit_event(task, f"stage {stage} started", kind="status", stage=stage, data={"status": stage})
    ctx = StageContext(task=task, stage=stage, emit=Emitter(task, stage))
    beat = Heartbeat(task_id, worker, ctx.cancel)
    beat.start()
    started = time.monotonic()
    try:
        goto = _stage_function(stage)(ctx)
        ctx.check_cancelled()
    except Cancelled:
        beat.stop()
        if beat.lost and not Task.objects.filter(pk=task_id, cancel_requested=True).exists():
            return None  # the reaper already failed the task and wrote its report
        mark_cancelled(task_id, worker)
        return None
    except Exception as exc:
        beat.stop()
        message = str(exc) if isinstance(exc, StageError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, StageError):
            log.exception("stage %s of task %s crashed", stage, task_id)
        fail_task(task_id, f"{stage} failed: {message}", stage=stage, worker=worker)
        return None
    beat.stop()
    emit_event(
        task,
        f"stage {stage} finished in {time.monotonic() - started:.1f}s",
        stage=stage,
        data={"duration_s": round(time.monotonic() - started, 3)},
    )
    # a stage may send the task back to an earlier stage (the model's feedback rounds)
    following = goto if goto in STAGES else next_stage(stage)
    if following is None:
        finish_done(task_id, worker)
        return None
    handed = Task.objects.filter(pk=task_id, claimed_by=worker, cancel_requested=False).update(
        queued_stage=following, claimed_by="", heartbeat_at=timezone.now()
    )
    if not handed:
        if Task.objects.filter(pk=task_id, cancel_requested=True).exists():
            mark_cancelled(task_id, worker)
        return None
    return following


def _terminal(task_id: int, status: str, worker: str | None, error: str = "") -> Task | None:
    qs = Task.objects.filter(pk=task_id).exclude(status__in=Task.TERMINAL)
    if worker is not None:
        # only while this worker still holds the claim: a rerun or another worker may
        # own the row by now
        qs = qs.filter(claimed_by=worker)
    changed = qs.update(
        status=status,
        error=redact(error),
        queued_stage="",
        claimed_by="",
        finished_at=timezone.now(),
    )
    if not changed:
        return None
    task = Task.objects.select_related("project").get(pk=task_id)
    lanes = dict(task.lanes)
    for lane, entry in lanes.items():
        if entry.get("status") in ("pending", "running"):
            set_lane(task, lane, "failed" if status == "failed" else "cancelled")
    task.refresh_from_db()
    return task


def _close(task: Task, message: str, level: str = "info") -> None:
    from agents_app import triager

    try:
        triager.write_report(task)
    except Exception:
        log.exception("could not write the report of task %s", task.pk)
    if task.worktree:
        git.remove_worktree(task.project.repo, task.worktree_path)
    from agents_app.runtime import release_scratch

    release_sandbox(task)
    release_scratch(task)
    emit_event(task, message, kind="status", level=level, data={"status": task.status})


def release_sandbox(task: Task) -> None:
    """Remove the task's sandbox session (its container), whatever state it is in."""
    backend = (task.sandbox or {}).get("backend")
    if backend in (None, "none", "bwrap"):
        return
    try:
        from agents_app.runtime import session_key
        from agents_app.sandbox import get_sandbox

        get_sandbox(backend).release(session_key(task.pk))
    except Exception as exc:  # the orphan reaper removes it later; never block the end
        log.warning("could not release the sandbox of task %s: %s", task.pk, exc)


def finish_done(task_id: int, worker: str | None = None) -> None:
    if task := _terminal(task_id, Task.Status.DONE, worker):
        _close(task, f"task done in {task.duration_s:.1f}s; report: {task.workspace}/report.md")


def fail_task(task_id: int, error: str, *, stage: str = "", worker: str | None = None) -> None:
    if task := _terminal(task_id, Task.Status.FAILED, worker, error=error):
        _close(task, f"task failed: {error}", level="error")


def mark_cancelled(task_id: int, worker: str | None = None) -> None:
    if task := _terminal(task_id, Task.Status.CANCELLED, worker, error=""):
        _close(task, "task cancelled")


def finish_cancelled(task: Task) -> None:
    """Close a task that the services layer cancelled before any worker claimed it."""
    task.refresh_from_db()
    for lane, entry in task.lanes.items():
        if entry.get("status") in ("pending", "running"):
            set_lane(task, lane, "cancelled")
    _close(task, "task cancelled")


def run_to_end(task_id: int) -> Task:
    """Run every queued stage of a task in this process (the foreground CLI path)."""
    worker = worker_name()
    while True:
        task = Task.objects.get(pk=task_id)
        if task.is_terminal or not task.queued_stage:
            return task
        run_stage(task_id, task.queued_stage, worker=worker)


def reap_stale_tasks(stale_after_s: int | None = None, *, requeue: bool = True) -> list[int]:
    """Fail tasks whose running stage stopped sending heartbeats (a crashed worker), and
    queue again a stage whose job was lost between two stages."""
    stale_after_s = stale_after_s or settings.TFACTORY_STALE_AFTER_S
    cutoff = timezone.now() - timedelta(seconds=stale_after_s)
    reaped = []
    for task in Task.objects.filter(status__in=ACTIVE, heartbeat_at__lt=cutoff).exclude(
        claimed_by=""
    ):
        error = (
            f"the worker running stage {task.status} stopped responding "
            f"(no heartbeat for over {stale_after_s}s); rerun the task"
        )
        # conditional on the same claim: a stage that just finished is left alone
        qs = Task.objects.filter(pk=task.pk, claimed_by=task.claimed_by, heartbeat_at__lt=cutoff)
        if qs.update(claimed_by=REAPED):
            fail_task(task.pk, error, stage=task.status, worker=REAPED)
            reaped.append(task.pk)
    if requeue:
        for task in (
            Task.objects.filter(claimed_by="", heartbeat_at__lt=cutoff, cancel_requested=False)
            .exclude(queued_stage="")
            .exclude(status__in=Task.TERMINAL)
        ):
            if not _job_pending(task.pk, task.queued_stage):
                from agents_app.jobs import enqueue_stage

                Task.objects.filter(pk=task.pk).update(heartbeat_at=timezone.now())
                emit_event(task, f"the job for stage {task.queued_stage} was lost; queued again")
                enqueue_stage(task.pk, task.queued_stage)
    reap_orphan_sandboxes()
    close_old_connections()
    return reaped


def reap_orphan_sandboxes() -> list[str]:
    """Remove sandbox containers of this installation's ended (or vanished) tasks —
    left behind when a worker crashed before it could remove them."""
    from agents_app.runtime import task_of_session
    from agents_app.sandbox import SandboxError
    from agents_app.sandbox.docker import docker_problem, reap_orphan_containers

    if docker_problem() is not None:
        return []

    def is_live(key: str) -> bool:
        task_id = task_of_session(key)
        if task_id is None:
            return True  # another installation's: not ours to judge
        return Task.objects.filter(pk=task_id).exclude(status__in=Task.TERMINAL).exists()

    try:
        removed = reap_orphan_containers(is_live=is_live)
    except SandboxError:
        log.exception("could not reap orphan sandbox containers")
        return []
    if removed:
        log.warning("removed orphan sandbox containers: %s", ", ".join(removed))
    return removed


REAPED = "reaper"


def _job_pending(task_id: int, stage: str) -> bool:
    """Whether django-q2's ORM queue still holds the job for this stage."""
    from django_q.models import OrmQ

    name = f"task-{task_id}-{stage}"
    for item in OrmQ.objects.all():
        try:
            if item.name() == name:
                return True
        except Exception:  # noqa: S112 - an unreadable queue entry is not ours
            continue
    return False
