"""The portal's pages and the admin's bulk actions, through Django's test client, on
real handovers of the bundled example (nothing run; a finished task carries a real run's
files from tests/data/portal)."""

from __future__ import annotations

import json
import os
import re
import stat
from html import unescape
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django_q.models import OrmQ

from tasks_app import services
from tasks_app.core.events import emit_event
from tasks_app.models import Project, Task
from tests.conftest import start_example_task
from tests.portal_support import demo_report, finish_like_the_demo, start_running

pytestmark = pytest.mark.django_db

PASSWORD = "a long password 1"
EVENT_ID = re.compile(r'data-event-id="(\d+)"')


@pytest.fixture
def user():
    return get_user_model().objects.create_user("alice", password=PASSWORD)


@pytest.fixture
def client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def task(example) -> Task:
    return start_example_task(example)


@pytest.fixture
def finished(task) -> Task:
    return finish_like_the_demo(task)


def page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def flashes(client: Client, response) -> list[str]:
    """The messages shown on the page a POST redirected to."""
    assert response.status_code == 302
    shown = page(client.get(response["Location"]))
    return [unescape(m) for m in re.findall(r'<li class="flash [^"]*">(.*?)</li>', shown)]


# ---------------------------------------------------------------- login


@pytest.mark.parametrize(
    "url",
    ["/", "/tasks/", "/tasks/1/", "/tasks/1/file/?path=report.md", "/projects/", "/projects/x/"],
)
def test_every_page_sends_a_visitor_who_is_not_logged_in_to_the_login_page(url):
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_the_actions_want_a_login_too(finished):
    for url in (f"/tasks/{finished.pk}/rerun/", f"/tasks/{finished.pk}/cancel/"):
        response = Client().post(url, {"lane": "functional"})
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    finished.refresh_from_db()
    assert finished.status == Task.Status.DONE


def test_logging_in_with_the_form_lands_on_the_task_list(user):
    client = Client()
    login = page(client.get("/accounts/login/"))
    assert 'name="username"' in login and 'name="password"' in login
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/tasks/"
    assert "<h1>Tasks</h1>" in page(client.get("/tasks/"))


def test_a_wrong_password_is_refused_on_the_form(user):
    response = Client().post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_the_root_is_the_task_list(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/tasks/"


def test_logging_out_takes_a_post_and_ends_the_session(client):
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert client.get("/tasks/").status_code == 302


# ---------------------------------------------------------------- task list


def test_the_task_list_shows_tasks_newest_first_with_status_badges(client, finished, example):
    services.create_project("other", example["repo"])
    newer = services.start_task(
        {"project_id": "other", "spec_id": "s2", "branch": example["branch"], "spec_text": "x"},
        enqueue=False,
    )
    html = page(client.get("/tasks/"))
    ids = [int(i) for i in re.findall(r'<tr data-task-id="(\d+)"', html)]
    assert ids == [newer.pk, finished.pk]
    assert '<span class="status status-done">done</span>' in html
    assert '<span class="status status-pending">pending</span>' in html
    assert 'hx-trigger="every 3s"' in html  # the table refreshes itself


def test_the_task_list_filters_by_project_and_status(client, finished, example):
    services.create_project("other", example["repo"])
    other = services.start_task(
        {"project_id": "other", "spec_id": "s2", "branch": example["branch"], "spec_text": "x"},
        enqueue=False,
    )

    def listed(query: str) -> list[int]:
        html = page(client.get(f"/tasks/?{query}"))
        return [int(i) for i in re.findall(r'<tr data-task-id="(\d+)"', html)]

    assert listed("project=other") == [other.pk]
    assert listed("project=billable") == [finished.pk]
    assert listed("status=done") == [finished.pk]
    assert listed("status=pending&project=other") == [other.pk]
    assert listed("status=running") == []
    html = page(client.get("/tasks/?project=nosuch"))
    assert "unknown project &#x27;nosuch&#x27;" in html


def test_htmx_polling_gets_only_the_table_body(client, finished):
    response = client.get("/tasks/?status=done", headers={"HX-Request": "true"})
    html = page(response)
    assert html.lstrip().startswith('<tbody id="task-rows" hx-get="/tasks/?status=done"')
    assert "<html" not in html
    assert f'data-task-id="{finished.pk}"' in html
    assert "HX-Request" in response["Vary"]


# ---------------------------------------------------------------- task page


def test_an_unknown_task_or_project_is_a_404(client):
    assert client.get("/tasks/999/").status_code == 404
    assert client.get("/tasks/999/file/?path=report.md").status_code == 404
    assert client.post("/tasks/999/rerun/", {"lane": "functional"}).status_code == 404
    assert client.post("/tasks/999/cancel/").status_code == 404
    assert client.get("/projects/nosuch/").status_code == 404


def test_a_finished_task_shows_verdicts_coverage_the_gauge_and_its_report(client, finished):
    html = page(client.get(f"/tasks/{finished.pk}/"))
    report = demo_report()
    accepted = [t for t in report["tests"] if t["verdict"] == "accept"]
    # the summary: verdict counts, criteria, coverage before and after, the gauge
    assert f'{len(accepted)} <span class="verdict verdict-accept">accepted</span>' in html
    assert '7 <span class="of">of 7 verified</span>' in html
    assert "46.2%" in html and "95.0%" in html and "14.3%" in html and "87.5%" in html
    assert 'aria-label="mutation score 79.0%"' in html
    assert 'stroke-dasharray="79.0 100"' in html
    # the functional tab: every test with its verdict, engine, criterion and reasons
    rows = re.findall(r'<tr class="test verdict-row-(\w+)" data-test-id="([^"]+)"', html)
    assert len(rows) == len(report["tests"])
    assert [v for v, _ in rows[: len(accepted)]] == ["accept"] * len(accepted)
    first = accepted[0]
    assert first["reasons"][0] in html
    assert "AC1, AC2, AC7" in html
    # the rendered report.md and the status timeline
    assert '<div class="markdown"><h1>TFactory report — demo/001-discount-codes</h1>' in html
    assert '<li class="step step-done" title="planning: done">' in html
    assert '<li class="step step-done" title="done: done">' in html
    # a finished task: rerun buttons, no cancel, no live socket
    assert html.count(f'action="/tasks/{finished.pk}/rerun/"') == 2
    assert "Cancel</button>" not in html
    assert "ws-connect" not in html


def test_a_broken_existing_suite_is_said_first_and_its_before_figures_read_unknown(
    client, finished
):
    path = Path(finished.workspace) / "report.json"
    report = json.loads(path.read_text())
    report["baseline"] = {
        "status": "broken", "paths": ["tests"], "collected": 0, "passed": 0, "failed": 0,
        "errors": 0, "skipped": 0, "failing_tests": [],
        "first_error": "tests/conftest.py: ModuleNotFoundError: No module named 'pkg._version'",
    }  # fmt: skip
    report["coverage"]["before"] = {"line_pct": None, "branch_pct": None, "unknown": "broken"}
    report["mutation"]["before"] = {"score": None, "unknown": "the suite could not be run"}
    path.write_text(json.dumps(report))
    html = page(client.get(f"/tasks/{finished.pk}/"))
    assert "could not be run on the feature branch" in html
    assert "No module named &#x27;pkg._version&#x27;" in html
    assert html.count(">unknown<") == 2  # lines and branches before
    assert "with the existing suite: unknown" in html
    assert '<span class="pct">46.2%</span>' not in html  # not the demo's real figure
    tab = page(client.get(f"/tasks/{finished.pk}/?lane=mutation"))
    assert "unknown: the suite could not be run" in tab


def test_the_mutation_tab_shows_the_survivors_with_their_diff_lines(client, finished):
    html = page(client.get(f"/tasks/{finished.pk}/?lane=mutation"))
    assert '<div class="tab-panel" data-lane="mutation">' in html
    assert "Survivors (33)" in html
    survivor = demo_report()["mutation"]["survivors"][0]
    assert f"<code>{survivor['file']}:{survivor['line']}</code> · {survivor['mutator']}" in html
    removed = "-     if not CODE_MIN_LENGTH &lt;= len(code) &lt;= CODE_MAX_LENGTH:"
    added = "+     if not CODE_MIN_LENGTH &lt;= len(code) &lt; CODE_MAX_LENGTH:"
    assert f'<span class="del">{removed}</span>' in html
    assert f'<span class="add">{added}</span>' in html


def test_lane_tabs_are_only_the_lanes_the_task_has(client, finished):
    html = page(client.get(f"/tasks/{finished.pk}/"))
    assert re.findall(r'class="tab[^"]*"\s+hx-get="\?lane=(\w+)"', html) == [
        "functional",
        "mutation",
    ]
    Task.objects.filter(pk=finished.pk).update(lanes={"functional": {"status": "done"}})
    report_path = Path(finished.workspace) / "report.json"
    report = demo_report()
    del report["lanes"]["mutation"]
    report_path.write_text(json.dumps(report))
    html = page(client.get(f"/tasks/{finished.pk}/?lane=mutation"))
    assert re.findall(r'class="tab[^"]*"\s+hx-get="\?lane=(\w+)"', html) == ["functional"]
    assert '<div class="tab-panel" data-lane="functional">' in html  # not an empty tab


def test_a_running_task_connects_its_live_log_and_shows_where_it_is(client, task):
    start_running(task, "generating")
    emit_event(task, "pynguin: generating tests for billable.discounts", stage="generating")
    html = page(client.get(f"/tasks/{task.pk}/"))
    assert f'hx-ext="ws" ws-connect="/ws/tasks/{task.pk}/events/"' in html
    assert '<span id="task-status" class="status status-generating">generating</span>' in html
    ids = [int(i) for i in EVENT_ID.findall(html)]
    assert ids == list(task.events.order_by("id").values_list("id", flat=True))
    assert "pynguin: generating tests for billable.discounts" in html
    steps = re.findall(r'<li class="step step-(\w+)" title="(\w+):', html)
    assert steps[:4] == [
        ("done", "pending"),
        ("done", "planning"),
        ("current", "generating"),
        ("todo", "running"),
    ]
    assert steps[-1] == ("todo", "done")
    assert "Cancel</button>" in html and "Rerun" not in html
    assert "The tests and their verdicts appear when the run ends." in html


def test_a_failed_task_shows_where_it_stopped_and_its_error(client, task):
    start_running(task, "running")
    Task.objects.filter(pk=task.pk).update(status="failed", error="the sandbox ran out of memory")
    html = page(client.get(f"/tasks/{task.pk}/"))
    assert '<p class="error-box">the sandbox ran out of memory</p>' in html
    assert '<li class="step step-failed" title="running: failed">' in html
    assert '<li class="step step-failed" title="failed: failed">' in html


def test_the_log_shows_the_last_lines_of_a_long_one(client, task):
    from tasks_app.models import TaskEvent

    TaskEvent.objects.bulk_create([TaskEvent(task=task, message=f"line {i}") for i in range(600)])
    html = page(client.get(f"/tasks/{task.pk}/"))
    ids = [int(i) for i in EVENT_ID.findall(html)]
    assert len(ids) == 500
    assert ids == sorted(ids) and ids[-1] == task.events.order_by("-id")[0].pk
    assert "The last 500 lines" in html


def test_report_md_is_rendered_with_its_html_escaped(client, finished):
    (Path(finished.workspace) / "report.md").write_text(
        "# Report <script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n"
        "[click](javascript:alert(3)) [ok](https://example.com/)\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    html = page(client.get(f"/tasks/{finished.pk}/"))
    body = html[html.index('<div class="markdown">') :]
    assert "<script>alert(1)" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<img src=x" not in body and "&lt;img src=x onerror=alert(2)&gt;" in body
    assert 'href="javascript:' not in body
    assert '<a href="https://example.com/">ok</a>' in body
    assert "<td>1</td>" in body  # tables render


# ---------------------------------------------------------------- test code


def test_the_code_viewer_shows_one_test_function_or_the_whole_file(client, finished):
    url = f"/tasks/{finished.pk}/file/?path=tests/functional/test_billable_discounts_crosshair.py"
    one = page(client.get(url + "&test=test_find_discount"))
    assert "<code>def test_find_discount():" in one
    assert "def test_normalize_code" not in one
    assert "the whole file" in one
    whole = page(client.get(url))
    assert "def test_normalize_code():" in whole and "def test_find_discount():" in whole
    fragment = page(client.get(url + "&test=test_find_discount", headers={"HX-Request": "true"}))
    assert "<html" not in fragment
    assert '<pre class="code"><code>def test_find_discount():' in fragment


@pytest.mark.parametrize(
    "path",
    [
        "",
        "../../../../secret_key",
        "tests/../../../secret_key",
        "/etc/passwd",
        "//etc/passwd",
        "tests\\..\\..\\secret_key",
        "tests/functional/../../..",
        "tests/functional",  # a folder
        "nosuch.py",
        "tests/functional/link.py",  # a symlink out of the folder
        "linked/passwd",  # a folder that is a symlink
        "report.md\x00.py",
    ],
)
def test_the_code_viewer_refuses_anything_outside_the_task_folder(client, finished, path):
    ws = Path(finished.workspace)
    (ws / "tests/functional/link.py").symlink_to("/etc/passwd")
    (ws / "linked").symlink_to("/etc")
    response = client.get(f"/tasks/{finished.pk}/file/", {"path": path})
    assert response.status_code == 404
    assert b"root:" not in response.content


def test_the_code_viewer_refuses_an_older_run_whose_folder_was_archived(client, finished):
    later = services.start_task(
        {
            "project_id": "billable",
            "spec_id": finished.spec_id,
            "branch": finished.branch,
            "base_ref": "main",
        },
        enqueue=False,
    )
    assert later.workspace == finished.workspace
    url = f"/tasks/{finished.pk}/file/?path=task.md"
    assert client.get(url).status_code == 404
    assert client.get(f"/tasks/{later.pk}/file/?path=task.md").status_code == 200
    html = page(client.get(f"/tasks/{finished.pk}/"))
    assert f"task {later.pk} is a newer run" in html


# ---------------------------------------------------------------- rerun and cancel


def test_rerun_queues_the_lane_and_says_so(client, finished, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/tasks/{finished.pk}/rerun/", {"lane": "mutation"}, follow=True)
    html = page(response)
    assert f"Lane mutation of task {finished.pk} is queued to run again." in html
    finished.refresh_from_db()
    assert finished.status == Task.Status.PENDING
    assert finished.queued_stage == "running"
    assert finished.lanes["mutation"] == {"status": "pending"}
    assert OrmQ.objects.count() == 1  # a job for the workers, after the commit
    assert '<span id="task-status" class="status status-pending">pending</span>' in html


def test_a_refused_rerun_is_a_message_and_changes_nothing(client, task):
    start_running(task)
    response = client.post(f"/tasks/{task.pk}/rerun/", {"lane": "functional"})
    assert response.status_code == 302 and response["Location"] == f"/tasks/{task.pk}/"
    assert flashes(client, response) == [
        f"Not rerun: task {task.pk} is still generating; rerun it when it ends"
    ]
    response = client.post(f"/tasks/{task.pk}/rerun/", {"lane": "fuzz"})
    assert flashes(client, response) == [
        "Not rerun: unknown lane 'fuzz'; lanes: functional, mutation, sast, deps, secrets"
    ]
    task.refresh_from_db()
    assert task.status == "generating"


def test_rerun_and_cancel_take_only_a_post_with_a_csrf_token(finished, user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get(f"/tasks/{finished.pk}/rerun/").status_code == 405
    assert client.post(f"/tasks/{finished.pk}/rerun/", {"lane": "functional"}).status_code == 403
    assert client.post(f"/tasks/{finished.pk}/cancel/").status_code == 403
    finished.refresh_from_db()
    assert finished.status == Task.Status.DONE


def test_cancel_stops_a_queued_task_at_once(client, task):
    response = client.post(f"/tasks/{task.pk}/cancel/", follow=True)
    assert f"Task {task.pk} is cancelled." in page(response)
    task.refresh_from_db()
    assert task.status == Task.Status.CANCELLED


def test_cancel_asks_a_working_stage_to_stop(client, task):
    start_running(task)
    response = client.post(f"/tasks/{task.pk}/cancel/")
    assert flashes(client, response) == [
        f"Cancel requested: task {task.pk} stops at its next check."
    ]
    task.refresh_from_db()
    assert task.cancel_requested and task.status == "generating"
    Task.objects.filter(pk=task.pk).update(status="cancelled")
    response = client.post(f"/tasks/{task.pk}/cancel/")
    assert flashes(client, response) == [f"Not cancelled: task {task.pk} already ended (cancelled)"]


# ---------------------------------------------------------------- projects


def test_projects_are_listed_with_their_latest_task(client, finished):
    html = page(client.get("/projects/"))
    assert '<a href="/projects/billable/">billable</a>' in html
    assert f'<a href="/tasks/{finished.pk}/">#{finished.pk} {finished.spec_id}</a>' in html


def test_a_project_is_registered_from_the_form(client, example):
    response = client.post(
        "/projects/",
        {
            "project_id": "shop",
            "name": "The shop",
            "repo_path": example["repo"],
            "git_url": "",
            "default_base_ref": "main",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/projects/shop/"
    project = Project.objects.get(pk="shop")
    assert project.name == "The shop" and project.repo_path == str(Path(example["repo"]).resolve())
    html = page(client.get("/projects/shop/"))
    assert "No tasks for this project yet." in html


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"project_id": "../x"}, "contains a path separator"),
        ({"repo_path": "/nonexistent/repo"}, "does not exist"),
        ({"repo_path": "", "git_url": ""}, "give either repo_path or git_url"),
        ({"default_base_ref": "-x"}, "default_base_ref"),
    ],
)
def test_a_bad_project_is_refused_with_the_reason_on_the_form(client, example, fields, error):
    data = {"project_id": "shop", "repo_path": example["repo"], "default_base_ref": "main"}
    html = page(client.post("/projects/", {**data, **fields}))
    assert '<ul class="errors">' in html and error in html
    assert not Project.objects.filter(pk="shop").exists()


def test_a_project_twice_is_a_conflict_on_the_form(client, finished, example):
    html = page(
        client.post(
            "/projects/",
            {"project_id": "billable", "repo_path": example["repo"], "default_base_ref": "main"},
        )
    )
    assert "project &#x27;billable&#x27; already exists" in html


def test_the_project_page_lists_its_tasks(client, finished):
    html = page(client.get("/projects/billable/"))
    assert f'<a href="/tasks/{finished.pk}/">#{finished.pk}</a>' in html
    assert "Tasks (1)" in html


# ---------------------------------------------------------------- admin


def admin_action(client: Client, action: str, *tasks: Task):
    return client.post(
        "/admin/tasks_app/task/",
        {"action": action, "_selected_action": [t.pk for t in tasks]},
        follow=True,
    )


def test_the_admin_reruns_a_lane_of_the_selected_tasks_and_says_which_it_refused(
    admin_client, finished, example, django_capture_on_commit_callbacks
):
    services.create_project("other", example["repo"])
    running = services.start_task(
        {"project_id": "other", "spec_id": "s2", "branch": example["branch"], "spec_text": "x"},
        enqueue=False,
    )
    start_running(running)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_action(admin_client, "rerun_functional", finished, running)
    messages = [str(m) for m in response.context["messages"]]
    assert messages == [
        f"1 task(s) queued to rerun lane functional: #{finished.pk}.",
        f"1 refused — task {running.pk}: task {running.pk} is still generating; rerun it when "
        "it ends",
    ]
    finished.refresh_from_db()
    assert finished.status == "pending" and finished.queued_stage == "generating"
    assert OrmQ.objects.count() == 1


def test_the_admin_reruns_the_mutation_lane(admin_client, finished):
    response = admin_action(admin_client, "rerun_mutation", finished)
    assert [str(m) for m in response.context["messages"]] == [
        f"1 task(s) queued to rerun lane mutation: #{finished.pk}."
    ]
    finished.refresh_from_db()
    assert finished.queued_stage == "running"


def test_the_admin_cancels_the_selected_tasks(admin_client, finished, example):
    services.create_project("other", example["repo"])
    task = services.start_task(
        {"project_id": "other", "spec_id": "s2", "branch": example["branch"], "spec_text": "x"},
        enqueue=False,
    )
    response = admin_action(admin_client, "cancel", task, finished)
    assert [str(m) for m in response.context["messages"]] == [
        f"1 task(s) cancelled (a running stage stops at its next check): #{task.pk}.",
        f"1 refused — task {finished.pk}: task {finished.pk} already ended (done)",
    ]
    task.refresh_from_db()
    assert task.status == "cancelled"


def test_the_admin_filters_and_searches_tasks_events_and_tests(admin_client, finished):
    assert admin_client.get("/admin/tasks_app/task/?status__exact=done").status_code == 200
    html = page(admin_client.get(f"/admin/tasks_app/task/?q={finished.spec_id}"))
    assert f"/admin/tasks_app/task/{finished.pk}/change/" in html
    html = page(admin_client.get("/admin/tasks_app/taskevent/?kind__exact=status&q=delivering"))
    assert "stage delivering started" in html
    assert page(admin_client.get("/admin/agents_app/generatedtest/?verdict__exact=accept&q=x"))


def test_the_admin_shows_task_state_and_events_read_only(admin_client, finished):
    # the one write path is the services: a change form can show a task, never edit it
    url = f"/admin/tasks_app/task/{finished.pk}/change/"
    html = page(admin_client.get(url))
    assert finished.spec_id in html and 'name="status"' not in html
    before = (finished.status, finished.queued_stage, finished.lanes, finished.options)
    response = admin_client.post(url, {"status": "failed", "queued_stage": "planning"})
    assert response.status_code == 403
    finished.refresh_from_db()
    assert (finished.status, finished.queued_stage, finished.lanes, finished.options) == before
    event = finished.events.order_by("id").first()
    assert (
        admin_client.post(
            f"/admin/tasks_app/taskevent/{event.pk}/change/", {"message": "rewritten"}
        ).status_code
        == 403
    )
    assert admin_client.post(f"/admin/tasks_app/taskevent/{event.pk}/delete/").status_code == 403
    assert admin_client.get("/admin/tasks_app/task/add/").status_code == 403
    event.refresh_from_db()
    assert event.message != "rewritten"
    assert Task.objects.filter(pk=finished.pk).exists()


# ---------------------------------------------------------------- serving and demo login


def test_static_files_are_served_without_collectstatic(client):
    for path in (
        "/static/portal/portal.css",
        "/static/portal/live.js",
        "/static/django_htmx/htmx-2.min.js",
        "/static/django_htmx/ext/hx-ws-2.min.js",
    ):
        response = Client().get(path)
        assert response.status_code == 200, path
        assert b"".join(response.streaming_content)
    html = page(client.get("/tasks/"))
    assert '<script src="/static/django_htmx/htmx-2.min.js" defer></script>' in html
    assert '<script src="/static/django_htmx/ext/hx-ws-2.min.js" defer></script>' in html


def test_the_demo_login_is_generated_once_kept_private_and_works(tf_home):
    out = StringIO()
    call_command("portal_login", stdout=out)
    line = out.getvalue().strip()
    match = re.fullmatch(r"user demo, password (\S{16,})", line)
    assert match
    kept = tf_home / "portal_login"
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600
    assert json.loads(kept.read_text()) == {"user": "demo", "password": match[1]}
    again = StringIO()
    call_command("portal_login", stdout=again)
    assert again.getvalue().strip() == line
    client = Client()
    assert client.login(username="demo", password=match[1])
    assert get_user_model().objects.get(username="demo").is_superuser
    # another installation gets another password
    kept.unlink()
    third = StringIO()
    call_command("portal_login", stdout=third)
    assert third.getvalue().strip() != line
    assert not Client().login(username="demo", password=match[1])
