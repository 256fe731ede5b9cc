"""The REST API: thin views over tasks_app.services.

Every read and write goes through the services, which validate and raise HandoverError
(400), NotFoundError (404) or ConflictError (409); errors.exception_handler turns those
into the API's error body. The views check only what is the API's own: that the body is
a JSON object without unknown fields, the query string, and the JSON types where a service
takes typed Python arguments (create_project).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

from findings_app import store as findings_store
from findings_app.models import Severity, TriageState
from tasks_app import services
from tasks_app.models import Task
from tasks_app.web.api import serializers as s
from tasks_app.web.api.errors import BadRequest

ERROR_MEANING = {
    400: "Bad input; `errors` names the fields at fault. Nothing was changed.",
    401: "No token, or a wrong one.",
    404: "No such project or task (or no report yet).",
    409: "Well formed, but the current state forbids it (a run in flight, a task ended).",
    413: "The body is too large.",
    415: "The body is not JSON.",
}
# the error answers every POST with a JSON body can give, besides its own
BODY_ERRORS = (400, 401, 413, 415)


def responses(ok: dict[Any, Any], *errors: int) -> dict[Any, Any]:
    return {
        **ok,
        **{
            code: OpenApiResponse(s.ErrorSerializer, ERROR_MEANING[code]) for code in sorted(errors)
        },
    }


# request examples: the bundled example project (examples/make_example_repo.py)
HANDOVER_EXAMPLE = OpenApiExample(
    "handover",
    value={
        "project_id": "billable",
        "spec_id": "001-discount-codes",
        "branch": "feature/discount-codes",
        "base_ref": "main",
        "options": {"offline": True},
    },
    request_only=True,
)
INGEST_EXAMPLE = OpenApiExample(
    "ingest",
    value={
        "project_id": "billable",
        "spec_id": "001-discount-codes",
        "spec_text": "# Discount codes\n\n## Acceptance Criteria\n\n"
        "### AC#1\n`normalize_code` upper-cases codes and strips spaces.\n",
        "format": "markdown",
        "git_url": "https://github.com/acme/billable.git",
        "source_branch": "feature/discount-codes",
    },
    request_only=True,
)


def count_schema(low: int, high: int | None = None) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, **({"maximum": high} if high else {})}


def body(
    request: Request, fields: Collection[str], required: Collection[str] = ()
) -> dict[str, Any]:
    """The request's JSON object. Unknown fields are refused here, each under its own name,
    so a typo in an optional field is not silently ignored."""
    data = request.data
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise BadRequest(
            f"unknown field(s): {', '.join(unknown)}; fields: {', '.join(fields)}",
            {name: ["unknown field"] for name in unknown},
        )
    missing = [name for name in required if data.get(name) is None]
    if missing:
        raise BadRequest(
            f"'{missing[0]}' is required", {name: ["required, and not null"] for name in missing}
        )
    return data


def query(request: Request, names: Collection[str]) -> dict[str, str]:
    """The query parameters, all known (a misspelt filter would otherwise list everything)."""
    unknown = sorted(set(request.query_params) - set(names))
    if unknown:
        raise BadRequest(
            f"unknown query parameter(s): {', '.join(unknown)}; parameters: {', '.join(names)}",
            {name: ["unknown query parameter"] for name in unknown},
        )
    return {name: request.query_params[name] for name in names if name in request.query_params}


def whole_number(params: dict[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    # at most 18 digits: larger numbers overflow the database's integers
    if not re.fullmatch(r"[0-9]{1,18}", raw):
        message = f"{name} must be a whole number, not {raw[:40]!r}"
        raise BadRequest(message, {name: [message]})
    return int(raw)


class JsonWhateverAccepted(BaseContentNegotiation):
    """The report's format is chosen by ?format=, not by the Accept header."""

    def select_parser(self, request: Request, parsers: list[Any]) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: list[Any], format_suffix: Any = None):
        return renderers[0], renderers[0].media_type


# ---------------------------------------------------------------- projects

PROJECT_FIELDS = ("project_id", "repo_path", "git_url", "name", "default_base_ref")
RECENT_TASKS = 10


class ProjectList(APIView):
    @extend_schema(
        operation_id="projects_list",
        summary="Registered projects",
        tags=["projects"],
        responses=responses({200: s.ProjectListSerializer}, 401),
    )
    def get(self, request: Request) -> Response:
        projects = [services.project_summary(p) for p in services.list_projects()]
        return Response({"count": len(projects), "results": projects})

    @extend_schema(
        operation_id="projects_create",
        summary="Register a repository",
        tags=["projects"],
        request=s.ProjectCreateSerializer,
        examples=[
            OpenApiExample(
                "local checkout",
                value={"project_id": "billable", "repo_path": "/srv/git/billable"},
                request_only=True,
            )
        ],
        responses=responses({201: s.ProjectSerializer}, *BODY_ERRORS, 409),
    )
    def post(self, request: Request) -> Response:
        data = {k: v for k, v in body(request, PROJECT_FIELDS).items() if v is not None}
        repo_path = data.get("repo_path")
        if isinstance(repo_path, str) and repo_path and not Path(repo_path).is_absolute():
            # relative (or ~user) paths would depend on the server's working directory
            message = "repo_path must be an absolute path on the TFactory host"
            raise BadRequest(message, {"repo_path": [message]})
        project = services.create_project(
            data.get("project_id", ""),
            repo_path,
            git_url=data.get("git_url", ""),
            name=data.get("name", ""),
            default_base_ref=data.get("default_base_ref", "main"),
        )
        return Response(services.project_summary(project), status=status.HTTP_201_CREATED)


class ProjectDetail(APIView):
    @extend_schema(
        operation_id="projects_retrieve",
        summary="A project and its newest tasks",
        tags=["projects"],
        responses=responses({200: s.ProjectDetailSerializer}, 401, 404),
    )
    def get(self, request: Request, project_id: str) -> Response:
        project = services.get_project(project_id)
        tasks, _ = services.list_tasks(project_id=project.id, limit=RECENT_TASKS)
        return Response(
            {
                **services.project_summary(project),
                "recent_tasks": [services.task_summary(t) for t in tasks],
            }
        )


# ---------------------------------------------------------------- tasks

HANDOVER_FIELDS = (
    "project_id",
    "spec_id",
    "branch",
    "base_ref",
    "spec_text",
    "spec_format",
    "options",
    # not documented: the service refuses it with the reason (host paths are the CLI's)
    "spec_file",
)
LIST_PARAMS = ("project", "status", "spec_id", "limit", "offset")


class TaskList(APIView):
    @extend_schema(
        operation_id="tasks_list",
        summary="Tasks, newest first",
        tags=["tasks"],
        parameters=[
            OpenApiParameter("project", str, description="Only this project's tasks."),
            OpenApiParameter("status", str, enum=Task.Status.values),
            OpenApiParameter("spec_id", str),
            OpenApiParameter(
                "limit", count_schema(1, services.TASK_LIST_MAX), description="Default 20."
            ),
            OpenApiParameter("offset", count_schema(0), description="Default 0."),
        ],
        responses=responses({200: s.TaskPageSerializer}, 400, 401),
    )
    def get(self, request: Request) -> Response:
        params = query(request, LIST_PARAMS)
        limit = whole_number(params, "limit", 20)
        offset = whole_number(params, "offset", 0)
        try:
            tasks, count = services.list_tasks(
                project_id=params.get("project"),
                status=params.get("status"),
                spec_id=params.get("spec_id"),
                limit=limit,
                offset=offset,
            )
        except services.HandoverError as exc:
            exc.field = {"project_id": "project"}.get(exc.field or "", exc.field)
            raise
        url = request.build_absolute_uri()
        following = offset + limit < count
        return Response(
            {
                "count": count,
                "next": replace_query_param(url, "offset", offset + limit) if following else None,
                "previous": (
                    None
                    if offset == 0
                    else remove_query_param(url, "offset")
                    if offset <= limit
                    else replace_query_param(url, "offset", offset - limit)
                ),
                "results": [services.task_summary(t) for t in tasks],
            }
        )

    @extend_schema(
        operation_id="tasks_create",
        summary="Hand a branch and its spec over",
        description="Checks everything, lays out the task's folder and worktree, and queues "
        "the pipeline. At most one run of a spec is in flight (409 otherwise).",
        tags=["tasks"],
        request=s.HandoverSerializer,
        examples=[HANDOVER_EXAMPLE],
        responses=responses({201: s.TaskSerializer}, *BODY_ERRORS, 409),
    )
    def post(self, request: Request) -> Response:
        task = services.start_task(body(request, HANDOVER_FIELDS), enqueue=True)
        return Response(services.task_summary(task), status=status.HTTP_201_CREATED)


class TaskPreview(APIView):
    @extend_schema(
        operation_id="tasks_preview",
        summary="What a handover would create; creates nothing",
        tags=["tasks"],
        request=s.HandoverSerializer,
        examples=[HANDOVER_EXAMPLE],
        responses=responses({200: s.PreviewSerializer}, *BODY_ERRORS, 409),
    )
    def post(self, request: Request) -> Response:
        return Response(services.preview_task(body(request, HANDOVER_FIELDS)))


class TaskDetail(APIView):
    @extend_schema(
        operation_id="tasks_retrieve",
        summary="A task",
        tags=["tasks"],
        responses=responses({200: s.TaskSerializer}, 401, 404),
    )
    def get(self, request: Request, task_id: int) -> Response:
        return Response(services.task_summary(services.get_task(task_id)))


class TaskStatus(APIView):
    @extend_schema(
        operation_id="tasks_status",
        summary="A task's status, small enough to poll",
        tags=["tasks"],
        responses=responses({200: s.TaskStatusSerializer}, 401, 404),
    )
    def get(self, request: Request, task_id: int) -> Response:
        summary = services.task_summary(services.get_task(task_id))
        keys = ("task_id", "status", "stage", "lanes", "error", "updated_at")
        return Response({k: summary[k] for k in keys})


class TaskEvents(APIView):
    @extend_schema(
        operation_id="tasks_events",
        summary="A task's log, oldest first, after an event id",
        tags=["tasks"],
        parameters=[
            OpenApiParameter("after", count_schema(0), description="An event id; default 0."),
            OpenApiParameter(
                "limit", count_schema(1, services.EVENTS_PAGE_MAX), description="Default 100."
            ),
        ],
        responses=responses({200: s.EventPageSerializer}, 400, 401, 404),
    )
    def get(self, request: Request, task_id: int) -> Response:
        params = query(request, ("after", "limit"))
        return Response(
            services.task_events(
                task_id,
                after=whole_number(params, "after", 0),
                limit=whole_number(params, "limit", 100),
            )
        )


class TaskReport(APIView):
    content_negotiation_class = JsonWhateverAccepted

    @extend_schema(
        operation_id="tasks_report",
        summary="The task's report.json, report.md (?format=md) or findings.sarif (?format=sarif)",
        tags=["tasks"],
        parameters=[OpenApiParameter("format", str, enum=services.REPORT_FORMATS)],
        responses=responses(
            {
                (200, "application/json"): OpenApiTypes.OBJECT,
                (200, "text/markdown"): OpenApiTypes.STR,
                (200, "application/sarif+json"): OpenApiTypes.OBJECT,
            },
            400,
            401,
            404,
        ),
    )
    def get(self, request: Request, task_id: int) -> Response | HttpResponse:
        fmt = query(request, ("format",)).get("format", "json")
        report = services.read_report(task_id, fmt)
        if fmt == "md":
            return HttpResponse(report, content_type="text/markdown; charset=utf-8")
        if fmt == "sarif":
            return Response(report, content_type="application/sarif+json")
        return Response(report)


FINDING_PARAMS = ("lane", "severity", "triage_state")


class TaskFindings(APIView):
    @extend_schema(
        operation_id="tasks_findings",
        summary="The task's security findings, most severe first",
        tags=["findings"],
        parameters=[
            OpenApiParameter("lane", str, enum=services.SECURITY_LANES),
            OpenApiParameter("severity", str, enum=Severity.values),
            OpenApiParameter("triage_state", str, enum=TriageState.values),
        ],
        responses=responses({200: s.FindingListSerializer}, 400, 401, 404),
    )
    def get(self, request: Request, task_id: int) -> Response:
        rows = services.list_findings(task_id, **query(request, FINDING_PARAMS))
        return Response({"count": len(rows), "results": [findings_store.entry(r) for r in rows]})


class FindingDetail(APIView):
    @extend_schema(
        operation_id="findings_retrieve",
        summary="One finding",
        tags=["findings"],
        responses=responses({200: s.FindingSerializer}, 401, 404),
    )
    def get(self, request: Request, finding_id: int) -> Response:
        return Response(findings_store.entry(services.get_finding(finding_id)))


class FindingTriage(APIView):
    @extend_schema(
        operation_id="findings_triage",
        summary="Mark a finding a false positive or an accepted risk (or open it again)",
        description="The decision holds for the same finding (its fingerprint) in every task "
        "of the project, later ones included; the reports of finished tasks are rewritten.",
        tags=["findings"],
        request=s.TriageSerializer,
        responses=responses({200: s.FindingSerializer}, *BODY_ERRORS, 404),
    )
    def post(self, request: Request, finding_id: int) -> Response:
        data = body(request, ("state", "note"), required=("state",))
        for name in ("state", "note"):
            if name in data and not isinstance(data[name], str):
                raise BadRequest(f"'{name}' must be a string", {name: ["must be a string"]})
        finding = services.triage_finding(
            finding_id,
            data["state"],
            data.get("note") or "",
            decided_by=request.user.get_username() if request.user else "",
        )
        return Response(findings_store.entry(finding))


class TaskRerun(APIView):
    @extend_schema(
        operation_id="tasks_rerun",
        summary="Run one lane of an ended task again",
        tags=["tasks"],
        request=s.RerunSerializer,
        responses=responses({202: s.TaskSerializer}, *BODY_ERRORS, 404, 409),
    )
    def post(self, request: Request, task_id: int) -> Response:
        data = body(request, ("lane",), required=("lane",))
        task = services.rerun_lane(task_id, data["lane"], enqueue=True)
        return Response(services.task_summary(task), status=status.HTTP_202_ACCEPTED)


class TaskCancel(APIView):
    @extend_schema(
        operation_id="tasks_cancel",
        summary="Cancel a task",
        description="200 when the task is cancelled at once (no worker had it); 202 when the "
        "running stage stops at its next check.",
        tags=["tasks"],
        request=None,
        responses=responses({200: s.TaskSerializer, 202: s.TaskSerializer}, 401, 404, 409),
    )
    def post(self, request: Request, task_id: int) -> Response:
        task = services.cancel_task(task_id)
        done = task.status == Task.Status.CANCELLED
        return Response(
            services.task_summary(task),
            status=status.HTTP_200_OK if done else status.HTTP_202_ACCEPTED,
        )


# ---------------------------------------------------------------- AIFactory's contract


INGEST_REQUIRED = ("project_id", "spec_id", "spec_text", "format")


class SpecIngest(APIView):
    @extend_schema(
        operation_id="specs_ingest",
        summary="AIFactory: test a spec's branch",
        description="A spec's text and where its code is. An unknown project is registered by "
        "cloning git_url; without source_branch the one branch named after the spec is taken.",
        tags=["aifactory"],
        request=s.IngestSerializer,
        examples=[INGEST_EXAMPLE],
        responses=responses({202: s.TaskSerializer}, *BODY_ERRORS, 409),
    )
    def post(self, request: Request) -> Response:
        data = body(request, services.INGEST_FIELDS, required=INGEST_REQUIRED)
        task = services.ingest_spec(data, enqueue=True)
        return Response(services.task_summary(task), status=status.HTTP_202_ACCEPTED)


class SpecPullRequest(APIView):
    @extend_schema(
        operation_id="specs_pull_request",
        summary="AIFactory: where the spec's report is to be posted",
        description="A later call for the same spec replaces the earlier one.",
        tags=["aifactory"],
        request=s.PullRequestSerializer,
        examples=[
            OpenApiExample(
                "pull request",
                value={"pr_number": 42, "repo_slug": "acme/billable"},
                request_only=True,
            )
        ],
        responses=responses({200: s.PullRequestLinkSerializer}, *BODY_ERRORS, 404),
    )
    def post(self, request: Request, project_id: str, spec_id: str) -> Response:
        data = body(request, ("pr_number", "repo_slug"))
        link = services.record_pull_request(project_id, spec_id, data)
        return Response(services.pull_request_summary(link))
