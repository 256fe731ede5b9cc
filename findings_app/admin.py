from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from findings_app.models import Finding, Triage, TriageState
from tasks_app import services


def _triage_action(state: str, label: str) -> Callable[..., None]:
    def action(admin_: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Finding]) -> None:
        done, refused = 0, []
        note = f"{label} in the admin by {request.user.get_username()}"
        for finding in queryset.order_by("pk"):
            try:
                services.triage_finding(
                    finding.pk, state, note, decided_by=request.user.get_username()
                )
                done += 1
            except services.HandoverError as exc:
                refused.append(f"finding {finding.pk}: {exc}")
        if done:
            admin_.message_user(request, f"{done} finding(s) {label.lower()}.", messages.SUCCESS)
        if refused:
            admin_.message_user(request, "; ".join(refused), messages.WARNING)

    action.__name__ = f"triage_{state}"
    return admin.action(description=f"{label} (this and later tasks)")(action)


@admin.register(Finding)
class FindingAdmin(admin.ModelAdmin):
    list_display = (
        "id", "task", "rank", "severity", "confidence", "lane", "rule_id", "title", "file",
        "line_start", "component", "introduced", "comparison", "triage_state",
    )  # fmt: skip
    list_filter = (
        "lane", "severity", "confidence", "triage_state", "comparison", "introduced", "project",
    )  # fmt: skip
    search_fields = ("title", "rule_id", "file", "component", "fingerprint", "=task__id")
    list_select_related = ("task",)
    readonly_fields = [f.name for f in Finding._meta.fields]
    actions = [
        _triage_action(TriageState.FALSE_POSITIVE, "Marked false positive"),
        _triage_action(TriageState.RISK_ACCEPTED, "Marked risk accepted"),
        _triage_action(TriageState.OPEN, "Opened again"),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Triage)
class TriageAdmin(admin.ModelAdmin):
    list_display = ("project", "fingerprint", "state", "decided_by", "decided_at", "note")
    list_filter = ("state", "project")
    search_fields = ("fingerprint", "note", "decided_by")
