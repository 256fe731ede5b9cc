"""The API's routes, mounted under /api/ by tfactory/urls.py."""

from __future__ import annotations

from collections.abc import Callable

from django.urls import path, register_converter
from django.views.decorators.common import no_append_slash
from drf_spectacular.views import SpectacularAPIView

from tasks_app.models import SLUG_RE
from tasks_app.web.api import views


class SlugIdConverter:
    """Project and spec ids as the models define them: a path separator or anything else
    outside the slug alphabet never reaches a view, let alone the filesystem."""

    regex = SLUG_RE.pattern.removeprefix("^").removesuffix("$")

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(SlugIdConverter, "slugid")


def api(view: Callable) -> Callable:
    # a POST to /api/tasks (no slash) is a 404, not a redirect that drops the body
    return no_append_slash(view)


urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("projects/", api(views.ProjectList.as_view()), name="api-projects"),
    path("projects/<slugid:project_id>/", api(views.ProjectDetail.as_view()), name="api-project"),
    path("tasks/", api(views.TaskList.as_view()), name="api-tasks"),
    path("tasks/preview/", api(views.TaskPreview.as_view()), name="api-task-preview"),
    path("tasks/<int:task_id>/", api(views.TaskDetail.as_view()), name="api-task"),
    path("tasks/<int:task_id>/status/", api(views.TaskStatus.as_view()), name="api-task-status"),
    path("tasks/<int:task_id>/events/", api(views.TaskEvents.as_view()), name="api-task-events"),
    path("tasks/<int:task_id>/report/", api(views.TaskReport.as_view()), name="api-task-report"),
    path(
        "tasks/<int:task_id>/findings/", api(views.TaskFindings.as_view()), name="api-task-findings"
    ),
    path("findings/<int:finding_id>/", api(views.FindingDetail.as_view()), name="api-finding"),
    path(
        "findings/<int:finding_id>/triage/",
        api(views.FindingTriage.as_view()),
        name="api-finding-triage",
    ),
    path("tasks/<int:task_id>/rerun/", api(views.TaskRerun.as_view()), name="api-task-rerun"),
    path("tasks/<int:task_id>/cancel/", api(views.TaskCancel.as_view()), name="api-task-cancel"),
    # AIFactory's contract, exactly as its client sends it: no trailing slash
    path("specs/ingest", api(views.SpecIngest.as_view()), name="api-specs-ingest"),
    path(
        "specs/<slugid:project_id>/<slugid:spec_id>/pr",
        api(views.SpecPullRequest.as_view()),
        name="api-specs-pr",
    ),
]
