"""Projects, tasks and the persisted event log of every task."""

from __future__ import annotations

import re
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.utils import timezone

# Ids end up in paths ($TFACTORY_HOME/workspaces/{project_id}/specs/{spec_id}/), so they
# are slugs: letters, digits, '.', '_' and '-', starting with a letter or digit, no '..'.
SLUG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def slug_problem(value: object, what: str) -> str | None:
    """Return why `value` is not a usable id, or None when it is fine."""
    if not isinstance(value, str) or not value:
        return f"{what} is empty; give a slug such as 'my-project'"
    if "/" in value or "\\" in value:
        return f"{what} {value!r} contains a path separator; ids are slugs (letters, digits, . _ -)"
    if ".." in value:
        return f"{what} {value!r} contains '..'; ids are slugs (letters, digits, . _ -)"
    if not SLUG_RE.match(value):
        return (
            f"{what} {value!r} is not a slug: use letters, digits, '.', '_' and '-', "
            "starting with a letter or digit, at most 100 characters"
        )
    return None


def validate_slug(value: str) -> None:
    if problem := slug_problem(value, "id"):
        raise ValidationError(problem)


def problem_with_test_dir(template: object, spec_id: str = "spec") -> str | None:
    """Why a project's test folder (`{spec_id}` filled in) is not a safe path inside the
    repository, or None. The accepted tests are committed there."""
    if not isinstance(template, str) or not template.strip():
        return "the test folder is empty; give a path inside the repository such as tests/tfactory"
    path = template.replace("{spec_id}", spec_id)
    if "{" in path or "}" in path:
        return f"test folder {template!r}: the only placeholder is {{spec_id}}"
    if path.startswith(("/", "~")) or "\\" in path or re.match(r"^[A-Za-z]:", path):
        return f"test folder {template!r} is not a relative path inside the repository"
    if any(ord(c) < 32 or c == "\x7f" for c in path):
        return f"test folder {template!r} contains control characters"
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        return f"test folder {template!r} contains '..'; it must stay inside the repository"
    if not parts:
        return f"test folder {template!r} is the repository's root; name a folder in it"
    if any(p.lower() == ".git" for p in parts):
        return f"test folder {template!r} points into .git"
    return None


def validate_test_dir(value: str) -> None:
    if problem := problem_with_test_dir(value):
        raise ValidationError(problem)


REPO_SLUG_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")


def validate_repo_slug(value: str) -> None:
    if value and (not REPO_SLUG_RE.match(value) or ".." in value):
        raise ValidationError(f"{value!r} is not 'owner/name' as on GitHub")


def validate_git_arg(value: str) -> None:
    """A value TFactory passes to git (a remote, an author): no option, no line break."""
    if value.startswith("-") or any(c in value for c in "\0\n\r<>"):
        raise ValidationError(f"{value!r} may not start with '-' or contain <, > or line breaks")


class Project(models.Model):
    id = models.CharField(primary_key=True, max_length=100, validators=[validate_slug])
    name = models.CharField(max_length=200, blank=True)
    repo_path = models.CharField(max_length=1000, help_text="Local path of the git repository")
    default_base_ref = models.CharField(max_length=200, default="main")
    spec_root = models.CharField(
        max_length=1000,
        blank=True,
        help_text="AIFactory workspaces root; empty means TFACTORY_AIFACTORY_ROOT",
    )
    test_dir = models.CharField(
        max_length=300,
        default="tests/tfactory/{spec_id}",
        validators=[validate_test_dir],
        help_text="Where the accepted tests are committed, relative to the repository",
    )
    # Set when TFactory cloned the repository itself (AIFactory's ingest with a git_url):
    # repo_path is then TFactory's own bare clone, fetched before each handover.
    git_url = models.CharField(max_length=1000, blank=True)

    # Delivery (agents_app/stages/deliver/). Each side effect happens only where it is
    # configured, and each can be switched off here; empty values mean the settings'.
    commit_tests = models.BooleanField(
        default=True, help_text="Commit the accepted tests on the feature branch"
    )
    push_remote = models.CharField(
        max_length=1000,
        blank=True,
        validators=[validate_git_arg],
        help_text="A remote of the repository (name or URL) the branch is pushed to after "
        "the commit; empty: none, or origin for a repository TFactory cloned",
    )
    push_tests = models.BooleanField(
        default=True, help_text="Push the commit when there is a remote to push to"
    )
    post_comment = models.BooleanField(
        default=True, help_text="Post the report on the branch's pull request when one is found"
    )
    github_repo = models.CharField(
        max_length=200,
        blank=True,
        validators=[validate_repo_slug],
        help_text="owner/name on GitHub; empty: from the pull request AIFactory recorded, "
        "or from the remote's URL",
    )
    github_api_url = models.CharField(
        max_length=500,
        blank=True,
        validators=[URLValidator(schemes=["https", "http"])],
        help_text="GitHub REST API base, e.g. https://ghe.example/api/v3; empty: "
        "TFACTORY_GITHUB_API_URL",
    )
    commit_author_name = models.CharField(
        max_length=200, blank=True, validators=[validate_git_arg], help_text="empty: the settings'"
    )
    commit_author_email = models.CharField(
        max_length=200, blank=True, validators=[validate_git_arg], help_text="empty: the settings'"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.id

    @property
    def repo(self) -> Path:
        return Path(self.repo_path)


class Task(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        PLANNING = "planning"
        GENERATING = "generating"
        RUNNING = "running"
        EVALUATING = "evaluating"
        TRIAGING = "triaging"
        DELIVERING = "delivering"
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"

    TERMINAL = (Status.DONE, Status.FAILED, Status.CANCELLED)

    class SpecSource(models.TextChoices):
        AIFACTORY = "aifactory"
        FILE = "file"
        INLINE = "inline"

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="tasks")
    spec_id = models.CharField(max_length=100, validators=[validate_slug])
    branch = models.CharField(max_length=250)
    base_ref = models.CharField(max_length=250)
    head_sha = models.CharField(max_length=64, blank=True)
    base_sha = models.CharField(max_length=64, blank=True)
    spec_source = models.CharField(max_length=20, choices=SpecSource.choices)
    spec_origin = models.CharField(max_length=1000, blank=True, help_text="Where the spec was read")

    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    # {lane: {status, started_at, finished_at, duration_s, summary}}
    lanes = models.JSONField(default=dict, blank=True)
    # The stage a job has been queued for and not yet claimed ("" when none): a worker
    # claims it with a conditional UPDATE, so a duplicated job finds nothing to do.
    queued_stage = models.CharField(max_length=20, blank=True)
    claimed_by = models.CharField(max_length=100, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)

    mode = models.CharField(max_length=100, default="offline")
    sandbox = models.JSONField(default=dict, blank=True)
    options = models.JSONField(default=dict, blank=True)
    usage = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    workspace = models.CharField(max_length=1000, blank=True)
    worktree = models.CharField(max_length=1000, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "spec_id"])]
        constraints = [
            # all runs of a spec share its folder: only one may be in flight at a time
            models.UniqueConstraint(
                fields=["project", "spec_id"],
                condition=~models.Q(status__in=["done", "failed", "cancelled"]),
                name="one_active_task_per_spec",
            )
        ]

    def __str__(self) -> str:
        return f"task {self.pk} {self.project_id}/{self.spec_id}"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL

    @property
    def workspace_path(self) -> Path:
        return Path(self.workspace)

    @property
    def worktree_path(self) -> Path:
        return Path(self.worktree)

    @property
    def duration_s(self) -> float | None:
        if not self.started_at:
            return None
        end = self.finished_at or timezone.now()
        return round((end - self.started_at).total_seconds(), 3)


class TaskEvent(models.Model):
    """One log line or status change. The id only grows, so readers resume after it."""

    class Kind(models.TextChoices):
        LOG = "log"
        STATUS = "status"
        LANE = "lane"

    id = models.BigAutoField(primary_key=True)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.LOG)
    level = models.CharField(max_length=10, default="info")
    stage = models.CharField(max_length=20, blank=True)
    message = models.TextField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["task", "id"])]

    def __str__(self) -> str:
        return f"#{self.pk} [{self.stage or '-'}] {self.message[:80]}"


class PullRequestLink(models.Model):
    """Where a spec's report is to be posted (AIFactory's `/api/specs/{p}/{s}/pr`)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="pull_requests")
    spec_id = models.CharField(max_length=100, validators=[validate_slug])
    repo_slug = models.CharField(max_length=200, help_text="owner/name on GitHub")
    pr_number = models.PositiveIntegerField()
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "spec_id"], name="one_pr_per_spec")
        ]

    def __str__(self) -> str:
        return f"{self.project_id}/{self.spec_id} -> {self.repo_slug}#{self.pr_number}"
