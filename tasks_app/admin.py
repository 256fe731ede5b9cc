from django.contrib import admin

from tasks_app.models import Project, Task, TaskEvent


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "repo_path", "default_base_ref", "created_at")
    search_fields = ("id", "name", "repo_path")


class TaskEventInline(admin.TabularInline):
    model = TaskEvent
    extra = 0
    can_delete = False
    fields = ("id", "created_at", "kind", "level", "stage", "message")
    readonly_fields = fields
    ordering = ("-id",)
    max_num = 0
    show_change_link = True


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "spec_id", "branch", "status", "mode", "created_at")
    list_filter = ("status", "project", "mode", "spec_source")
    search_fields = ("spec_id", "branch", "head_sha", "error")
    readonly_fields = ("created_at", "started_at", "finished_at", "updated_at", "heartbeat_at")
    inlines = [TaskEventInline]


@admin.register(TaskEvent)
class TaskEventAdmin(admin.ModelAdmin):
    list_display = ("id", "task", "created_at", "kind", "level", "stage", "message")
    list_filter = ("kind", "level", "stage")
    search_fields = ("message",)
    list_select_related = ("task",)
