"""django-q2's entry points, at the dotted paths stored in queued jobs and in the reaper's
Schedule row (agents_app.jobs.stage_job, agents_app.jobs.reap_job): keep them here.

Workers get ids, never model instances. `max_attempts` is 1 and every stage claims its
task with a conditional update, so a job delivered twice does nothing the second time.
"""

from __future__ import annotations

import logging

from agents_app.pipeline import queue, reaper, runner

log = logging.getLogger(__name__)


def stage_job(task_id: int, stage: str) -> str | None:
    following = runner.run_stage(task_id, stage)
    if following:
        queue.enqueue_stage(task_id, following)
    return following


def reap_job() -> list[int]:
    reaped = reaper.reap_stale_tasks()
    if reaped:
        log.warning("reaped stale tasks: %s", reaped)
    return reaped
