"""The reaper: what a crashed worker leaves behind is put right on a schedule.

A task whose running stage stopped sending heartbeats is failed with a sentence; a stage
whose job was lost between two stages is queued again; sandbox containers of ended tasks
are removed. It runs as the scheduled job agents_app.jobs.reap_job, and once before a
foreground run.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from agents_app.env.runtime import task_of_session
from agents_app.pipeline.queue import enqueue_stage, job_pending
from agents_app.pipeline.runner import fail_task
from agents_app.sandbox import SandboxError
from agents_app.sandbox.docker import docker_problem, reap_orphan_containers
from agents_app.stages import STAGES
from tasks_app.core.events import emit_event
from tasks_app.models import Task

log = logging.getLogger(__name__)

# the claim the reaper takes on a stale task before failing it
REAPED = "reaper"


def reap_stale_tasks(stale_after_s: int | None = None, *, requeue: bool = True) -> list[int]:
    """Fail tasks whose running stage stopped sending heartbeats (a crashed worker), and
    queue again a stage whose job was lost between two stages."""
    stale_after_s = stale_after_s or settings.TFACTORY_STALE_AFTER_S
    cutoff = timezone.now() - timedelta(seconds=stale_after_s)
    reaped = []
    for task in Task.objects.filter(status__in=STAGES, heartbeat_at__lt=cutoff).exclude(
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
            if not job_pending(task.pk, task.queued_stage):
                Task.objects.filter(pk=task.pk).update(heartbeat_at=timezone.now())
                emit_event(task, f"the job for stage {task.queued_stage} was lost; queued again")
                enqueue_stage(task.pk, task.queued_stage)
    reap_orphan_sandboxes()
    close_old_connections()
    return reaped


def reap_orphan_sandboxes() -> list[str]:
    """Remove sandbox containers of this installation's ended (or vanished) tasks —
    left behind when a worker crashed before it could remove them."""
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
