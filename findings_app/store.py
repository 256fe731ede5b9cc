"""A task's findings in the database: compared with the project's earlier tasks, with the
project's triage decisions applied, ranked, and read back for reports.

- new / unchanged: whether an earlier task of the project had the same fingerprint
  (`duplicate_of` is then the project's first finding with it);
- fixed: findings of the spec's previous run (else the branch's) that this task no longer
  has, for the lanes that ran in both;
- triage: a false positive or an accepted risk stays decided for every later task.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from findings_app.models import SUPPRESSED, Comparison, Finding, Triage, TriageState
from findings_app.record import RawFinding, rank_key
from tasks_app.models import Task

FIELDS = (
    "lane", "tool", "tool_version", "tools", "rule_id", "category", "title", "description",
    "severity", "score", "confidence", "cwe", "vulnerability_ids", "aliases", "file",
    "line_start", "line_end", "snippet", "component", "component_version", "fixed_versions",
    "references", "fingerprint", "introduced", "extra",
)  # fmt: skip


def previous_run(task: Task) -> Task | None:
    """The task this one is compared with for "fixed": the spec's previous run, else the
    previous run on the same branch."""
    earlier = Task.objects.filter(project_id=task.project_id, pk__lt=task.pk).exclude(
        status__in=[Task.Status.CANCELLED]
    )
    return (
        earlier.filter(spec_id=task.spec_id).order_by("-pk").first()
        or earlier.filter(branch=task.branch).order_by("-pk").first()
    )


@transaction.atomic
def save(task: Task, findings: list[RawFinding]) -> list[Finding]:
    """Make the task's findings these (fingerprinted) ones. A finding the task already has
    (same fingerprint) keeps its row and id; the others are added or removed."""
    prints = [f.fingerprint for f in findings]
    if len(set(prints)) != len(prints) or not all(prints):
        raise ValueError("findings must have distinct fingerprints before they are saved")
    triage = {
        t.fingerprint: t
        for t in Triage.objects.filter(project_id=task.project_id, fingerprint__in=prints)
    }
    first_seen: dict[str, Finding] = {}
    for row in (
        Finding.objects.filter(project_id=task.project_id, fingerprint__in=prints, task__lt=task.pk)
        .order_by("task_id", "pk")
        .only("pk", "fingerprint", "duplicate_of_id", "task_id")
    ):
        first_seen.setdefault(row.fingerprint, row)

    def order(f: RawFinding) -> tuple:
        decided = triage.get(f.fingerprint)
        return (decided is not None and decided.state in SUPPRESSED, *rank_key(f))

    existing = {row.fingerprint: row for row in Finding.objects.filter(task=task)}
    Finding.objects.filter(task=task).exclude(fingerprint__in=prints).delete()
    rows = []
    for rank, f in enumerate(sorted(findings, key=order), start=1):
        earlier = first_seen.get(f.fingerprint)
        decided = triage.get(f.fingerprint)
        row = existing.get(f.fingerprint) or Finding(task=task, project_id=task.project_id)
        row.rank = rank
        row.comparison = Comparison.UNCHANGED if earlier else Comparison.NEW
        row.duplicate_of_id = (earlier.duplicate_of_id or earlier.pk) if earlier else None
        row.triage_state = decided.state if decided else TriageState.OPEN
        row.triage_note = decided.note if decided else ""
        for name in FIELDS:
            setattr(row, name, getattr(f, name))
        row.save()
        rows.append(row)
    return rows


def fixed_since(task: Task, lanes: set[str]) -> tuple[Task | None, list[Finding]]:
    """(the previous run, its findings of these lanes that this task no longer has)."""
    before = previous_run(task)
    if before is None or not lanes:
        return before, []
    now = set(Finding.objects.filter(task=task).values_list("fingerprint", flat=True))
    gone = Finding.objects.filter(task=before, lane__in=lanes).exclude(fingerprint__in=now)
    return before, list(gone.order_by("rank"))


def entry(row: Finding) -> dict[str, Any]:
    """A finding as report.json lists it."""
    return {
        "id": row.pk,
        "task_id": row.task_id,
        "fingerprint": row.fingerprint,
        "rank": row.rank,
        "lane": row.lane,
        "tool": row.tool,
        "tool_version": row.tool_version,
        "tools": row.tools,
        "rule_id": row.rule_id,
        "category": row.category,
        "title": row.title,
        "message": row.title,
        "description": row.description,
        "severity": row.severity,
        "score": row.score,
        "confidence": row.confidence,
        "cwe": row.cwe,
        "vulnerability_ids": row.vulnerability_ids,
        "aliases": row.aliases,
        "file": row.file or None,
        "line": row.line_start,
        "line_end": row.line_end,
        "snippet": row.snippet,
        "component": row.component or None,
        "version": row.component_version or None,
        "fixed_versions": row.fixed_versions,
        "references": row.references,
        "introduced": row.introduced,
        "comparison": row.comparison,
        "duplicate_of": row.duplicate_of_id,
        "triage": {"state": row.triage_state, "note": row.triage_note},
        **({"commit": row.extra["commit"]} if row.extra.get("commit") else {}),
    }


@transaction.atomic
def set_triage(finding: Finding, state: str, note: str = "", decided_by: str = "") -> list[int]:
    """Record a decision for the finding's fingerprint in its project and apply it to
    every finding with that fingerprint; returns the ids of the tasks touched."""
    if state not in TriageState.values:
        raise ValueError(f"triage state {state!r} is not one of {', '.join(TriageState.values)}")
    if state == TriageState.OPEN:
        Triage.objects.filter(
            project_id=finding.project_id, fingerprint=finding.fingerprint
        ).delete()
        note = ""
    else:
        Triage.objects.update_or_create(
            project_id=finding.project_id,
            fingerprint=finding.fingerprint,
            defaults={
                "state": state,
                "note": note,
                "decided_by": decided_by,
                "decided_at": timezone.now(),
            },
        )
    same = Finding.objects.filter(project_id=finding.project_id, fingerprint=finding.fingerprint)
    tasks = sorted(set(same.values_list("task_id", flat=True)))
    same.update(triage_state=state, triage_note=note)
    return tasks
