"""The portal's routes, mounted at the site's root by tfactory/urls.py."""

from __future__ import annotations

from django.urls import path

from tasks_app.web import views
from tasks_app.web.api.urls import SlugIdConverter  # noqa: F401 - registers "slugid"

urlpatterns = [
    path("", views.index, name="index"),
    path("tasks/", views.tasks, name="tasks"),
    path("tasks/<int:task_id>/", views.task_detail, name="task"),
    path("tasks/<int:task_id>/file/", views.task_file, name="task_file"),
    path("tasks/<int:task_id>/rerun/", views.task_rerun, name="task_rerun"),
    path("tasks/<int:task_id>/cancel/", views.task_cancel, name="task_cancel"),
    path("findings/<int:finding_id>/triage/", views.finding_triage, name="finding_triage"),
    path("projects/", views.projects, name="projects"),
    path("projects/<slugid:project_id>/", views.project_detail, name="project"),
]
