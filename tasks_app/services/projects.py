"""Projects: register a repository (a local checkout or a clone TFactory makes), fetch a
clone before a handover, look projects up."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError

from tasks_app.core import git
from tasks_app.models import Project, Task, slug_problem
from tasks_app.services.errors import ConflictError, HandoverError, NotFoundError


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


def project_for_repo(project_id: str, repo: str | Path) -> tuple[Project, bool]:
    """The project `project_id` for the local checkout `repo`, registered when new (the
    command line's --repo); True when it was created. A project that points elsewhere
    is refused."""
    repo = Path(repo).expanduser().resolve()
    project = Project.objects.filter(pk=project_id).first() if isinstance(project_id, str) else None
    if project is None:
        return create_project(project_id, repo), True
    if Path(project.repo_path) != repo:
        raise ConflictError(
            f"project {project.id!r} already points at {project.repo_path}, not {repo}; "
            "use another project id",
            "project_id",
        )
    return project, False


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
