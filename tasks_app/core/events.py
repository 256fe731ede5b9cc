"""Every log line and status change of a task becomes a TaskEvent row.

Rows are the source of truth (the portal and API read them after a cursor); each line
is also appended to logs/<stage>.log in the task's folder for people and agents.
Secrets are redacted before anything is stored. After the row commits, a nudge goes to
the task's Channels group (tasks_app/core/live.py) so the portal's websocket sends it at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.utils import timezone

from tasks_app.core import live
from tasks_app.core.redaction import redact
from tasks_app.models import Task, TaskEvent

Listener = Callable[[TaskEvent], None]

_listeners: dict[int, list[Listener]] = {}
_lock = threading.Lock()


def add_listener(task_id: int, listener: Listener) -> None:
    with _lock:
        _listeners.setdefault(task_id, []).append(listener)


def remove_listener(task_id: int, listener: Listener) -> None:
    with _lock:
        if listener in _listeners.get(task_id, []):
            _listeners[task_id].remove(listener)


def emit_event(
    task: Task | int,
    message: str,
    *,
    kind: str = TaskEvent.Kind.LOG,
    level: str = "info",
    stage: str = "",
    data: dict[str, Any] | None = None,
) -> TaskEvent:
    task_id = task if isinstance(task, int) else task.pk
    message = redact(str(message))
    event = TaskEvent.objects.create(
        task_id=task_id, kind=kind, level=level, stage=stage, message=message, data=data or {}
    )
    # the portal's watchers read the row after it commits; the nudge only wakes them
    live.nudge(task_id, event.pk)
    workspace = (
        task.workspace
        if isinstance(task, Task)
        else Task.objects.filter(pk=task_id).values_list("workspace", flat=True).first()
    )
    if workspace and Path(workspace).is_dir():
        logs = Path(workspace) / "logs"
        logs.mkdir(exist_ok=True)
        stamp = timezone.localtime(event.created_at).strftime("%Y-%m-%dT%H:%M:%S")
        with open(logs / f"{stage or 'task'}.log", "a") as fh:
            fh.write(f"{stamp} {level.upper():7} {message}\n")
    with _lock:
        listeners = list(_listeners.get(task_id, []))
    for listener in listeners:
        listener(event)
    return event


class Emitter:
    """The `emit` callable a pipeline stage receives: bound to a task and a stage."""

    def __init__(self, task: Task, stage: str):
        self.task = task
        self.stage = stage

    def __call__(self, message: str, *, level: str = "info", **data: Any) -> None:
        emit_event(self.task, message, level=level, stage=self.stage, data=data or None)

    def warn(self, message: str, **data: Any) -> None:
        self(message, level="warning", **data)
