"""The one entry for every face: the CLI, the workers' callers, the API, MCP, the portal
and the admin. Plain values and model instances in, never a request.

- handover.py: check a handover (writing nothing), start it, preview it;
- tasks.py: queue a stage, cancel, rerun a lane, run a task in the foreground;
- reads.py: task summaries, lists, reports, events;
- projects.py: register and look up projects;
- findings.py: a task's findings and their triage;
- aifactory.py: AIFactory's ingest and pull-request contract;
- errors.py: HandoverError (400), NotFoundError (404), ConflictError (409).
The names below are the services' public surface; faces import them from here.
"""

from __future__ import annotations

from agents_app.sandbox import SANDBOX_CHOICES
from agents_app.stages.report import baseline_warning
from tasks_app.core.lanes import LANES, SECURITY_LANES, lanes_of
from tasks_app.services.aifactory import (
    INGEST_FIELDS,
    ingest_spec,
    pull_request_summary,
    record_pull_request,
)
from tasks_app.services.errors import ConflictError, HandoverError, NotFoundError
from tasks_app.services.findings import (
    FINDING_FILTERS,
    get_finding,
    list_findings,
    triage_finding,
)
from tasks_app.services.handover import (
    HANDOVER_FLAGS,
    HANDOVER_OPTIONS,
    SPEC_FORMATS,
    CheckedHandover,
    Handover,
    SpecSnapshot,
    aifactory_spec_dir,
    check_handover,
    check_options,
    check_spec,
    preview_task,
    start_task,
)
from tasks_app.services.projects import (
    create_project,
    get_project,
    list_projects,
    managed_repos_root,
    project_for_repo,
    project_summary,
    refresh_project,
)
from tasks_app.services.reads import (
    EVENTS_PAGE_MAX,
    REPORT_FORMATS,
    TASK_LIST_MAX,
    dumps,
    list_tasks,
    read_report,
    task_events,
    task_summary,
    task_url,
)
from tasks_app.services.tasks import (
    LANE_START,
    cancel_task,
    get_task,
    queue_stage,
    rerun_lane,
    run_in_foreground,
)

__all__ = [
    "EVENTS_PAGE_MAX",
    "FINDING_FILTERS",
    "HANDOVER_FLAGS",
    "HANDOVER_OPTIONS",
    "INGEST_FIELDS",
    "LANES",
    "LANE_START",
    "REPORT_FORMATS",
    "SANDBOX_CHOICES",
    "SECURITY_LANES",
    "SPEC_FORMATS",
    "TASK_LIST_MAX",
    "CheckedHandover",
    "ConflictError",
    "Handover",
    "HandoverError",
    "NotFoundError",
    "SpecSnapshot",
    "aifactory_spec_dir",
    "baseline_warning",
    "cancel_task",
    "check_handover",
    "check_options",
    "check_spec",
    "create_project",
    "dumps",
    "get_finding",
    "get_project",
    "get_task",
    "ingest_spec",
    "lanes_of",
    "list_findings",
    "list_projects",
    "list_tasks",
    "managed_repos_root",
    "preview_task",
    "project_for_repo",
    "project_summary",
    "pull_request_summary",
    "queue_stage",
    "read_report",
    "record_pull_request",
    "refresh_project",
    "rerun_lane",
    "run_in_foreground",
    "start_task",
    "task_events",
    "task_summary",
    "task_url",
    "triage_finding",
]
