"""Runs a task's stages: claim, heartbeat, run, hand over to the next stage, and the end.

Planner -> generators -> executor -> evaluator -> triager -> delivery (in model mode the
evaluator may send the task back to the generators for a feedback round); the order is
the table in agents_app/stages. Each stage is one durable job; the same `run_stage` serves
the django-q2 workers and the foreground CLI. A stage gets a StageContext (the task, an
`emit` callable, a cancel flag) and never imports views or the services.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from django.conf import settings
from django.db import connection
from django.db.models.functions import Coalesce
from django.utils import timezone

from agents_app.env.runtime import release_scratch, session_key
from agents_app.pipeline.context import Cancelled, StageContext, StageError, set_lane
from agents_app.sandbox import get_sandbox
from agents_app.stages import STAGES, next_stage, stage_function
from agents_app.stages.report import write_report
from tasks_app.core import git
from tasks_app.core.events import Emitter, emit_event
from tasks_app.core.redaction import redact
from tasks_app.models import Task

log = logging.getLogger(__name__)


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
        goto = stage_function(stage)(ctx)
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
    try:
        write_report(task)
    except Exception:
        log.exception("could not write the report of task %s", task.pk)
    if task.worktree:
        git.remove_worktree(task.project.repo, task.worktree_path)
    release_sandbox(task)
    release_scratch(task)
    emit_event(task, message, kind="status", level=level, data={"status": task.status})


def release_sandbox(task: Task) -> None:
    """Remove the task's sandbox session (its container), whatever state it is in."""
    backend = (task.sandbox or {}).get("backend")
    if backend in (None, "none", "bwrap"):
        return
    try:
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
