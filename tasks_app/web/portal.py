"""What the portal shows of a task beyond its row: the report's panels, the stage
timeline, the live log's first rows, and files from the task's folder.

Only reads. Writes (rerun, cancel, new projects) go through tasks_app.services. Files
are read from the task's own folder through tasks_app.core.safe_fs (no symlinks, no '..',
regular files only), and only for the newest run of a spec: older runs' folders were
archived, and the spec's folder now holds the newer run's files.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

from tasks_app import services
from tasks_app.core import safe_fs
from tasks_app.models import Task, TaskEvent

# the in-flight statuses in the order a run goes through them, then how it ends
STAGES = [s for s in Task.Status.values if s not in Task.TERMINAL]
LOG_ROWS = 500  # the live log shows the last this many lines; the API has them all
FILE_LIMIT = 1_000_000
VERDICT_ORDER = {"accept": 0, "flag": 1, "pending": 2, "reject": 3}

# markdown-it's "js-default": raw HTML is escaped, not passed through, and links with
# javascript:, vbscript:, file: or data: (other than images) URLs are left as text
_markdown = MarkdownIt("js-default")


class FileRefused(Exception):
    """A file the code viewer will not show: outside the task's folder, a link, missing."""


def render_markdown(text: str) -> SafeString:
    return mark_safe(_markdown.render(text))  # noqa: S308 - html is off: everything is escaped


def is_latest_run(task: Task) -> bool:
    latest = Task.objects.filter(project_id=task.project_id, spec_id=task.spec_id).order_by("-pk")
    return latest.values_list("pk", flat=True).first() == task.pk


def load_report(task: Task) -> tuple[dict[str, Any] | None, str]:
    """report.json, or None and why there is none."""
    try:
        report = services.read_report(task.pk, "json")
    except services.HandoverError as exc:
        return None, str(exc)
    except (OSError, ValueError) as exc:
        return None, f"report.json of task {task.pk} could not be read: {exc}"
    if not isinstance(report, dict):
        return None, f"report.json of task {task.pk} is not an object"
    return report, ""


def load_report_md(task: Task) -> SafeString | None:
    try:
        text = services.read_report(task.pk, "md")
    except (services.HandoverError, OSError, ValueError):
        return None
    return render_markdown(str(text))


def log_rows(task: Task) -> list[TaskEvent]:
    return list(task.events.order_by("-id")[:LOG_ROWS])[::-1]


# ---------------------------------------------------------------- timeline


@dataclass
class Step:
    name: str
    state: str  # done | current | skipped | todo | failed | cancelled
    at: datetime | None = None
    duration_s: float | None = None


def timeline(task: Task) -> list[Step]:
    """The stages of the task's latest run, from its status events: when each began,
    how long it took, where the run is or where it stopped."""
    events = list(task.events.filter(kind=TaskEvent.Kind.STATUS).order_by("id"))
    # a rerun starts again at pending; the timeline shows the latest run
    starts = [i for i, e in enumerate(events) if _status_of(e) == Task.Status.PENDING]
    if starts:
        events = events[starts[-1] :]
    reached: dict[str, datetime] = {}
    for event in events:
        status = _status_of(event)
        if status in STAGES:
            reached.setdefault(status, event.created_at)
    if task.status in STAGES:
        reached.setdefault(task.status, task.updated_at)
    furthest = max((STAGES.index(s) for s in reached), default=0)
    stopped = task.status in (Task.Status.FAILED, Task.Status.CANCELLED)
    times = sorted(reached.values())
    steps = []
    for i, stage in enumerate(STAGES):
        at = reached.get(stage)
        if task.status == stage:
            state = "current"
        elif stopped and i == furthest:
            state = str(task.status)
        elif at is not None and (i < furthest or task.status == Task.Status.DONE):
            state = "done"
        elif at is None and (i < furthest or task.status == Task.Status.DONE):
            state = "skipped"
        else:
            state = "todo"
        duration = None
        if at is not None:
            later = [t for t in times if t > at]
            end = later[0] if later else (task.finished_at or timezone.now())
            duration = round(max((end - at).total_seconds(), 0.0), 1)
        steps.append(Step(stage, state, at, duration))
    if task.is_terminal:
        steps.append(Step(str(task.status), str(task.status), task.finished_at))
    else:
        steps.append(Step(Task.Status.DONE, "todo"))
    return steps


def _status_of(event: TaskEvent) -> str | None:
    data = event.data if isinstance(event.data, dict) else {}
    status = data.get("status")
    return status if isinstance(status, str) else None


# ---------------------------------------------------------------- report panels


@dataclass
class Lane:
    name: str
    status: str
    summary: str
    duration_s: float | None


def lanes(task: Task, report: dict[str, Any] | None) -> list[Lane]:
    """The lanes this task has (a lane the pipeline has not built is not listed): the
    task's own record first, the report's for what it lacks."""
    from_report = (report or {}).get("lanes") or {}
    names = list(task.lanes or {}) + [n for n in from_report if n not in (task.lanes or {})]
    order = {name: i for i, name in enumerate(services.LANES)}
    names.sort(key=lambda n: (order.get(n, len(order)), n))
    result = []
    for name in names:
        entry = (task.lanes or {}).get(name) or from_report.get(name) or {}
        if not isinstance(entry, dict):
            entry = {}
        result.append(
            Lane(
                name=name,
                status=str(entry.get("status") or "pending"),
                summary=str(entry.get("summary") or ""),
                duration_s=entry.get("duration_s"),
            )
        )
    return result


def findings_of_lane(task: Task, lane: str) -> list[Any]:
    """The task's findings of one security lane, in rank order."""
    if lane not in services.SECURITY_LANES:
        return []
    return services.list_findings(task.pk, lane=lane)


def findings_counts(task: Task) -> dict[str, Any]:
    """Open findings by severity (most severe first), and how many are triaged away."""
    rows = list(task.findings.values_list("severity", "triage_state"))
    open_ = [sev for sev, state in rows if state == "open"]
    order = ("critical", "high", "medium", "low", "info")
    return {
        "open": len(open_),
        "suppressed": len(rows) - len(open_),
        "by_severity": [(sev, open_.count(sev)) for sev in order if open_.count(sev)],
    }


def tests_of_lane(report: dict[str, Any] | None, lane: str) -> list[dict[str, Any]]:
    """The report's tests of one lane, accepted first, each with the name of its test
    function for the code viewer."""
    tests = [t for t in (report or {}).get("tests") or [] if isinstance(t, dict)]
    tests = [t for t in tests if t.get("lane", "functional") == lane]
    rows = []
    for test in tests:
        test_id = str(test.get("test_id", ""))
        runs = test.get("runs") if isinstance(test.get("runs"), dict) else {}
        rows.append(
            {
                **test,
                # the top-level function or class in its file (file::name or file::Class::name)
                "name": test_id.split("::")[1] if "::" in test_id else "",
                "short_id": test_id.rsplit("/", 1)[-1],
                "criteria": test.get("criteria")
                or ([test["criterion"]] if test.get("criterion") else []),
                "runs": runs,
                "reasons": [str(r) for r in test.get("reasons") or []],
            }
        )
    rows.sort(key=lambda t: VERDICT_ORDER.get(str(t.get("verdict")), 9))
    return rows


def verdict_counts(report: dict[str, Any] | None) -> dict[str, int]:
    counts = {"accept": 0, "flag": 0, "reject": 0}
    for test in (report or {}).get("tests") or []:
        if isinstance(test, dict) and test.get("verdict") in counts:
            counts[test["verdict"]] += 1
    return counts


def criteria_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        status = str(row.get("status") or "unverified")
        counts[status] = counts.get(status, 0) + 1
    return counts


def coverage(report: dict[str, Any] | None) -> dict[str, Any] | None:
    cov = (report or {}).get("coverage")
    if not isinstance(cov, dict) or not isinstance(cov.get("before"), dict):
        return None
    after = cov.get("after") if isinstance(cov.get("after"), dict) else {}
    rows = []
    for key, label, total in (
        ("line_pct", "lines", cov.get("changed_lines")),
        ("branch_pct", "branches", cov.get("changed_branches")),
    ):
        before, now = _pct(cov["before"].get(key)), _pct(after.get(key))
        if before is None and now is None and not cov["before"].get("unknown"):
            continue
        rows.append({"label": label, "total": total, "before": before, "after": now})
    return {
        "rows": rows,
        "uncovered_after": cov.get("uncovered_after") or "",
        "before_unknown": str(cov["before"].get("unknown") or ""),
        "after_unknown": str(after.get("unknown") or ""),
    }


def _pct(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return round(min(max(float(value), 0.0), 100.0), 1)


# the gauge: a half circle of radius 50 centred on (60, 60), drawn left to right
GAUGE_R, GAUGE_CX, GAUGE_CY = 50, 60, 60


def mutation(report: dict[str, Any] | None) -> dict[str, Any] | None:
    mut = (report or {}).get("mutation")
    if not isinstance(mut, dict):
        return None
    before = mut.get("before") if isinstance(mut.get("before"), dict) else {}
    after = mut.get("after") if isinstance(mut.get("after"), dict) else {}
    score, score_before = _pct(after.get("score")), _pct(before.get("score"))
    survivors = []
    for s in mut.get("survivors") or []:
        if not isinstance(s, dict):
            continue
        lines = [
            {"text": line, "kind": {"-": "del", "+": "add"}.get(line[:1], "ctx")}
            for line in str(s.get("snippet") or "").splitlines()
        ]
        survivors.append({**s, "lines": lines})
    return {
        "mutants": mut.get("mutants"),
        "tested": mut.get("tested"),
        "before": before,
        "after": after,
        "score": score,
        "score_before": score_before,
        "tick": _gauge_point(score_before) if score_before is not None else None,
        "survivors": survivors,
        "survivors_total": mut.get("survivors_total", len(survivors)),
        "note": mut.get("note") or "",
        "report": mut.get("report") or "",
        "before_unknown": str(before.get("unknown") or ""),
    }


def _gauge_point(pct: float) -> dict[str, float]:
    """Where on the gauge's arc `pct` falls, and a point just outside it (a tick mark)."""
    angle = math.pi * (1 - pct / 100)
    cos, sin = math.cos(angle), math.sin(angle)
    return {
        "x1": round(GAUGE_CX + (GAUGE_R - 9) * cos, 2),
        "y1": round(GAUGE_CY - (GAUGE_R - 9) * sin, 2),
        "x2": round(GAUGE_CX + (GAUGE_R + 9) * cos, 2),
        "y2": round(GAUGE_CY - (GAUGE_R + 9) * sin, 2),
    }


def criteria(report: dict[str, Any] | None) -> list[dict[str, Any]]:
    rows = []
    for c in (report or {}).get("criteria") or []:
        if isinstance(c, dict):
            text = str(c.get("text") or "")
            title, _, rest = text.partition("\n")
            rows.append({**c, "title": title, "rest": rest, "count": len(c.get("tests") or [])})
    return rows


# ---------------------------------------------------------------- files


def read_task_file(task: Task, rel: str) -> str:
    """A text file from the task's folder. FileRefused for anything else: an absolute
    path, '..', a symlink anywhere on the way, a special file, a file too large, a task
    whose folder now holds a newer run's files."""
    if not task.workspace or not is_latest_run(task):
        raise FileRefused(f"task {task.pk}'s files were archived; a newer run holds its folder")
    if not rel or "\x00" in rel or "\\" in rel:
        raise FileRefused("no such file in the task's folder")
    path = PurePosixPath(rel)
    if path.is_absolute() or ".." in path.parts:
        raise FileRefused("no such file in the task's folder")
    root = Path(task.workspace)
    # the folder itself is TFactory's; below it nothing is followed (safe_fs refuses
    # links), and what it names must still resolve inside it
    try:
        inside = (root / path).resolve().is_relative_to(root.resolve())
        if not inside:
            raise FileRefused("no such file in the task's folder")
        return safe_fs.read_text(root, str(path), limit=FILE_LIMIT)
    except (safe_fs.UnsafePath, OSError) as exc:
        raise FileRefused("no such file in the task's folder") from exc


def test_function_source(source: str, name: str) -> str | None:
    """The source of the top-level test function (or test class) `name`, decorators
    included; None when the file does not parse or has no such function."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    lines = source.splitlines()
    for node in tree.body:
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and node.name == name
        ):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            return "\n".join(lines[start - 1 : node.end_lineno])
    return None
