"""Findings of the security lanes (SAST, dependencies, secrets), one model for every lane.

The fields follow DefectDojo's finding and SARIF's result: what was found (tool, rule,
title, severity, CWE, advisory ids), where (file and lines, or a dependency and its
version), how sure (confidence), how it is recognised again (a fingerprint that survives
line shifts), how it relates to other tasks of the project (new or unchanged, the first
finding it duplicates) and what a person decided about it (triage). Secret values are
never stored: a finding of a secret holds a keyed hash of it and a redacted snippet.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from tasks_app.models import Project, Task


class Severity(models.TextChoices):
    INFO = "info", "Info"
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


class Confidence(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


CONFIDENCE_RANK = {"low": 0, "medium": 1, "high": 2}


class TriageState(models.TextChoices):
    OPEN = "open", "Open"
    FALSE_POSITIVE = "false_positive", "False positive"
    RISK_ACCEPTED = "risk_accepted", "Risk accepted"


SUPPRESSED = (TriageState.FALSE_POSITIVE, TriageState.RISK_ACCEPTED)


class Comparison(models.TextChoices):
    NEW = "new", "New"  # no earlier task of the project had it
    UNCHANGED = "unchanged", "Unchanged"  # an earlier task of the project had it too


class Finding(models.Model):
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="findings")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="findings")
    lane = models.CharField(max_length=20, db_index=True)
    # the tool named first; `tools` lists every tool that reported it
    tool = models.CharField(max_length=50)
    tool_version = models.CharField(max_length=50, blank=True)
    tools = models.JSONField(default=list, blank=True)  # [{tool, version, rule_id}]
    rule_id = models.CharField(max_length=200)
    category = models.CharField(max_length=100, help_text="the kind of weakness, across tools")
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    score = models.FloatField(null=True, blank=True, help_text="0-10 (CVSS where known)")
    confidence = models.CharField(max_length=10, choices=Confidence.choices)
    cwe = models.JSONField(default=list, blank=True)  # [int]
    vulnerability_ids = models.JSONField(default=list, blank=True)
    aliases = models.JSONField(default=list, blank=True)
    file = models.CharField(max_length=1000, blank=True)
    line_start = models.PositiveIntegerField(null=True, blank=True)
    line_end = models.PositiveIntegerField(null=True, blank=True)
    snippet = models.TextField(blank=True)
    component = models.CharField(max_length=300, blank=True)
    component_version = models.CharField(max_length=100, blank=True)
    fixed_versions = models.JSONField(default=list, blank=True)
    references = models.JSONField(default=list, blank=True)
    fingerprint = models.CharField(max_length=64, db_index=True)
    duplicate_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="duplicates",
        help_text="the project's first finding with this fingerprint, in an earlier task",
    )
    comparison = models.CharField(max_length=10, choices=Comparison.choices)
    introduced = models.BooleanField(
        null=True, help_text="brought in by the branch (true) or already on the base (false)"
    )
    triage_state = models.CharField(
        max_length=20, choices=TriageState.choices, default=TriageState.OPEN
    )
    triage_note = models.TextField(blank=True)
    rank = models.PositiveIntegerField(default=0, help_text="1 = the most severe of its task")
    extra = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["task", "rank"]
        indexes = [models.Index(fields=["project", "fingerprint"])]
        constraints = [
            models.UniqueConstraint(fields=["task", "fingerprint"], name="one_finding_per_print")
        ]

    def __str__(self) -> str:
        where = f"{self.file}:{self.line_start}" if self.file else self.component
        return f"{self.severity} {self.rule_id} {where}"

    @property
    def suppressed(self) -> bool:
        return self.triage_state in SUPPRESSED


class Triage(models.Model):
    """A person's decision about a finding, kept per project and fingerprint so that later
    tasks honour it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="triages")
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=20, choices=TriageState.choices)
    note = models.TextField(blank=True)
    decided_by = models.CharField(max_length=150, blank=True)
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "fingerprint"], name="one_triage_per_print")
        ]

    def __str__(self) -> str:
        return f"{self.project_id} {self.fingerprint[:12]}: {self.state}"
