"""Tasks for the portal tests: a real handover of the bundled example (nothing run),
made to look finished with a real run's files (tests/data/portal), or running."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

from django.utils import timezone

from tasks_app.core.events import emit_event
from tasks_app.models import Task, TaskEvent
from tests.conftest import ROOT

DATA = ROOT / "tests" / "data" / "portal"
# when each stage began, in seconds after the start, as in the demo run the data is from
STAGE_OFFSETS = {
    "planning": 0.0,
    "generating": 0.1,
    "running": 199.3,
    "evaluating": 204.6,
    "triaging": 206.7,
    "delivering": 206.8,
}
DURATION_S = 207.0


def demo_report() -> dict:
    return json.loads((DATA / "report.json").read_text())


def copy_demo_files(task: Task) -> None:
    """The demo run's report, test plan and generated tests, into the task's folder."""
    ws = Path(task.workspace)
    for src in DATA.rglob("*"):
        if not src.is_file() or src.name == "README.md":
            continue
        rel = src.relative_to(DATA)
        dest = ws / (str(rel).removesuffix(".txt") if src.suffix == ".txt" else rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)


def finish_like_the_demo(task: Task) -> Task:
    """Make a handed-over task look like the demo's finished run: its files, its lanes,
    and a status event per stage at the demo's times."""
    copy_demo_files(task)
    report = demo_report()
    finished = timezone.now()
    started = finished - timedelta(seconds=DURATION_S)
    # the handover's own status row (pending) comes first, as in the demo run
    task.events.filter(kind=TaskEvent.Kind.STATUS).update(created_at=started - timedelta(seconds=1))
    for stage, offset in STAGE_OFFSETS.items():
        _event_at(task, f"stage {stage} started", started + timedelta(seconds=offset), stage)
    emit_event(task, "lane functional: done — " + report["lanes"]["functional"]["summary"])
    Task.objects.filter(pk=task.pk).update(
        status=Task.Status.DONE,
        queued_stage="",
        lanes=report["lanes"],
        started_at=started,
        finished_at=finished,
    )
    task.refresh_from_db()
    done = emit_event(
        task,
        f"task done in {DURATION_S:.1f}s; report: {Path(task.workspace) / 'report.md'}",
        kind="status",
        data={"status": "done"},
    )
    TaskEvent.objects.filter(pk=done.pk).update(created_at=finished)
    return task


def start_running(task: Task, stage: str = Task.Status.GENERATING) -> Task:
    """A task a worker is on: its planning done, `stage` under way."""
    for name in STAGES_BEFORE[stage] + [stage]:
        emit_event(task, f"stage {name} started", kind="status", stage=name, data={"status": name})
    Task.objects.filter(pk=task.pk).update(
        status=stage,
        queued_stage="",
        claimed_by="worker-test",
        heartbeat_at=timezone.now(),
        started_at=timezone.now(),
    )
    task.refresh_from_db()
    return task


STAGES_BEFORE = {
    "planning": [],
    "generating": ["planning"],
    "running": ["planning", "generating"],
}


def _event_at(task: Task, message: str, at, stage: str) -> None:
    event = emit_event(task, message, kind="status", stage=stage, data={"status": stage})
    TaskEvent.objects.filter(pk=event.pk).update(created_at=at)
