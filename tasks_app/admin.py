from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from tasks_app import services
from tasks_app.models import Project, PullRequestLink, Task, TaskEvent


class ReadOnly:
    """Task state is the pipeline's to write: the admin shows it, and its actions go
    through the services (the one write path), never through a change form."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "repo_path", "default_base_ref", "created_at")
    search_fields = ("id", "name", "repo_path", "git_url")


class TaskEventInline(ReadOnly, admin.TabularInline):
    model = TaskEvent
    extra = 0
    fields = ("id", "created_at", "kind", "level", "stage", "message")
    readonly_fields = fields
    ordering = ("-id",)
    show_change_link = True


def _each(
    request: HttpRequest,
    admin_: admin.ModelAdmin,
    queryset: QuerySet[Task],
    act: Callable[[Task], Task],
    done: str,
) -> None:
    """Run a service on each selected task; say how many it took and why it refused
    the others (the service's own sentence)."""
    took, refused = [], []
    for task in queryset.order_by("pk"):
        try:
            act(task)
        except services.HandoverError as exc:
            refused.append(f"task {task.pk}: {exc}")
        else:
            took.append(f"#{task.pk}")
    if took:
        admin_.message_user(
            request, f"{len(took)} task(s) {done}: {', '.join(took)}.", messages.SUCCESS
        )
    if refused:
        admin_.message_user(
            request, f"{len(refused)} refused — " + "; ".join(refused), messages.WARNING
        )


def _rerun_action(lane: str) -> Callable[..., None]:
    def action(admin_: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        _each(
            request,
            admin_,
            queryset,
            lambda task: services.rerun_lane(task.pk, lane),
            f"queued to rerun lane {lane}",
        )

    action.__name__ = f"rerun_{lane}"
    return admin.action(description=f"Rerun lane {lane}")(action)


@admin.register(Task)
class TaskAdmin(ReadOnly, admin.ModelAdmin):
    list_display = (
        "id",
        "project",
        "spec_id",
        "branch",
        "status",
        "lane_statuses",
        "mode",
        "created_at",
        "portal_link",
    )
    list_filter = ("status", "project", "mode", "spec_source", "created_at")
    search_fields = ("=id", "spec_id", "branch", "head_sha", "error", "project__id")
    list_select_related = ("project",)
    date_hierarchy = "created_at"
    inlines = [TaskEventInline]
    actions = [*(_rerun_action(lane) for lane in services.LANES), "cancel"]

    @admin.display(description="lanes")
    def lane_statuses(self, task: Task) -> str:
        return ", ".join(
            f"{name}: {(lane or {}).get('status', '?')}" for name, lane in task.lanes.items()
        )

    @admin.display(description="portal")
    def portal_link(self, task: Task) -> str:
        return format_html('<a href="{}">open</a>', reverse("task", args=[task.pk]))

    @admin.action(description="Cancel")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        _each(
            request,
            self,
            queryset,
            lambda task: services.cancel_task(task.pk),
            "cancelled (a running stage stops at its next check)",
        )


@admin.register(TaskEvent)
class TaskEventAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("id", "task", "created_at", "kind", "level", "stage", "message")
    list_filter = ("kind", "level", "stage", "task__project")
    search_fields = ("message", "=task__id")
    list_select_related = ("task",)


@admin.register(PullRequestLink)
class PullRequestLinkAdmin(admin.ModelAdmin):
    list_display = ("project", "spec_id", "repo_slug", "pr_number", "recorded_at")
    list_filter = ("project",)
    search_fields = ("spec_id", "repo_slug")
