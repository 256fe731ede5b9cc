"""The pipeline's rows in the admin: shown, never edited (tasks_app.admin.ReadOnly)."""

from django.contrib import admin

from agents_app.models import GeneratedTest, PlanSubtask, TestPlan
from tasks_app.admin import ReadOnly


class PlanSubtaskInline(ReadOnly, admin.TabularInline):
    model = PlanSubtask
    extra = 0
    fields = ("subtask_id", "phase", "lane", "target", "criterion_id", "status")
    readonly_fields = fields


@admin.register(TestPlan)
class TestPlanAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("id", "task", "created_at")
    inlines = [PlanSubtaskInline]


@admin.register(PlanSubtask)
class PlanSubtaskAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("subtask_id", "plan", "lane", "target", "criterion_id", "status")
    list_filter = ("lane", "status")
    search_fields = ("target", "criterion_text")


@admin.register(GeneratedTest)
class GeneratedTestAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("test_id", "task", "lane", "engine", "verdict", "runs_passed", "lines_added")
    list_filter = ("verdict", "lane", "engine", "task__project")
    search_fields = ("test_id", "target", "code", "=task__id")
    list_select_related = ("task",)
