"""The job queue: the only module that talks to django-q2.

One durable job per stage, named task-<id>-<stage>. Workers get ids, never model
instances. The job's dotted path (agents_app.jobs.stage_job) is stored in queued rows, so
it stays where it is.
"""

from __future__ import annotations

from django_q.tasks import async_task

STAGE_JOB = "agents_app.jobs.stage_job"


def job_name(task_id: int, stage: str) -> str:
    return f"task-{task_id}-{stage}"


def enqueue_stage(task_id: int, stage: str) -> str:
    return async_task(
        STAGE_JOB,
        task_id,
        stage,
        task_name=job_name(task_id, stage),
        group=f"task-{task_id}",
    )


def job_pending(task_id: int, stage: str) -> bool:
    """Whether django-q2's ORM queue still holds the job for this stage."""
    from django_q.models import OrmQ

    name = job_name(task_id, stage)
    for item in OrmQ.objects.all():
        try:
            if item.name() == name:
                return True
        except Exception:  # noqa: S112 - an unreadable queue entry is not ours
            continue
    return False
