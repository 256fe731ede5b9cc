"""TFactory's MCP tools, served over stdio by `manage.py mcp_serve`.

Each tool is a thin async wrapper over `tasks_app.services`: the ORM runs through
`sync_to_async` (thread-sensitive, so one thread holds the database connection), the
pipeline runs in the django-q2 workers and never inside a tool call, and every
`services.HandoverError` comes back as a tool error carrying the service's sentence.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any, Literal, TypeVar

import pydantic_core
from asgiref.sync import sync_to_async
from django.db import close_old_connections
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.context import Context
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import ConfigDict, Field, ValidationError, create_model

from tasks_app import services
from tasks_app.models import SLUG_RE, Task

T = TypeVar("T")

INSTRUCTIONS = (
    "TFactory writes and runs tests for a finished feature branch against its spec. "
    "Hand a branch over with task_create_and_run: first with confirm=false to preview what "
    "would be created, then, once the person agrees, with confirm=true. The pipeline runs "
    "in TFactory's workers; follow it with task_status and read the result with report_get."
)

# ---------------------------------------------------------------- input types

ProjectId = Annotated[
    str,
    Field(
        description="TFactory project id: a slug (letters, digits, '.', '_', '-')",
        pattern=SLUG_RE.pattern,
        max_length=100,
    ),
]
TaskId = Annotated[int, Field(description="TFactory task id (a whole number)", ge=1)]
TaskStatus = Literal[tuple(Task.Status.values)]  # type: ignore[valid-type]
Lane = Literal[services.LANES]  # type: ignore[valid-type]
SpecFormat = Literal[services.SPEC_FORMATS]  # type: ignore[valid-type]

_OPTION_HELP = {
    "engine_budget_s": "seconds of engine search per changed module",
    "lane_budget_s": "seconds for the whole functional lane",
    "eval_runs": "how many times each candidate test is run to detect flakiness",
    "mutation_budget_s": "seconds for the mutation lane",
    "mutation_max_mutants": "the most mutants tested; the rest are reported as ignored",
    "feedback_rounds": "extra generation rounds fed with uncovered lines and survivors",
    "functional": "generate and judge tests (default: on); off: a security scan only",
    "mutation": "run the mutation lane (default: on)",
    "sast": "run the SAST lane: Bandit and Semgrep on the changed code (default: on)",
    "deps": "check the dependencies against OSV advisories (default: on)",
    "secrets": "look for secrets in the changed files and new commits (default: on)",
    "offline": "use the offline engines even when a model is configured",
    "with_engines": "with a model configured, also run the offline engines",
    "deliver": "commit, push and comment as the project is configured (default: on)",
    "dry_run_delivery": "write the commit as a patch and the PR comment to files only",
}
# The options a handover may tune, with the service's own bounds; unknown keys are refused.
HandoverOptions = create_model(
    "HandoverOptions",
    __config__=ConfigDict(extra="forbid"),
    **{
        name: (int | None, Field(None, ge=low, le=high, description=_OPTION_HELP.get(name)))
        for name, (low, high) in services.HANDOVER_OPTIONS.items()
    },
    **{
        name: (bool | None, Field(None, description=_OPTION_HELP.get(name)))
        for name in services.HANDOVER_FLAGS
    },
)


# ---------------------------------------------------------------- plumbing


def _jsonable(data: Any) -> Any:
    """Plain JSON values: datetimes as ISO strings, paths and the rest as text."""
    return pydantic_core.to_jsonable_python(data, fallback=str)


def _tool_error(exc: services.HandoverError) -> ToolError:
    text = str(exc)
    return ToolError(f"{exc.field}: {text}" if exc.field else text)


def _orm(fn: Callable[..., T]) -> Callable[..., Any]:
    """Run a service in the thread that owns the database connection, as a request would
    (stale connections closed before and after), with its refusals as tool errors."""

    def call(*args: Any, **kwargs: Any) -> T:
        close_old_connections()
        try:
            return fn(*args, **kwargs)
        except services.HandoverError as exc:
            raise _tool_error(exc) from exc
        finally:
            close_old_connections()

    return sync_to_async(call, thread_sensitive=True)


def _status(task_id: int, after_event: int | None, events: int) -> dict[str, Any]:
    summary = services.task_summary(services.get_task(task_id))
    if after_event is None:
        page = services.task_events(task_id, limit=max(events, 1), tail=True)
    else:
        page = services.task_events(task_id, after=after_event, limit=max(events, 1))
    summary.update(
        events=page["events"] if events else [],
        next_after=page["next_after"],
        has_more=page["has_more"],
    )
    return summary


def _create_and_run(payload: dict[str, Any], confirm: bool) -> dict[str, Any]:
    if not confirm:
        return {"created": False, **services.preview_task(payload)}
    # enqueue=True: the job goes to the workers on commit; nothing runs here
    task = services.start_task(payload, enqueue=True)
    return {"created": True, **services.task_summary(task)}


def _create_project(**kwargs: Any) -> dict[str, Any]:
    return services.project_summary(services.create_project(**kwargs))


def _list_tasks(**kwargs: Any) -> dict[str, Any]:
    tasks, total = services.list_tasks(**kwargs)
    return {"tasks": [services.task_summary(t) for t in tasks], "total": total}


def _list_projects() -> dict[str, Any]:
    return {"projects": [services.project_summary(p) for p in services.list_projects()]}


def _rerun(task_id: int, lane: str) -> dict[str, Any]:
    return services.task_summary(services.rerun_lane(task_id, lane, enqueue=True))


def _validation_sentence(exc: ValidationError) -> str:
    """pydantic's report, one clause per field, without its links and type codes."""
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        shown = repr(err.get("input"))
        shown = shown if len(shown) <= 80 else shown[:79] + "…"
        got = "" if err["type"] == "missing" else f" (got {shown})"
        parts.append(f"{where}: {err['msg']}{got}")
    return "; ".join(parts)


class TFactoryMCP(MCPServer):
    """MCPServer whose tool errors are the bare sentence a person can act on: the SDK
    prefixes "Error executing tool …" and passes pydantic's multi-line report through."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context | None = None
    ) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError:
            raise
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, ValidationError):
                raise ToolError(_validation_sentence(cause)) from cause
            if isinstance(cause, ToolError):  # ours, raised in a tool: already a sentence
                raise cause from cause.__cause__
            raise


# ---------------------------------------------------------------- tools


async def task_create_and_run(
    project_id: ProjectId,
    spec_id: Annotated[
        str,
        Field(
            description=(
                "the spec's id: the AIFactory spec folder name (e.g. '001-discount-codes'), "
                "or any slug naming the spec when spec_text is given"
            ),
            pattern=SLUG_RE.pattern,
            max_length=100,
        ),
    ],
    branch: Annotated[
        str, Field(description="the feature branch to test, as named in the repository")
    ],
    base_ref: Annotated[
        str | None,
        Field(description="the branch or ref to diff against; default: the project's base"),
    ] = None,
    spec_text: Annotated[
        str | None,
        Field(
            description=(
                "the spec's text, for a repository without an AIFactory spec folder; "
                "omit to read the folder"
            )
        ),
    ] = None,
    spec_format: Annotated[SpecFormat, Field(description="the format of spec_text")] = "markdown",
    options: Annotated[
        HandoverOptions | None, Field(description="budgets and switches for this run")
    ] = None,
    confirm: Annotated[
        bool,
        Field(
            description=(
                "false: only check the handover and return what would be created (nothing "
                "is written); true: create the task and queue it"
            )
        ),
    ] = False,
) -> dict[str, Any]:
    """Hand a feature branch and its spec to TFactory, which writes tests proving the
    spec's acceptance criteria for the changed code and runs them in a sandbox.

    Call it first with confirm=false: it checks everything and returns a preview
    (repository, branch and base commits, the acceptance criteria found, the changed
    files, the lanes, the spec folder, the previous run it would archive) and writes
    nothing. Show that to the person; with their agreement call it again with
    confirm=true, which creates the task and queues it for TFactory's workers, returning
    at once with task_id, status, spec_folder and portal_url. Follow it with task_status.
    """
    payload: dict[str, Any] = {"project_id": project_id, "spec_id": spec_id, "branch": branch}
    if base_ref is not None:
        payload["base_ref"] = base_ref
    if spec_text is not None:
        payload["spec_text"] = spec_text
    payload["spec_format"] = spec_format
    if options is not None:
        payload["options"] = options.model_dump(exclude_none=True)
    return _jsonable(await _orm(_create_and_run)(payload, confirm))


async def task_status(
    task_id: TaskId,
    after_event: Annotated[
        int | None,
        Field(
            description=(
                "return the events after this event id (next_after of the previous call), "
                "to follow progress; omit for the latest events"
            ),
            ge=0,
        ),
    ] = None,
    events: Annotated[int, Field(description="how many events to return", ge=0, le=100)] = 10,
) -> dict[str, Any]:
    """A task's state: status (pending, planning, generating, running, evaluating,
    triaging, delivering, done, failed, cancelled), current stage, lanes, error, times,
    the report's paths once written, portal_url, and its latest events (progress lines)
    with next_after for the next poll. Poll it every 10-30 seconds until the status is
    done, failed or cancelled."""
    return _jsonable(await _orm(_status)(task_id, after_event, events))


async def task_list(
    project_id: Annotated[ProjectId | None, Field(description="only this project's tasks")] = None,
    status: Annotated[TaskStatus | None, Field(description="only tasks in this status")] = None,
    limit: Annotated[
        int, Field(description="tasks per page", ge=1, le=services.TASK_LIST_MAX)
    ] = 20,
    offset: Annotated[int, Field(description="tasks to skip, for the next page", ge=0)] = 0,
) -> dict[str, Any]:
    """Tasks newest first, optionally of one project or status: each with task_id,
    project_id, spec_id, branch, status, stage, times and portal_url; total is the count
    of all matching tasks. Use it to find a task id or to see what is running."""
    return _jsonable(
        await _orm(_list_tasks)(project_id=project_id, status=status, limit=limit, offset=offset)
    )


async def project_list() -> dict[str, Any]:
    """The projects (repositories) registered in TFactory: project_id, name, repo_path,
    git_url, default_base_ref, how many tasks and the latest one. Use it to find the
    project id of the repository you are working in (compare repo_path or git_url)."""
    return _jsonable(await _orm(_list_projects)())


async def project_create(
    project_id: ProjectId,
    repo_path: Annotated[
        str | None,
        Field(
            description=(
                "absolute path of a local git checkout on this machine (only read, never "
                "written); give this or git_url"
            )
        ),
    ] = None,
    git_url: Annotated[
        str | None,
        Field(description="https or ssh URL TFactory clones for itself; give this or repo_path"),
    ] = None,
    name: Annotated[str, Field(description="display name; default: the id", max_length=200)] = "",
    default_base_ref: Annotated[
        str, Field(description="the branch handovers diff against by default")
    ] = "main",
) -> dict[str, Any]:
    """Register a repository as a TFactory project, from a local checkout (repo_path) or
    a remote one (git_url, cloned once and fetched before each handover). Use it when
    project_list has no project for the repository. Returns the project's summary."""
    return _jsonable(
        await _orm(_create_project)(
            project_id=project_id,
            repo_path=repo_path,
            git_url=git_url or "",
            name=name,
            default_base_ref=default_base_ref,
        )
    )


async def report_get(
    task_id: TaskId,
    format: Annotated[
        Literal["md", "json", "sarif"],
        Field(
            description="md: the readable report; json: the full machine-readable one; "
            "sarif: the security findings as SARIF 2.1.0"
        ),
    ] = "md",
) -> CallToolResult:
    """A finished task's report: per acceptance criterion the tests kept, rejected or
    flagged as possible bugs, changed-line coverage, mutation score, the security
    findings, and where the tests are. Available once the task is done (or a rerun of it
    is); md is for reading, json for details, sarif for code-scanning tools."""
    report = await _orm(services.read_report)(task_id, format)
    text = report if isinstance(report, str) else json.dumps(report, indent=2, default=str)
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content={"task_id": task_id, "format": format, "report": _jsonable(report)},
    )


async def task_rerun(
    task_id: TaskId,
    lane: Annotated[
        Lane,
        Field(
            description=(
                "functional: generate and evaluate new tests; mutation: rebuild the kill "
                "matrix for the same tests"
            )
        ),
    ],
) -> dict[str, Any]:
    """Run one lane of a finished task again (the newest task of its spec only), queued
    for the workers like a new task. Returns the task's summary, status pending; follow
    it with task_status."""
    return _jsonable(await _orm(_rerun)(task_id, lane))


def build_server() -> MCPServer:
    """The stdio server's tools; needs Django set up (the management command does it)."""
    try:
        server_version = version("tfactory")
    except PackageNotFoundError:
        server_version = "0"
    # log_level only matters when nothing configured logging; Django's LOGGING already
    # sends everything to stderr at TFACTORY_LOG_LEVEL
    server = TFactoryMCP(
        "tfactory", instructions=INSTRUCTIONS, version=server_version, log_level="WARNING"
    )
    reads = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    writes = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
    server.add_tool(task_create_and_run, title="Hand a branch to TFactory", annotations=writes)
    server.add_tool(task_status, title="Task status and progress", annotations=reads)
    server.add_tool(task_list, title="List tasks", annotations=reads)
    server.add_tool(project_list, title="List projects", annotations=reads)
    server.add_tool(project_create, title="Register a repository", annotations=writes)
    server.add_tool(report_get, title="Read a task's report", annotations=reads)
    server.add_tool(task_rerun, title="Rerun a lane", annotations=writes)
    return server
