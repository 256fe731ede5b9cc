"""A task's security findings, and a person's triage of them (which holds for the same
finding in later tasks)."""

from __future__ import annotations

from agents_app.stages.report import write_report
from findings_app import store as findings_store
from findings_app.models import Finding, Severity, TriageState
from tasks_app.core.events import emit_event
from tasks_app.core.lanes import SECURITY_LANES
from tasks_app.models import Task
from tasks_app.services.errors import HandoverError
from tasks_app.services.tasks import by_number, get_task

FINDING_FILTERS = ("lane", "severity", "triage_state")


def list_findings(task_id: int | str, **filters: str | None) -> list[Finding]:
    """A task's findings, most severe first; filters: lane, severity, triage_state."""
    task = get_task(task_id)
    rows = Finding.objects.filter(task=task).order_by("rank")
    choices = {
        "lane": SECURITY_LANES,
        "severity": tuple(Severity.values),
        "triage_state": tuple(TriageState.values),
    }
    for name, value in filters.items():
        if name not in FINDING_FILTERS:
            raise HandoverError(f"unknown filter {name!r}; filters: {', '.join(FINDING_FILTERS)}")
        if value:
            if value not in choices[name]:
                raise HandoverError(
                    f"{name} {value!r} is not one of {', '.join(choices[name])}", name
                )
            rows = rows.filter(**{name: value})
    return list(rows)


def get_finding(finding_id: int | str) -> Finding:
    return by_number(Finding.objects.select_related("task"), finding_id, "finding")


def triage_finding(
    finding_id: int | str, state: str, note: str = "", decided_by: str = ""
) -> Finding:
    """Record a person's decision (false_positive, risk_accepted, or open to undo it) for
    the finding; it holds for every finding with the same fingerprint in the project,
    now and in later tasks. The reports of the finished tasks it touches are rewritten."""
    finding = get_finding(finding_id)
    if state not in TriageState.values:
        raise HandoverError(
            f"state {state!r} is not one of {', '.join(TriageState.values)}", "state"
        )
    if not isinstance(note, str) or len(note) > 2000:
        raise HandoverError("note must be text of at most 2000 characters", "note")
    if state != TriageState.OPEN and not note.strip():
        raise HandoverError("say why in a note: it stays with the finding for later tasks", "note")
    touched = findings_store.set_triage(finding, state, note.strip(), decided_by)
    for task in Task.objects.filter(pk__in=touched, status__in=Task.TERMINAL):
        latest = Task.objects.filter(project=task.project, spec_id=task.spec_id).order_by("-pk")[0]
        if latest.pk == task.pk:  # an archived run's folder is not the spec's any more
            write_report(task)
    emit_event(
        finding.task,
        f"finding {finding.pk} ({finding.rule_id}) triaged: {state}"
        + (f" by {decided_by}" if decided_by else ""),
        data={"finding": finding.pk, "state": state},
    )
    return get_finding(finding.pk)
