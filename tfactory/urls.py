from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("tasks_app.web.api.urls")),
    # login, logout, password change (templates/registration/)
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("tasks_app.web.urls")),
]

# unmatched URLs under /api/ answer with the API's JSON error body
handler404 = "tasks_app.web.api.errors.not_found"
