"""django-q2 glue: one durable job per pipeline stage, plus the reaper.

Workers get ids, never model instances. `max_attempts` is 1 and every stage claims its
task with a conditional update, so a job delivered twice does nothing the second time.
"""

from __future__ import annotations

import logging

from django_q.tasks import async_task

from agents_app import pipeline

log = logging.getLogger(__name__)


def enqueue_stage(task_id: int, stage: str) -> str:
    return async_task(
        "agents_app.jobs.stage_job",
        task_id,
        stage,
        task_name=f"task-{task_id}-{stage}",
        group=f"task-{task_id}",
    )


def stage_job(task_id: int, stage: str) -> str | None:
    following = pipeline.run_stage(task_id, stage)
    if following:
        enqueue_stage(task_id, following)
    return following


def reap_job() -> list[int]:
    reaped = pipeline.reap_stale_tasks()
    if reaped:
        log.warning("reaped stale tasks: %s", reaped)
    return reaped
