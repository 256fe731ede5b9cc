"""A handover: check it completely (writing nothing), or start it — the task's row, its
folder with the spec's snapshot, its worktree, and the first stage queued.

`check_…` functions validate and raise HandoverError with a sentence a person can act
on; they write nothing. `start_task` writes, after every check has passed.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from agents_app.env.plan import PlanError, setup_plan
from agents_app.llm.session import LLMError, mode_for_new_task
from agents_app.sandbox import SANDBOX_CHOICES
from agents_app.spec import analysis, config, criteria
from tasks_app.core import git
from tasks_app.core.events import emit_event
from tasks_app.core.lanes import LANES, lanes_of
from tasks_app.core.workspace import (
    Workspace,
    archive_previous,
    snapshot,
    worktrees_root,
    write_json,
    write_text,
)
from tasks_app.models import Project, Task, slug_problem
from tasks_app.services.errors import ConflictError, HandoverError
from tasks_app.services.projects import refresh_project
from tasks_app.services.tasks import queue_stage

SPEC_FORMATS = ("markdown", "gherkin", "ears")


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
HANDOVER_FLAGS = (*LANES, "offline", "with_engines", "deliver", "dry_run_delivery")


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
    config: dict[str, Any] = field(default_factory=dict)  # the branch's .tfactory.yml


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
    project_config = read_project_config(repo, head_sha)
    # the file's lanes are the project's defaults; the handover's own options win
    handover.options = {**config.lane_options(project_config), **handover.options}
    running = Task.objects.filter(project=project, spec_id=handover.spec_id).exclude(
        status__in=Task.TERMINAL
    )
    if busy := running.first():
        raise ConflictError(
            f"task {busy.pk} for {project.id}/{handover.spec_id} is still {busy.status}; "
            "cancel it or wait for it to finish",
            "spec_id",
        )
    return CheckedHandover(
        handover, project, repo, head_sha, base_ref, base_sha, mbase, spec, project_config
    )


def read_project_config(repo: Path, sha: str) -> dict[str, Any]:
    """The branch's `.tfactory.yml` at its commit, validated; {} when it has none."""
    raw = git.blob(repo, sha, config.FILE, limit=200_000)
    if raw is None:
        return {}
    try:
        return config.parse(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise HandoverError(f"{config.FILE} is not UTF-8 text", "config") from exc
    except config.ConfigError as exc:
        raise HandoverError(str(exc), "config") from exc


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
    try:
        return mode_for_new_task(offline=bool(options.get("offline")))
    except LLMError as exc:
        raise HandoverError(f"{exc} (or pass the option offline=true)", "options") from exc


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
    changed = [
        path for _, _, path in git.numstat(checked.repo, checked.merge_base, checked.head_sha)
    ]
    found = analysis.analyse_project(worktree, changed)
    found["config"] = checked.config or None  # .tfactory.yml, as validated
    try:  # what set-up will install, read statically; the build records what it did
        found["setup"] = {"plan": setup_plan(worktree, found["package_root"]).as_json()}
    except PlanError as exc:
        found["setup"] = {"plan": None, "error": str(exc)}
    write_json(ws.context / "project_analysis.json", found)
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
