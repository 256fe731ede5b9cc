"""The one entry for every way in (CLI, workers, later the API, MCP and portal).

`check_…` functions validate and raise HandoverError with a sentence a person can act
on; they write nothing. `start_task`, `cancel_task`, `rerun_lane` and `create_project`
do the writes, after every check has passed.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from agents_app import analysis, criteria
from findings_app import store as findings_store
from findings_app.models import Finding, Severity, TriageState
from tasks_app import git
from tasks_app.events import emit_event
from tasks_app.models import Project, PullRequestLink, Task, slug_problem
from tasks_app.workspace import (
    Workspace,
    archive_previous,
    snapshot,
    worktrees_root,
    write_json,
    write_text,
)

log = logging.getLogger(__name__)

LANES = ("functional", "mutation", "sast", "deps", "secrets")
SECURITY_LANES = ("sast", "deps", "secrets")
# the stage a rerun of each lane starts from: mutation testing needs the candidates' runs
# (coverage per test), not new candidates; a security lane runs alone in the running stage
LANE_START = {
    "functional": "generating",
    "mutation": "running",
    **{lane: "running" for lane in SECURITY_LANES},
}
SPEC_FORMATS = ("markdown", "gherkin", "ears")
SANDBOX_CHOICES = ("auto", "docker", "bwrap", "none")
# What a handover may tune, with bounds. The sandbox backend is not among them: running
# generated code unsandboxed is the operator's decision (TFACTORY_SANDBOX or the CLI's
# --sandbox), never a caller's.
HANDOVER_OPTIONS: dict[str, tuple[int, int]] = {
    "engine_budget_s": (5, 3600),
    "lane_budget_s": (10, 14400),
    "eval_runs": (3, 10),
    "mutation_budget_s": (10, 14400),
    "mutation_max_mutants": (1, 100000),
    "feedback_rounds": (0, 5),
}
# on/off switches a handover may set: a lane each (`functional: false` generates no tests,
# and so runs no mutation lane either); `deliver: false` skips delivery (no commit, push or
# PR comment) and `dry_run_delivery: true` writes the patch and the comment instead. A
# handover can only turn delivery down: what is pushed where is the project's setting.
HANDOVER_FLAGS = (
    "functional", "mutation", "sast", "deps", "secrets",
    "offline", "with_engines", "deliver", "dry_run_delivery",
)  # fmt: skip


class HandoverError(ValueError):
    """Bad input to a service; nothing was changed."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class NotFoundError(HandoverError):
    """The task or project named does not exist (404 on the API)."""


class ConflictError(HandoverError):
    """The request is well formed, but the thing's current state forbids it (409)."""


@dataclass
class Handover:
    project_id: str
    spec_id: str
    branch: str
    base_ref: str | None = None
    spec_file: str | None = None
    spec_text: str | None = None
    spec_format: str = "markdown"
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_payload(cls, payload: Any) -> Handover:
        if not isinstance(payload, dict):
            raise HandoverError("the handover must be a JSON object")
        allowed = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(payload) - allowed)
        if unknown:
            raise HandoverError(
                f"unknown field(s) in the handover: {', '.join(unknown)}", unknown[0]
            )
        for name in ("project_id", "spec_id", "branch"):
            if name not in payload:
                raise HandoverError(f"the handover needs '{name}'", name)
        for name in ("project_id", "spec_id", "branch", "base_ref", "spec_file", "spec_text"):
            value = payload.get(name)
            if value is not None and not isinstance(value, str):
                raise HandoverError(f"'{name}' must be a string", name)
        payload = dict(payload)
        payload["options"] = check_options(payload.get("options", {}))
        return cls(**payload)


def check_options(options: Any) -> dict[str, int]:
    if not isinstance(options, dict):
        raise HandoverError("'options' must be an object", "options")
    checked = {}
    for name, value in options.items():
        if name in HANDOVER_FLAGS:
            if not isinstance(value, bool):
                raise HandoverError(f"option {name!r} must be true or false", "options")
            checked[name] = value
            continue
        if name not in HANDOVER_OPTIONS:
            allowed = ", ".join([*HANDOVER_OPTIONS, *HANDOVER_FLAGS])
            raise HandoverError(f"unknown option {name!r}; options: {allowed}", "options")
        low, high = HANDOVER_OPTIONS[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise HandoverError(
                f"option {name!r} must be a whole number from {low} to {high}", "options"
            )
        checked[name] = value
    return checked


@dataclass
class SpecSnapshot:
    source: str  # Task.SpecSource
    origin: str
    spec_md: str
    plan_raw: bytes | None = None
    requirements_raw: bytes | None = None
    spec_format: str = "markdown"


@dataclass
class CheckedHandover:
    handover: Handover
    project: Project
    repo: Path
    head_sha: str
    base_ref: str
    base_sha: str
    merge_base: str
    spec: SpecSnapshot


# ---------------------------------------------------------------- projects


def create_project(
    project_id: str,
    repo_path: str | Path | None = None,
    *,
    git_url: str = "",
    name: str = "",
    default_base_ref: str = "main",
    spec_root: str = "",
) -> Project:
    """Register a repository: a local checkout (`repo_path`, only ever read) or a remote
    one (`git_url`) that TFactory clones for itself and fetches before each handover."""
    if problem := slug_problem(project_id, "project_id"):
        raise HandoverError(problem, "project_id")
    for what, value in (("git_url", git_url), ("name", name), ("spec_root", spec_root)):
        if not isinstance(value, str):
            raise HandoverError(f"{what} must be text", what)
    if repo_path is not None and not isinstance(repo_path, str | Path):
        raise HandoverError("repo_path must be text", "repo_path")
    if bool(repo_path) == bool(git_url):
        raise HandoverError("give either repo_path or git_url", "repo_path")
    if len(name) > 200:
        raise HandoverError("name must be at most 200 characters", "name")
    if problem := git.ref_problem(default_base_ref, "default_base_ref"):
        raise HandoverError(problem, "default_base_ref")
    if Project.objects.filter(pk=project_id).exists():
        raise ConflictError(f"project {project_id!r} already exists", "project_id")
    if git_url:
        repo = _clone_for_project(project_id, git_url)
    else:
        try:
            repo = Path(repo_path).expanduser()
        except RuntimeError as exc:  # "~nosuchuser/x"
            raise HandoverError(f"repository path {str(repo_path)!r}: {exc}", "repo_path") from exc
        if not repo.exists():
            raise HandoverError(f"repository path {str(repo)!r} does not exist", "repo_path")
        if not git.is_repository(repo):
            raise HandoverError(f"{str(repo)!r} is not a git repository", "repo_path")
    try:
        return Project.objects.create(
            id=project_id,
            name=name or project_id,
            repo_path=str(repo.resolve()),
            git_url=git_url,
            default_base_ref=default_base_ref,
            spec_root=spec_root,
        )
    except IntegrityError as exc:
        if git_url:
            shutil.rmtree(repo, ignore_errors=True)
        raise ConflictError(f"project {project_id!r} already exists", "project_id") from exc


def managed_repos_root() -> Path:
    return Path(settings.TFACTORY_HOME) / "repos"


def _clone_for_project(project_id: str, git_url: str) -> Path:
    protocols = settings.TFACTORY_GIT_PROTOCOLS
    if problem := git.url_problem(git_url, protocols):
        raise HandoverError(problem, "git_url")
    dest = managed_repos_root() / f"{project_id}.git"
    # a clone is only put in place when complete: an interrupted one leaves no project
    partial = dest.with_name(f"{dest.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        git.clone_bare(git_url, partial, protocols)
        if dest.exists():  # left by a project that was deleted: its clone is stale
            shutil.rmtree(dest)
        partial.rename(dest)
    except (git.GitError, OSError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise HandoverError(f"could not clone {git_url}: {_one_line(exc)}", "git_url") from exc
    return dest


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, subprocess.TimeoutExpired):
        return "git took too long"
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


def refresh_project(project: Project) -> None:
    """Fetch a TFactory-made clone, so a handover sees the branch as just pushed.
    A user's own checkout is never fetched into."""
    if not project.git_url:
        return
    try:
        git.fetch_all(project.repo, settings.TFACTORY_GIT_PROTOCOLS)
    except (git.GitError, OSError, subprocess.TimeoutExpired) as exc:
        raise HandoverError(
            f"could not fetch {project.git_url} for project {project.id!r}: {_one_line(exc)}",
            "git_url",
        ) from exc


def get_project(project_id: str) -> Project:
    if not isinstance(project_id, str) or slug_problem(project_id, "project_id"):
        raise NotFoundError(f"no project {project_id!r}", "project_id")
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        raise NotFoundError(f"no project {project_id!r}", "project_id")
    return project


def list_projects() -> list[Project]:
    return list(Project.objects.order_by("id"))


def project_summary(project: Project) -> dict[str, Any]:
    tasks = Task.objects.filter(project=project)
    latest = tasks.order_by("-pk").first()
    return {
        "project_id": project.id,
        "name": project.name,
        "repo_path": project.repo_path,
        "git_url": project.git_url or None,
        "default_base_ref": project.default_base_ref,
        "test_dir": project.test_dir,
        "created_at": project.created_at,
        "tasks": tasks.count(),
        "latest_task": (
            {"task_id": latest.pk, "spec_id": latest.spec_id, "status": latest.status}
            if latest
            else None
        ),
    }


# ---------------------------------------------------------------- intake checks


def aifactory_spec_dir(project: Project, spec_id: str) -> Path:
    root = Path(project.spec_root).expanduser() if project.spec_root else None
    root = root or Path(settings.TFACTORY_AIFACTORY_ROOT)
    return root / project.id / "specs" / spec_id


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise HandoverError(f"{what} {str(path)!r} is not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise HandoverError(f"cannot read {what} {str(path)!r}: {exc.strerror}") from exc


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise HandoverError(f"cannot read {what} {str(path)!r}: {exc.strerror}") from exc


def check_spec(handover: Handover, project: Project, *, local: bool = False) -> SpecSnapshot:
    given = [n for n in ("spec_file", "spec_text") if getattr(handover, n)]
    if handover.spec_file and not local:
        raise HandoverError(
            "spec_file names a path on the TFactory host and is accepted only from the local "
            "command line; send the spec's text as spec_text",
            "spec_file",
        )
    if len(given) > 1:
        raise HandoverError("give either spec_file or spec_text, not both", "spec_file")
    if handover.spec_format not in SPEC_FORMATS:
        raise HandoverError(
            f"spec_format {handover.spec_format!r} is not one of {', '.join(SPEC_FORMATS)}",
            "spec_format",
        )
    if handover.spec_text is not None:
        if not handover.spec_text.strip():
            raise HandoverError("spec_text is empty", "spec_text")
        return SpecSnapshot(
            Task.SpecSource.INLINE, "inline", handover.spec_text, spec_format=handover.spec_format
        )
    if handover.spec_file:
        path = Path(handover.spec_file).expanduser()
        if not path.is_file():
            raise HandoverError(f"spec file {str(path)!r} does not exist", "spec_file")
        text = _read_text(path, "spec file")
        if not text.strip():
            raise HandoverError(f"spec file {str(path)!r} is empty", "spec_file")
        return SpecSnapshot(
            Task.SpecSource.FILE, str(path.resolve()), text, spec_format=handover.spec_format
        )

    spec_dir = aifactory_spec_dir(project, handover.spec_id)
    if not spec_dir.is_dir():
        raise HandoverError(
            f"no AIFactory spec folder at {str(spec_dir)!r}; check project_id and spec_id, "
            f"or pass {'spec_file or ' if local else ''}spec_text for a repository without "
            "AIFactory",
            "spec_id",
        )
    spec_md = spec_dir / "spec.md"
    if not spec_md.is_file():
        raise HandoverError(f"the spec folder {str(spec_dir)!r} has no spec.md", "spec_id")
    text = _read_text(spec_md, "spec.md")
    if not text.strip():
        raise HandoverError(f"{str(spec_md)!r} is empty", "spec_id")
    snap = SpecSnapshot(Task.SpecSource.AIFACTORY, str(spec_dir), text)
    plan = spec_dir / "implementation_plan.json"
    if plan.exists():
        snap.plan_raw = _read_bytes(plan, "implementation_plan.json")
        try:
            criteria.parse_implementation_plan(snap.plan_raw, name=str(plan))
        except criteria.SpecFormatError as exc:
            raise HandoverError(str(exc), "spec_id") from exc
    reqs = spec_dir / "requirements.json"
    if reqs.exists():
        snap.requirements_raw = _read_bytes(reqs, "requirements.json")
        try:
            criteria.parse_requirements(snap.requirements_raw, name=str(reqs))
        except criteria.SpecFormatError as exc:
            raise HandoverError(str(exc), "spec_id") from exc
    return snap


def check_handover(payload: Handover | dict[str, Any], *, local: bool = False) -> CheckedHandover:
    """Validate a handover completely; raises HandoverError and writes nothing.

    `local` is True only for the operator's own command line (it may name files)."""
    if isinstance(payload, Handover):
        handover = payload
        handover.options = check_options(handover.options)
    else:
        handover = Handover.from_payload(payload)
    for name in ("project_id", "spec_id"):
        if problem := slug_problem(getattr(handover, name), name):
            raise HandoverError(problem, name)
    project = Project.objects.filter(pk=handover.project_id).first()
    if project is None:
        raise HandoverError(
            f"unknown project {handover.project_id!r}; register it first (the project_create "
            "tool, POST /api/projects/, or manage.py tfactory_run --repo PATH)",
            "project_id",
        )
    refresh_project(project)
    repo = project.repo
    if not repo.exists():
        raise HandoverError(
            f"the repository of project {project.id!r} is gone: {str(repo)!r} does not exist",
            "project_id",
        )
    if not git.is_repository(repo):
        raise HandoverError(f"{str(repo)!r} is not a git repository", "project_id")
    if problem := git.ref_problem(handover.branch, "branch"):
        raise HandoverError(problem, "branch")
    base_ref = handover.base_ref or project.default_base_ref
    if problem := git.ref_problem(base_ref, "base_ref"):
        raise HandoverError(problem, "base_ref")
    head_sha = git.resolve_commit(repo, handover.branch)
    if head_sha is None:
        raise HandoverError(f"branch {handover.branch!r} does not exist in {str(repo)!r}", "branch")
    base_sha = git.resolve_commit(repo, base_ref)
    if base_sha is None:
        raise HandoverError(f"base ref {base_ref!r} does not exist in {str(repo)!r}", "base_ref")
    mbase = git.merge_base(repo, base_sha, head_sha)
    if mbase is None:
        raise HandoverError(
            f"branch {handover.branch!r} and base ref {base_ref!r} share no history", "base_ref"
        )
    if mbase == head_sha:
        raise HandoverError(
            f"branch {handover.branch!r} has no commits beyond {base_ref!r}; nothing to test",
            "branch",
        )
    spec = check_spec(handover, project, local=local)
    running = Task.objects.filter(project=project, spec_id=handover.spec_id).exclude(
        status__in=Task.TERMINAL
    )
    if busy := running.first():
        raise ConflictError(
            f"task {busy.pk} for {project.id}/{handover.spec_id} is still {busy.status}; "
            "cancel it or wait for it to finish",
            "spec_id",
        )
    return CheckedHandover(handover, project, repo, head_sha, base_ref, base_sha, mbase, spec)


# ---------------------------------------------------------------- start


def start_task(
    payload: Handover | dict[str, Any],
    *,
    enqueue: bool = True,
    sandbox: str | None = None,
    local: bool = False,
) -> Task:
    """Check a handover, lay out its folder and worktree, and queue the pipeline.

    `sandbox` and `local` are the operator's: a sandbox backend other than the
    configured one, and permission to read a spec file from the host."""
    if sandbox is not None and sandbox not in SANDBOX_CHOICES:
        raise HandoverError(
            f"sandbox {sandbox!r} is not one of {', '.join(SANDBOX_CHOICES)}", "sandbox"
        )
    checked = check_handover(payload, local=local)
    h = checked.handover
    mode = _mode(h.options)
    ws = Workspace.for_spec(h.project_id, h.spec_id)
    previous = (
        Task.objects.filter(project=checked.project, spec_id=h.spec_id).order_by("-pk").first()
    )
    try:
        with transaction.atomic():
            task = _create_task(checked, ws, sandbox, mode)
    except IntegrityError as exc:
        # another handover of the same spec got there between our check and insert
        raise ConflictError(
            f"a task for {h.project_id}/{h.spec_id} is already in flight", "spec_id"
        ) from exc
    archived = None
    try:
        archived = archive_previous(ws, previous.pk if previous else None)
        _lay_out(task, checked, ws)
    except Exception as exc:
        # Roll back: no half-made task is left behind, and the previous run comes back.
        _discard(task)
        if archived is not None and not ws.root.exists():
            archived.rename(ws.root)
        if isinstance(exc, HandoverError):
            raise
        raise HandoverError(f"could not prepare the task: {exc}") from exc
    if archived:
        emit_event(task, f"the previous run's folder was archived to {archived}")
    emit_event(
        task,
        f"task created for {h.project_id}/{h.spec_id}: {h.branch}@{checked.head_sha[:10]} "
        f"against {checked.base_ref}@{checked.merge_base[:10]}",
        kind="status",
        data={"status": Task.Status.PENDING},
    )
    queue_stage(task, "planning", enqueue=enqueue)
    return task


def _mode(options: dict[str, Any]) -> str:
    """offline, or the configured model; a misconfigured model is the handover's error."""
    from agents_app.llm.session import LLMError, mode_for_new_task

    try:
        return mode_for_new_task(offline=bool(options.get("offline")))
    except LLMError as exc:
        raise HandoverError(f"{exc} (or pass the option offline=true)", "options") from exc


def lanes_of(options: dict[str, Any]) -> list[str]:
    """The lanes a handover with these options runs."""
    on = {lane: options.get(lane, getattr(settings, f"TFACTORY_{lane.upper()}", True))
          for lane in LANES}  # fmt: skip
    on["mutation"] = on["mutation"] and on["functional"]
    return [lane for lane in LANES if on[lane]]


def _create_task(checked: CheckedHandover, ws: Workspace, sandbox: str | None, mode: str) -> Task:
    h = checked.handover
    return Task.objects.create(
        mode=mode,
        project=checked.project,
        spec_id=h.spec_id,
        branch=h.branch,
        base_ref=checked.base_ref,
        head_sha=checked.head_sha,
        base_sha=checked.merge_base,
        spec_source=checked.spec.source,
        spec_origin=checked.spec.origin,
        options={**h.options, **({"sandbox": sandbox} if sandbox else {})},
        workspace=str(ws.root),
        lanes={lane: {"status": "pending"} for lane in lanes_of(h.options)},
    )


def _lay_out(task: Task, checked: CheckedHandover, ws: Workspace) -> None:
    ws.create()
    spec = checked.spec
    snapshot(None, ws.context / "aifactory_spec.md", text=spec.spec_md)
    if spec.plan_raw is not None:
        (ws.context / "aifactory_plan.json").write_bytes(spec.plan_raw)
        (ws.context / "aifactory_plan.json").chmod(0o444)
    if spec.requirements_raw is not None:
        (ws.context / "requirements.json").write_bytes(spec.requirements_raw)
        (ws.context / "requirements.json").chmod(0o444)

    worktree = worktrees_root() / f"task-{task.pk}"
    git.add_worktree(checked.repo, worktree, checked.head_sha)
    task.worktree = str(worktree)
    task.save(update_fields=["worktree"])

    (ws.context / "diff.patch").write_bytes(
        git.diff(checked.repo, checked.merge_base, checked.head_sha)
    )
    write_json(
        ws.context / "source.json",
        {
            "project_id": task.project_id,
            "spec_id": task.spec_id,
            "repo": str(checked.repo),
            "branch": task.branch,
            "base_ref": task.base_ref,
            "sha": checked.head_sha,
            "base_sha": checked.base_sha,
            "merge_base": checked.merge_base,
            "spec_source": spec.source,
            "aifactory_spec_dir": spec.origin if spec.source == Task.SpecSource.AIFACTORY else None,
            "spec_file": spec.origin if spec.source == Task.SpecSource.FILE else None,
            "spec_format": spec.spec_format,
            "worktree": str(worktree),
        },
    )
    write_json(ws.context / "project_analysis.json", analysis.analyse_project(worktree))
    write_text(ws.task_md, _task_md(task, checked))


def _task_md(task: Task, checked: CheckedHandover) -> str:
    spec = checked.spec
    origin = {
        Task.SpecSource.AIFACTORY: f"AIFactory spec folder `{spec.origin}`",
        Task.SpecSource.FILE: f"spec file `{spec.origin}`",
        Task.SpecSource.INLINE: f"inline spec text ({spec.spec_format})",
    }[spec.source]
    return (
        f"# TFactory task {task.pk}: {task.project_id}/{task.spec_id}\n\n"
        f"- Repository: `{checked.repo}`\n"
        f"- Branch: `{task.branch}` at `{checked.head_sha}`\n"
        f"- Base: `{task.base_ref}` at `{checked.base_sha}` "
        f"(diff from the merge base `{checked.merge_base}`)\n"
        f"- Spec: {origin}, snapshot in `context/aifactory_spec.md`\n"
        f"- Worktree: `{task.worktree}` (detached at the branch's commit)\n\n"
        "## What to do\n\n"
        "Write tests that prove the spec's acceptance criteria for the code changed on the "
        "branch, run them in the sandbox, keep the ones that pass reliably and add coverage of "
        "the changed lines, and report. Lanes: " + ", ".join(LANES) + ".\n\n"
        "## Files\n\n"
        "- `context/diff.patch` — the change under test\n"
        "- `context/project_analysis.json` — languages, test framework, dependency files\n"
        "- `test_plan.json` — the planner's output\n"
        "- `tests/functional/` — generated candidates\n"
        "- `report.md`, `report.json` — the result\n"
    )


def _discard(task: Task) -> None:
    if task.worktree:
        git.remove_worktree(task.project.repo, Path(task.worktree))
    ws = Path(task.workspace)
    if ws.exists():
        for p in ws.rglob("*"):
            if p.is_file():
                p.chmod(0o644)
        shutil.rmtree(ws, ignore_errors=True)
    task.delete()


def queue_stage(task: Task, stage: str, *, enqueue: bool = True) -> None:
    """Mark `stage` as queued for the task and hand a job to the workers."""
    # heartbeat_at marks the hand-off, so the reaper can tell a lost job from a new one
    Task.objects.filter(pk=task.pk).update(queued_stage=stage, heartbeat_at=timezone.now())
    task.queued_stage = stage
    if enqueue:
        from agents_app.jobs import enqueue_stage

        transaction.on_commit(lambda: enqueue_stage(task.pk, stage))


# ---------------------------------------------------------------- cancel / rerun


def _by_number(queryset: Any, value: int | str, what: str) -> Any:
    """The row whose id is `value` (a whole number), or NotFoundError under `<what>_id`."""
    try:
        return queryset.get(pk=int(value))
    except (ValueError, TypeError, OverflowError) as exc:
        raise NotFoundError(f"{what} id {value!r} is not a number", f"{what}_id") from exc
    except queryset.model.DoesNotExist as exc:
        raise NotFoundError(f"no {what} with id {value}", f"{what}_id") from exc


def get_task(task_id: int | str) -> Task:
    return _by_number(Task.objects.select_related("project"), task_id, "task")


def cancel_task(task_id: int | str) -> Task:
    """Cancel a task. A queued one stops at once; a running stage stops at its next check."""
    task = get_task(task_id)
    if task.is_terminal:
        raise ConflictError(f"task {task.pk} already ended ({task.status})", "task_id")
    Task.objects.filter(pk=task.pk).update(cancel_requested=True)
    # Nobody is working on it: cancel right here (another process got there first
    # when the update finds no unclaimed row).
    # ... or whoever claimed it stopped beating (a killed CLI, a crashed worker)
    stale = timezone.now() - timedelta(seconds=settings.TFACTORY_STALE_AFTER_S)
    nobody = Q(claimed_by="") | Q(heartbeat_at__lt=stale)
    stopped = Task.objects.filter(nobody, pk=task.pk).exclude(status__in=Task.TERMINAL)
    if stopped.update(
        status=Task.Status.CANCELLED, queued_stage="", claimed_by="", finished_at=timezone.now()
    ):
        task.refresh_from_db()
        from agents_app.pipeline import finish_cancelled

        finish_cancelled(task)
    else:
        emit_event(task, "cancel requested; the running stage stops at its next check")
    task.refresh_from_db()
    return task


def rerun_lane(task_id: int | str, lane: str, *, enqueue: bool = True) -> Task:
    """Run one lane of a finished task again: functional from generation on, mutation
    from the candidates' runs on (the same candidates, a new kill matrix)."""
    task = get_task(task_id)
    if lane not in LANES:
        raise HandoverError(f"unknown lane {lane!r}; lanes: {', '.join(LANES)}", "lane")
    if not task.is_terminal:
        raise ConflictError(f"task {task.pk} is still {task.status}; rerun it when it ends")
    latest = Task.objects.filter(project=task.project, spec_id=task.spec_id).order_by("-pk")[0]
    if latest.pk != task.pk:
        # the spec's folder now holds the newer run's files
        raise ConflictError(
            f"task {latest.pk} is a newer run of {task.project_id}/{task.spec_id}; rerun that one"
        )
    if not (Path(task.workspace) / "test_plan.json").exists():
        raise ConflictError(f"task {task.pk} never got a test plan; start a new handover")
    try:
        with transaction.atomic():
            moved = Task.objects.filter(pk=task.pk, status__in=Task.TERMINAL).update(
                status=Task.Status.PENDING,
                error="",
                cancel_requested=False,
                started_at=None,
                finished_at=None,
                claimed_by="",
            )
    except IntegrityError as exc:
        raise ConflictError(
            f"another run of {task.project_id}/{task.spec_id} is in flight"
        ) from exc
    if not moved:
        raise ConflictError(f"task {task.pk} was changed meanwhile; try again")
    task.refresh_from_db()
    lanes = dict(task.lanes)
    lanes[lane] = {"status": "pending"}
    task.lanes = lanes
    task.options = {**task.options, "rerun_lane": lane}
    task.save(update_fields=["lanes", "options"])
    # a feedback round the evaluator asked for before the task ended is not this rerun's
    (Path(task.workspace) / "runs" / "feedback.json").unlink(missing_ok=True)
    emit_event(task, f"rerun of lane {lane} requested", kind="status", data={"status": "pending"})
    queue_stage(task, LANE_START[lane], enqueue=enqueue)
    return task


# ---------------------------------------------------------------- reading


def task_url(task: Task) -> str:
    """Where a person watches the task in a browser."""
    return f"{settings.TFACTORY_PUBLIC_URL}/tasks/{task.pk}/"


def task_summary(task: Task) -> dict[str, Any]:
    ws = Path(task.workspace)
    report = ws / "report.json"
    return {
        "task_id": task.pk,
        "project_id": task.project_id,
        "spec_id": task.spec_id,
        "branch": task.branch,
        "base_ref": task.base_ref,
        "head_sha": task.head_sha,
        "status": task.status,
        "stage": task.queued_stage or None,
        "mode": task.mode,
        "lanes": task.lanes,
        "error": task.error or None,
        "created_at": task.created_at,
        "started_at": task.started_at,
        "finished_at": task.finished_at,
        "updated_at": task.updated_at,
        "duration_s": task.duration_s,
        "workspace": task.workspace,
        "spec_folder": task.workspace,
        "report": str(report) if report.exists() else None,
        "report_md": str(ws / "report.md") if (ws / "report.md").exists() else None,
        "portal_url": task_url(task),
    }


TASK_LIST_MAX = 200


def list_tasks(
    *,
    project_id: str | None = None,
    status: str | None = None,
    spec_id: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> tuple[list[Task], int]:
    """Tasks newest first, filtered; returns one page and the total count."""
    tasks = Task.objects.select_related("project").order_by("-pk")
    if project_id:
        if not Project.objects.filter(pk=project_id).exists():
            raise HandoverError(f"unknown project {project_id!r}", "project_id")
        tasks = tasks.filter(project_id=project_id)
    if status:
        if status not in Task.Status.values:
            choices = ", ".join(Task.Status.values)
            raise HandoverError(f"status {status!r} is not one of {choices}", "status")
        tasks = tasks.filter(status=status)
    if spec_id:
        tasks = tasks.filter(spec_id=spec_id)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= TASK_LIST_MAX:
        raise HandoverError(f"limit must be a whole number from 1 to {TASK_LIST_MAX}", "limit")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise HandoverError("offset must be a whole number from 0", "offset")
    return list(tasks[offset : offset + limit]), tasks.count()


REPORT_FORMATS = ("json", "md", "sarif")


def read_report(task_id: int | str, fmt: str = "json") -> dict[str, Any] | str:
    """The task's report.json (parsed), report.md (text) or findings.sarif (parsed)."""
    if fmt not in REPORT_FORMATS:
        raise HandoverError(f"format {fmt!r} is not one of {', '.join(REPORT_FORMATS)}", "format")
    task = get_task(task_id)
    latest = Task.objects.filter(project=task.project, spec_id=task.spec_id).order_by("-pk")[0]
    if latest.pk != task.pk:
        # the spec's folder holds the newest run's files; this run's went to an archive
        raise NotFoundError(
            f"task {latest.pk} is a newer run of {task.project_id}/{task.spec_id}; "
            f"task {task.pk}'s report was archived beside the spec's folder",
            "task_id",
        )
    path = Path(task.workspace) / ("findings/findings.sarif" if fmt == "sarif" else f"report.{fmt}")
    if fmt == "sarif" and not path.is_file() and (Path(task.workspace) / "report.json").is_file():
        raise NotFoundError(
            f"task {task.pk} has no findings.sarif: no security lane ran in it", "format"
        )
    if not path.is_file():
        state = "is still " + task.status if not task.is_terminal else f"ended {task.status}"
        raise NotFoundError(
            f"task {task.pk} has no report yet (it {state}); reports are written when "
            "the triager finishes",
            "task_id",
        )
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if fmt in ("json", "sarif") else text


# ---------------------------------------------------------------- findings

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
    return _by_number(Finding.objects.select_related("task"), finding_id, "finding")


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
    from agents_app.triager import write_report

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


EVENTS_PAGE_MAX = 500


def task_events(
    task_id: int | str, *, after: int = 0, limit: int = 100, tail: bool = False
) -> dict[str, Any]:
    """The task's events with ids above `after`, oldest first; `next_after` resumes.
    With `tail`, the last `limit` of them (a status glance at a long log)."""
    task = get_task(task_id)
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise HandoverError("after must be a whole number from 0 (an event id)", "after")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= EVENTS_PAGE_MAX:
        raise HandoverError(f"limit must be a whole number from 1 to {EVENTS_PAGE_MAX}", "limit")
    events = task.events.filter(id__gt=after)
    if tail:
        page = list(events.order_by("-id")[:limit])[::-1]
        rows = page
    else:
        rows = list(events.order_by("id")[: limit + 1])
        page = rows[:limit]
    return {
        "task_id": task.pk,
        "status": task.status,
        "events": [
            {
                "id": e.pk,
                "created_at": e.created_at,
                "kind": e.kind,
                "level": e.level,
                "stage": e.stage,
                "message": e.message,
                "data": e.data,
            }
            for e in page
        ],
        "next_after": page[-1].pk if page else after,
        "has_more": len(rows) > limit,
    }


# ---------------------------------------------------------------- preview


def preview_task(payload: Handover | dict[str, Any], *, local: bool = False) -> dict[str, Any]:
    """What start_task would create for this handover; checks everything, writes nothing."""
    checked = check_handover(payload, local=local)
    h = checked.handover
    mode = _mode(h.options)
    spec = checked.spec
    try:
        crits = criteria.criteria_of_spec(
            spec.spec_md,
            inline=spec.source != Task.SpecSource.AIFACTORY,
            spec_format=spec.spec_format,
            plan_raw=spec.plan_raw,
            requirements_raw=spec.requirements_raw,
        )
    except criteria.SpecFormatError as exc:
        raise HandoverError(str(exc), "spec_text") from exc
    changed = git.numstat(checked.repo, checked.merge_base, checked.head_sha)
    previous = (
        Task.objects.filter(project=checked.project, spec_id=h.spec_id).order_by("-pk").first()
    )
    ws = Workspace.for_spec(h.project_id, h.spec_id)
    return {
        "project_id": h.project_id,
        "spec_id": h.spec_id,
        "repository": str(checked.repo),
        "branch": h.branch,
        "head_sha": checked.head_sha,
        "base_ref": checked.base_ref,
        "base_sha": checked.base_sha,
        "merge_base": checked.merge_base,
        "mode": mode,
        "options": h.options,
        "lanes": lanes_of(h.options),
        "spec": {
            "source": spec.source,
            "origin": spec.origin,
            "format": spec.spec_format,
            "criteria": [{"id": c.id, "text": _clip(c.text, 300)} for c in crits],
        },
        "changed_files": [
            {"path": path, "added": added, "deleted": deleted} for added, deleted, path in changed
        ],
        "spec_folder": str(ws.root),
        "previous_task": (
            {"task_id": previous.pk, "status": previous.status, "archived_on_start": True}
            if previous
            else None
        ),
        "warnings": (
            []
            if crits
            else [
                "the spec has no acceptance criteria TFactory can read; the changed code is "
                "tested without them"
            ]
        ),
    }


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


# ---------------------------------------------------------------- AIFactory's contract

INGEST_FIELDS = ("project_id", "spec_id", "spec_text", "format", "git_url", "source_branch")
# the handover's field names, as AIFactory's payload calls them
_INGEST_FIELD_NAMES = {"branch": "source_branch", "spec_format": "format"}


def ingest_spec(payload: Any, *, enqueue: bool = True) -> Task:
    """AIFactory's `POST /api/specs/ingest`: a spec's text and where its code is.

    The project is the one registered under project_id; with a git_url TFactory clones
    the repository (once) and fetches it before the handover. Without source_branch the
    branch named after the spec (`<spec_id>` or `<anything>/<spec_id>`) is taken when
    exactly one exists."""
    if not isinstance(payload, dict):
        raise HandoverError("the payload must be a JSON object")
    unknown = sorted(set(payload) - set(INGEST_FIELDS))
    if unknown:
        raise HandoverError(f"unknown field(s): {', '.join(unknown)}", unknown[0])
    for name in ("project_id", "spec_id", "spec_text", "format"):
        if payload.get(name) is None:
            raise HandoverError(f"'{name}' is required", name)
    for name in INGEST_FIELDS:
        value = payload.get(name)
        if value is not None and not isinstance(value, str):
            raise HandoverError(f"'{name}' must be a string", name)
    project_id, spec_id = payload["project_id"], payload["spec_id"]
    for name in ("project_id", "spec_id"):
        if problem := slug_problem(payload[name], name):
            raise HandoverError(problem, name)
    if payload["format"] not in SPEC_FORMATS:
        raise HandoverError(
            f"format {payload['format']!r} is not one of {', '.join(SPEC_FORMATS)}", "format"
        )
    git_url = payload.get("git_url") or ""
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        if not git_url:
            raise HandoverError(
                f"unknown project {project_id!r}; register it first, or send git_url so "
                "TFactory can clone the repository",
                "project_id",
            )
        # checks the rest of the payload before a clone that may take a while
        if not payload["spec_text"].strip():
            raise HandoverError("spec_text is empty", "spec_text")
        project = create_project(project_id, git_url=git_url)
    elif git_url and (problem := git.url_problem(git_url, settings.TFACTORY_GIT_PROTOCOLS)):
        raise HandoverError(problem, "git_url")
    elif git_url and project.git_url and git_url != project.git_url:
        raise ConflictError(
            f"project {project_id!r} is bound to {project.git_url}, not {git_url}", "git_url"
        )
    branch = payload.get("source_branch")
    if not branch:
        refresh_project(project)
        branch = _branch_for_spec(project, spec_id)
    try:
        return start_task(
            Handover(
                project_id=project_id,
                spec_id=spec_id,
                branch=branch,
                spec_text=payload["spec_text"],
                spec_format=payload["format"],
            ),
            enqueue=enqueue,
        )
    except HandoverError as exc:
        exc.field = _INGEST_FIELD_NAMES.get(exc.field or "", exc.field)
        raise


def _branch_for_spec(project: Project, spec_id: str) -> str:
    # AIFactory numbers its specs ("001-discount-codes"); branches carry the name with or
    # without the number, under any prefix ("aifactory/001-…", "feature/discount-codes")
    names = {spec_id, re.sub(r"^\d+[-_]", "", spec_id)}
    named = [b for b in git.branches(project.repo) if b.rsplit("/", 1)[-1] in names]
    if len(named) == 1:
        return named[0]
    if not named:
        raise HandoverError(
            f"no source_branch given, and no branch of project {project.id!r} is named after "
            f"spec {spec_id!r} (such as {spec_id!r} or 'aifactory/{spec_id}'); send "
            "source_branch",
            "source_branch",
        )
    raise HandoverError(
        f"no source_branch given, and several branches are named after spec {spec_id!r}: "
        f"{', '.join(sorted(named))}; send source_branch",
        "source_branch",
    )


_REPO_SLUG = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")


def record_pull_request(project_id: str, spec_id: str, payload: Any) -> PullRequestLink:
    """AIFactory's `POST /api/specs/{project_id}/{spec_id}/pr`: where the spec's report
    is to be posted. A later call for the same spec replaces the earlier one."""
    project = get_project(project_id)
    if problem := slug_problem(spec_id, "spec_id"):
        raise HandoverError(problem, "spec_id")
    if not isinstance(payload, dict):
        raise HandoverError("the payload must be a JSON object")
    unknown = sorted(set(payload) - {"pr_number", "repo_slug"})
    if unknown:
        raise HandoverError(f"unknown field(s): {', '.join(unknown)}", unknown[0])
    number, slug = payload.get("pr_number"), payload.get("repo_slug")
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 2**31 - 1:
        raise HandoverError("pr_number must be a positive whole number", "pr_number")
    if not isinstance(slug, str) or not _REPO_SLUG.match(slug) or ".." in slug:
        raise HandoverError("repo_slug must be 'owner/name' as on GitHub", "repo_slug")
    link, _ = PullRequestLink.objects.update_or_create(
        project=project,
        spec_id=spec_id,
        defaults={"repo_slug": slug, "pr_number": number, "recorded_at": timezone.now()},
    )
    latest = Task.objects.filter(project=project, spec_id=spec_id).order_by("-pk").first()
    if latest:
        emit_event(latest, f"pull request {slug}#{number} recorded; the report goes there")
    return link


def pull_request_summary(link: PullRequestLink) -> dict[str, Any]:
    return {
        "project_id": link.project_id,
        "spec_id": link.spec_id,
        "repo_slug": link.repo_slug,
        "pr_number": link.pr_number,
        "recorded_at": link.recorded_at,
    }


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, default=str)
