"""The portal: server-rendered pages over the services layer, login required everywhere.

Fragments are ordinary templates a view renders alone for htmx (the task table's rows,
a test's code); the live log arrives over the websocket (tasks_app/web/consumers.py).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from findings_app.models import TriageState
from tasks_app import services
from tasks_app.models import Task
from tasks_app.web import portal
from tasks_app.web.forms import ProjectForm

PAGE = 50


def _task_or_404(task_id: int) -> Task:
    try:
        return services.get_task(task_id)
    except services.NotFoundError as exc:
        raise Http404(str(exc)) from exc


def _offset(value: str | None) -> int:
    try:
        return max(int(value or 0), 0)
    except ValueError:
        return 0


@require_GET
@login_required
def index(request: HttpRequest) -> HttpResponse:
    return redirect("tasks")


@require_GET
@login_required
@vary_on_headers("HX-Request")
def tasks(request: HttpRequest) -> HttpResponse:
    project = request.GET.get("project", "")
    status = request.GET.get("status", "")
    offset = _offset(request.GET.get("offset"))
    error = ""
    try:
        rows, total = services.list_tasks(
            project_id=project or None, status=status or None, limit=PAGE, offset=offset
        )
    except services.HandoverError as exc:
        rows, total, error = [], 0, str(exc)
    ctx = {
        "rows": rows,
        "total": total,
        "error": error,
        "project": project,
        "status": status,
        "offset": offset,
        "prev_offset": max(offset - PAGE, 0) if offset else None,
        "next_offset": offset + PAGE if offset + PAGE < total else None,
        "projects": services.list_projects(),
        "statuses": Task.Status.values,
    }
    if request.htmx:
        return render(request, "tasks/_task_rows.html", ctx)
    return render(request, "tasks/list.html", ctx)


@require_GET
@login_required
def task_detail(request: HttpRequest, task_id: int) -> HttpResponse:
    task = _task_or_404(task_id)
    report, no_report = portal.load_report(task)
    lanes = portal.lanes(task, report)
    names = [lane.name for lane in lanes]
    lane = request.GET.get("lane", "")
    if lane not in names:
        lane = names[0] if names else ""
    criteria = portal.criteria(report)
    ctx = {
        "task": task,
        "timeline": portal.timeline(task),
        "events": portal.log_rows(task),
        "log_limit": portal.LOG_ROWS,
        "report": report,
        "no_report": no_report,
        "report_md": portal.load_report_md(task) if report else None,
        "lanes": lanes,
        "lane": lane,
        "tests": portal.tests_of_lane(report, lane),
        "verdicts": portal.verdict_counts(report),
        "criteria": criteria,
        "criteria_counts": portal.criteria_counts(criteria),
        "coverage": portal.coverage(report),
        "mutation": portal.mutation(report),
        "baseline_warning": services.baseline_warning(report or {}),
        # the lanes this task has (an older task may lack the newer ones)
        "rerun_lanes": [name for name in services.LANES if name in names] or services.LANES,
        "security_lanes": services.SECURITY_LANES,
        "has_security": any(name in services.SECURITY_LANES for name in names),
        "findings_counts": portal.findings_counts(task),
        "triage_states": TriageState.choices,
    }
    if lane in services.SECURITY_LANES:
        security = (report or {}).get("lanes", {}).get(lane) or {}
        fixed = [f for f in (report or {}).get("findings_fixed") or [] if f.get("lane") == lane]
        ctx.update(
            findings=portal.findings_of_lane(task, lane),
            unchecked=security.get("unchecked") or [],
            fixed=fixed,
            fixed_task=((report or {}).get("findings_summary") or {}).get("compared_with"),
        )
    return render(request, "tasks/detail.html", ctx)


@require_POST
@login_required
def finding_triage(request: HttpRequest, finding_id: int) -> HttpResponse:
    try:
        finding = services.get_finding(finding_id)
        finding = services.triage_finding(
            finding_id,
            request.POST.get("state", ""),
            request.POST.get("note", ""),
            decided_by=request.user.get_username(),
        )
    except services.NotFoundError as exc:
        raise Http404(str(exc)) from exc
    except services.HandoverError as exc:
        messages.error(request, f"Not changed: {exc}")
    else:
        messages.success(
            request,
            f"Finding {finding.pk} is now {finding.get_triage_state_display().lower()} "
            "(for this and later tasks of the project).",
        )
    url = reverse("task", args=[finding.task_id]) + f"?lane={finding.lane}#lanes"
    return redirect(url)


@require_GET
@login_required
@vary_on_headers("HX-Request")
def task_file(request: HttpRequest, task_id: int) -> HttpResponse:
    """A file of the task's folder (a generated test): the one test function asked for,
    or the whole file."""
    task = _task_or_404(task_id)
    path = request.GET.get("path", "")
    test = request.GET.get("test", "")
    try:
        source = portal.read_task_file(task, path)
    except portal.FileRefused as exc:
        raise Http404(str(exc)) from exc
    excerpt = portal.test_function_source(source, test) if test else None
    ctx = {
        "task": task,
        "path": path,
        "test": test if excerpt is not None else "",
        "code": excerpt if excerpt is not None else source,
    }
    if request.htmx:
        return render(request, "tasks/_code.html", ctx)
    return render(request, "tasks/code.html", ctx)


@require_POST
@login_required
def task_rerun(request: HttpRequest, task_id: int) -> HttpResponse:
    lane = request.POST.get("lane", "")
    try:
        task = services.rerun_lane(task_id, lane)
    except services.NotFoundError as exc:
        raise Http404(str(exc)) from exc
    except services.HandoverError as exc:
        messages.error(request, f"Not rerun: {exc}")
    else:
        messages.success(request, f"Lane {lane} of task {task.pk} is queued to run again.")
    return redirect("task", task_id=task_id)


@require_POST
@login_required
def task_cancel(request: HttpRequest, task_id: int) -> HttpResponse:
    try:
        task = services.cancel_task(task_id)
    except services.NotFoundError as exc:
        raise Http404(str(exc)) from exc
    except services.HandoverError as exc:
        messages.error(request, f"Not cancelled: {exc}")
    else:
        if task.status == Task.Status.CANCELLED:
            messages.success(request, f"Task {task.pk} is cancelled.")
        else:
            messages.info(request, f"Cancel requested: task {task.pk} stops at its next check.")
    return redirect("task", task_id=task_id)


@require_http_methods(["GET", "POST"])
@login_required
def projects(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = ProjectForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                project = services.create_project(
                    data["project_id"],
                    data["repo_path"] or None,
                    git_url=data["git_url"],
                    name=data["name"],
                    default_base_ref=data["default_base_ref"],
                )
            except services.HandoverError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, str(exc))
            else:
                messages.success(request, f"Project {project.id} is registered.")
                return redirect("project", project_id=project.id)
    else:
        form = ProjectForm()
    rows = [services.project_summary(p) for p in services.list_projects()]
    return render(request, "projects/list.html", {"rows": rows, "form": form})


@require_GET
@login_required
def project_detail(request: HttpRequest, project_id: str) -> HttpResponse:
    try:
        project = services.get_project(project_id)
    except services.NotFoundError as exc:
        raise Http404(str(exc)) from exc
    rows, total = services.list_tasks(project_id=project.id, limit=services.TASK_LIST_MAX)
    ctx = {
        "project": project,
        "summary": services.project_summary(project),
        "rows": rows,
        "total": total,
    }
    return render(request, "projects/detail.html", ctx)
