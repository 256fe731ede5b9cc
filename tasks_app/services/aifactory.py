"""AIFactory's contract: ingest a spec (cloning the project's repository when it is new)
and record the pull request its report goes to."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.utils import timezone

from tasks_app.core import git
from tasks_app.core.events import emit_event
from tasks_app.models import Project, PullRequestLink, Task, slug_problem
from tasks_app.services.errors import ConflictError, HandoverError
from tasks_app.services.handover import SPEC_FORMATS, Handover, start_task
from tasks_app.services.projects import create_project, get_project, refresh_project

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
