"""Schedule the reaper that fails tasks whose worker stopped sending heartbeats."""

from django.db import migrations


def add_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name="tfactory-reaper",
        defaults={
            "func": "agents_app.jobs.reap_job",
            "schedule_type": "I",  # minutes interval
            "minutes": 1,
            "repeats": -1,
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="tfactory-reaper").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("tasks_app", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(add_schedule, remove_schedule)]
