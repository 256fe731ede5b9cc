from django.apps import AppConfig


class FindingsAppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "findings_app"
