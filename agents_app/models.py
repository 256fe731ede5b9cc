"""What the pipeline produces for a task: the test plan and the generated tests."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from tasks_app.models import Task


class TestPlan(models.Model):
    """The planner's output; `data` is the same document as test_plan.json."""

    __test__ = False  # not a pytest test class

    task = models.OneToOneField(Task, on_delete=models.CASCADE, related_name="plan")
    created_at = models.DateTimeField(default=timezone.now)
    data = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"plan for {self.task}"


class PlanSubtask(models.Model):
    plan = models.ForeignKey(TestPlan, on_delete=models.CASCADE, related_name="subtasks")
    subtask_id = models.CharField(max_length=100)
    phase = models.CharField(max_length=100)
    lane = models.CharField(max_length=20)
    target = models.CharField(max_length=500, help_text="path::qualname")
    criterion_id = models.CharField(max_length=50, blank=True)
    criterion_text = models.TextField(blank=True)
    command = models.TextField(blank=True)
    status = models.CharField(max_length=20, default="pending")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "subtask_id"], name="unique_subtask_per_plan")
        ]

    def __str__(self) -> str:
        return f"{self.subtask_id} {self.lane} {self.target}"


class GeneratedTest(models.Model):
    __test__ = False

    class Verdict(models.TextChoices):
        PENDING = "pending"
        ACCEPT = "accept"
        REJECT = "reject"
        FLAG = "flag"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="generated_tests")
    test_id = models.CharField(max_length=500, help_text="file::test_name, unique in the task")
    lane = models.CharField(max_length=20)
    engine = models.CharField(max_length=50)
    file = models.CharField(max_length=500, help_text="Relative to the task's folder")
    name = models.CharField(max_length=200)
    target = models.CharField(max_length=500, blank=True)
    criterion_ids = models.JSONField(default=list, blank=True)
    code = models.TextField(blank=True)
    verdict = models.CharField(
        max_length=10, choices=Verdict.choices, default=Verdict.PENDING, db_index=True
    )
    reasons = models.JSONField(default=list, blank=True)
    runs_passed = models.PositiveIntegerField(default=0)
    runs_failed = models.PositiveIntegerField(default=0)
    lines_added = models.PositiveIntegerField(default=0)
    branches_added = models.PositiveIntegerField(default=0)
    mutants_killed = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["task", "test_id"], name="unique_test_per_task")
        ]

    def __str__(self) -> str:
        return f"{self.test_id} ({self.verdict})"
