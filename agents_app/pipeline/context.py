"""What a stage is given: the task, an `emit` callable, a cancel flag, its sandbox.

Stages and lanes import this module, never the runner: a stage does its work and returns
(or raises StageError / Cancelled); claiming, heartbeats and the next stage are the
runner's business.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from agents_app.sandbox import Limits, get_sandbox
from tasks_app.core.events import Emitter, emit_event
from tasks_app.core.workspace import Workspace
from tasks_app.models import Task, TaskEvent


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
