"""The REST API over real git repositories: every endpoint, its errors, AIFactory's contract.

Tasks created here are queued, never run: start_task enqueues through django-q2's ORM
broker after commit, which in a test is a row in OrmQ.
"""

from __future__ import annotations

import json
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django_q.models import OrmQ

from tasks_app import services
from tasks_app.models import Project, PullRequestLink, Task
from tests.conftest import git

pytestmark = pytest.mark.django_db

SPEC = "# Discounts\n\n## Acceptance Criteria\n\n### AC#1\n`normalize_code` upper-cases codes.\n"
GHERKIN = """Feature: Discount codes

  Scenario: A code is typed in lower case
    Given a shop with the discount "SPRING-25"
    When the customer types " spring-25 "
    Then normalize_code returns "SPRING-25"
"""
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def make_token(user: str = "aifactory", *flags: str) -> str:
    out = StringIO()
    call_command("api_token", "--user", user, *flags, stdout=out)
    return out.getvalue().strip()


@pytest.fixture
def token() -> str:
    return make_token("aifactory", "--create-user")


@pytest.fixture
def api(token) -> Client:
    return Client(headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def project(example) -> Project:
    return services.create_project("billable", example["repo"])


def post(client: Client, url: str, data: object = None, **kwargs):
    body = "" if data is None else json.dumps(data)
    return client.post(url, body, content_type="application/json", **kwargs)


def handover(example: dict, **overrides) -> dict:
    payload = {
        "project_id": "billable",
        "spec_id": example["spec_id"],
        "branch": example["branch"],
        "base_ref": "main",
    }
    payload.update(overrides)
    return payload


def ingest(example: dict, **fields) -> dict:
    payload = {
        "project_id": "billable",
        "spec_id": example["spec_id"],
        "spec_text": SPEC,
        "format": "markdown",
    }
    payload.update(fields)
    return payload


def assert_error(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    data = response.json()
    assert set(data) == {"detail", "errors"}
    assert isinstance(data["detail"], str) and data["detail"]
    if field is not None:
        assert field in data["errors"], data
        assert all(isinstance(m, str) for m in data["errors"][field])
    return data


def start_via_api(api: Client, example: dict, capture, **overrides) -> dict:
    with capture(execute=True):
        response = post(api, "/api/tasks/", handover(example, **overrides))
    assert response.status_code == 201, response.content
    return response.json()


def end(task_id: int, status: str = Task.Status.DONE) -> None:
    Task.objects.filter(pk=task_id).update(status=status, queued_stage="")


# ---------------------------------------------------------------- auth


def test_it_refuses_requests_without_a_token():
    for method, url in [
        ("get", "/api/projects/"),
        ("get", "/api/tasks/"),
        ("get", "/api/tasks/1/"),
        ("post", "/api/specs/ingest"),
    ]:
        response = getattr(Client(), method)(url)
        assert_error(response, 401)
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_it_refuses_a_wrong_token(token):
    for header in (
        "Bearer nope",
        "Token nope",
        f"Bearer {token}x",
        "Bearer",
        f"Bearer {token} extra",
        f"Basic {token}",
    ):
        response = Client(headers={"Authorization": header}).get("/api/tasks/")
        assert_error(response, 401)
        assert "WWW-Authenticate" in response


def test_it_accepts_the_token_under_both_keywords(token):
    for keyword in ("Bearer", "Token", "bearer"):
        response = Client(headers={"Authorization": f"{keyword} {token}"}).get("/api/tasks/")
        assert response.status_code == 200, (keyword, response.content)


def test_the_token_command_prints_rotates_and_refuses_unknown_users(token):
    assert make_token("aifactory") == token  # the same token until rotated
    rotated = make_token("aifactory", "--rotate")
    assert rotated != token
    assert (
        Client(headers={"Authorization": f"Bearer {token}"}).get("/api/tasks/").status_code == 401
    )
    assert (
        Client(headers={"Authorization": f"Bearer {rotated}"}).get("/api/tasks/").status_code == 200
    )
    with pytest.raises(CommandError, match="--create-user"):
        make_token("nobody")


def test_the_schema_is_served_and_documents_bearer_auth():
    response = Client().get("/api/schema/", headers={"Accept": "application/json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["components"]["securitySchemes"]["tokenAuth"] == {
        "type": "http",
        "scheme": "bearer",
    }
    assert "/api/specs/ingest" in schema["paths"]
    assert "/api/specs/{project_id}/{spec_id}/pr" in schema["paths"]
    create = schema["paths"]["/api/tasks/"]["post"]["responses"]
    assert {"201", "400", "401", "409"} <= set(create)


# ---------------------------------------------------------------- projects


def test_it_registers_lists_and_shows_a_project(api, example):
    response = post(
        api,
        "/api/projects/",
        {"project_id": "billable", "repo_path": example["repo"], "name": "Billable"},
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["project_id"] == "billable" and created["name"] == "Billable"
    assert created["repo_path"] == str(Path(example["repo"]).resolve())
    assert created["git_url"] is None and created["latest_task"] is None
    assert ISO_UTC.match(created["created_at"])

    listing = api.get("/api/projects/").json()
    assert listing["count"] == 1 and listing["results"][0]["project_id"] == "billable"

    task = services.start_task(handover(example), enqueue=False)
    detail = api.get("/api/projects/billable/").json()
    assert detail["tasks"] == 1
    assert detail["latest_task"] == {
        "task_id": task.pk,
        "spec_id": example["spec_id"],
        "status": "pending",
    }
    assert [t["task_id"] for t in detail["recent_tasks"]] == [task.pk]


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"repo_path": "/tmp"}, "project_id"),
        ({"project_id": "p", "repo_path": 5}, "repo_path"),
        ({"project_id": "p", "repo_path": "/tmp", "name": ["x"]}, "name"),
        ({"project_id": "p", "repo_path": "/tmp", "colour": "red"}, "colour"),
        ({"project_id": "../etc", "repo_path": "/tmp"}, "project_id"),
        ({"project_id": "p", "repo_path": "relative/path"}, "repo_path"),
        ({"project_id": "p", "repo_path": "~nosuchuser/repo"}, "repo_path"),
        ({"project_id": "p"}, "repo_path"),
        ({"project_id": "p", "repo_path": "/tmp", "git_url": "https://h/o/r"}, "repo_path"),
        ({"project_id": "p", "repo_path": "/nonexistent/repo"}, "repo_path"),
        ({"project_id": "p", "git_url": "https://u:s3cret@github.example/o/r.git"}, "git_url"),
        ({"project_id": "p", "git_url": "/srv/repo.git"}, "git_url"),
        ({"project_id": "p", "repo_path": "/tmp", "default_base_ref": "-x"}, "default_base_ref"),
    ],
)
def test_project_registration_names_the_bad_field(api, payload, field):
    data = assert_error(post(api, "/api/projects/", payload), 400, field)
    assert "s3cret" not in json.dumps(data)
    assert Project.objects.count() == 0


def test_a_second_project_with_the_same_id_is_a_conflict(api, project, example):
    payload = {"project_id": "billable", "repo_path": example["repo"]}
    assert_error(post(api, "/api/projects/", payload), 409, "project_id")


def test_unknown_or_malformed_project_ids_are_not_found(api, project):
    assert_error(api.get("/api/projects/nobody/"), 404, "project_id")
    assert_error(api.get("/api/projects/a..b/"), 404)
    # path tricks never reach a view
    for url in ("/api/projects/../", "/api/projects/%2e%2e/", "/api/projects/a%2Fb/"):
        assert_error(api.get(url), 404)


# ---------------------------------------------------------------- tasks


def test_a_handover_creates_a_task_and_queues_its_first_stage(
    api, project, example, django_capture_on_commit_callbacks
):
    task = start_via_api(api, example, django_capture_on_commit_callbacks)
    assert task["status"] == "pending" and task["stage"] == "planning"
    assert task["branch"] == example["branch"] and task["head_sha"] == example["head_sha"]
    assert task["lanes"] == {lane: {"status": "pending"} for lane in services.LANES}
    assert ISO_UTC.match(task["created_at"])
    assert task["started_at"] is None and task["error"] is None
    assert Path(task["workspace"], "task.md").is_file()
    # queued through django-q2's ORM broker, not run
    job = OrmQ.objects.get()
    assert job.name() == f"task-{task['task_id']}-planning"
    assert job.args() == (task["task_id"], "planning")


def test_a_preview_checks_everything_and_creates_nothing(api, project, example, tf_home):
    response = post(api, "/api/tasks/preview/", handover(example))
    assert response.status_code == 200, response.content
    preview = response.json()
    assert preview["head_sha"] == example["head_sha"]
    assert preview["spec"]["source"] == "aifactory" and preview["spec"]["criteria"]
    assert {f["path"] for f in preview["changed_files"]} >= {"src/billable/discounts.py"}
    assert preview["previous_task"] is None
    assert Task.objects.count() == 0 and not (tf_home / "workspaces").exists()
    assert OrmQ.objects.count() == 0


@pytest.mark.parametrize(
    "change,field",
    [
        ({"branch": ...}, "branch"),
        ({"branch": None}, "branch"),
        ({"spec_id": ...}, "spec_id"),
        ({"branch": 5}, "branch"),
        ({"base_ref": ["main"]}, "base_ref"),
        ({"priority": "high"}, "priority"),
        ({"spec_id": "../../etc"}, "spec_id"),
        ({"project_id": "a b"}, "project_id"),
        ({"project_id": "nobody"}, "project_id"),
        ({"branch": "feature/missing"}, "branch"),
        ({"branch": "--upload-pack=x"}, "branch"),
        ({"spec_text": SPEC, "spec_format": "rst"}, "spec_format"),
        ({"spec_text": "  "}, "spec_text"),
        ({"options": {"eval_runs": 99}}, "options"),
        ({"options": {"sandbox": "none"}}, "options"),
        ({"options": "fast"}, "options"),
        ({"spec_file": "/etc/passwd"}, "spec_file"),
    ],
)
def test_a_bad_handover_names_its_field_and_changes_nothing(api, project, example, change, field):
    payload = handover(example, **change)
    payload = {k: v for k, v in payload.items() if v is not ...}  # ...: left out
    for url in ("/api/tasks/", "/api/tasks/preview/"):
        assert_error(post(api, url, payload), 400, field)
    assert Task.objects.count() == 0


def test_bodies_that_are_not_json_objects_are_refused(api, project):
    assert_error(post(api, "/api/tasks/", ["billable"]), 400)
    assert_error(post(api, "/api/tasks/", "billable"), 400)
    for raw in ('{"project_id": ', "NaN", '{"a": NaN}', "[" * 100000, '{"spec_text": "\\ud800"}'):
        response = api.post("/api/tasks/", raw, content_type="application/json")
        assert_error(response, 400)
    too_big = json.dumps({"spec_text": "x" * (3 * 1024 * 1024)})
    assert_error(api.post("/api/tasks/", too_big, content_type="application/json"), 413)
    assert_error(api.post("/api/tasks/", "project_id=billable", content_type="text/plain"), 415)
    assert Task.objects.count() == 0


def test_a_second_handover_of_a_spec_in_flight_is_a_conflict(
    api, project, example, django_capture_on_commit_callbacks
):
    first = start_via_api(api, example, django_capture_on_commit_callbacks)
    data = assert_error(post(api, "/api/tasks/", handover(example)), 409, "spec_id")
    assert str(first["task_id"]) in data["detail"]
    assert_error(post(api, "/api/tasks/preview/", handover(example)), 409, "spec_id")
    assert Task.objects.count() == 1


def test_tasks_are_listed_newest_first_filtered_and_paged(api, project, example):
    ids = []
    for _ in range(3):
        task = services.start_task(handover(example), enqueue=False)
        ids.append(task.pk)
        end(task.pk, Task.Status.CANCELLED if len(ids) < 3 else Task.Status.DONE)
    page = api.get("/api/tasks/?limit=2").json()
    assert page["count"] == 3
    assert [t["task_id"] for t in page["results"]] == ids[::-1][:2]
    assert page["previous"] is None and "offset=2" in page["next"]
    last = api.get(page["next"]).json()
    assert [t["task_id"] for t in last["results"]] == [ids[0]]
    assert last["next"] is None and "offset" not in last["previous"]
    assert api.get(last["previous"]).json()["results"] == page["results"]

    assert api.get("/api/tasks/?status=cancelled").json()["count"] == 2
    assert api.get("/api/tasks/?project=billable&status=done").json()["count"] == 1
    assert api.get(f"/api/tasks/?spec_id={example['spec_id']}").json()["count"] == 3
    assert api.get("/api/tasks/?spec_id=other").json()["count"] == 0


@pytest.mark.parametrize(
    "query,field",
    [
        ("status=bogus", "status"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=abc", "limit"),
        ("offset=-1", "offset"),
        ("limit=99999999999999999999999", "limit"),
        ("project=nobody", "project"),
        ("stauts=done", "stauts"),
    ],
)
def test_bad_filters_name_the_parameter(api, project, query, field):
    assert_error(api.get(f"/api/tasks/?{query}"), 400, field)


def test_a_task_its_status_and_its_events(api, project, example):
    task = services.start_task(handover(example), enqueue=False)
    detail = api.get(f"/api/tasks/{task.pk}/").json()
    stamps = {"created_at": detail["created_at"], "updated_at": detail["updated_at"]}
    assert detail == json.loads(json.dumps(services.task_summary(task), default=str)) | stamps
    assert ISO_UTC.match(detail["created_at"]) and ISO_UTC.match(detail["updated_at"])

    status = api.get(f"/api/tasks/{task.pk}/status/").json()
    assert set(status) == {"task_id", "status", "stage", "lanes", "error", "updated_at"}
    assert status["status"] == "pending" and status["stage"] == "planning"
    assert ISO_UTC.match(status["updated_at"])

    everything = api.get(f"/api/tasks/{task.pk}/events/").json()
    assert everything["task_id"] == task.pk and not everything["has_more"]
    events = everything["events"]
    assert events and any("task created" in e["message"] for e in events)
    assert everything["next_after"] == events[-1]["id"]
    first = api.get(f"/api/tasks/{task.pk}/events/?limit=1").json()
    assert first["events"] == events[:1] and first["has_more"] == (len(events) > 1)
    rest = api.get(f"/api/tasks/{task.pk}/events/?after={first['next_after']}").json()
    assert rest["events"] == events[1:]
    none = api.get(f"/api/tasks/{task.pk}/events/?after={events[-1]['id']}").json()
    assert none["events"] == [] and none["next_after"] == events[-1]["id"]

    assert_error(api.get(f"/api/tasks/{task.pk}/events/?after=-1"), 400, "after")
    assert_error(api.get(f"/api/tasks/{task.pk}/events/?limit=501"), 400, "limit")
    assert_error(api.get(f"/api/tasks/{task.pk}/events/?since=1"), 400, "since")


def test_unknown_tasks_are_not_found(api):
    for url in ("/api/tasks/999999/", "/api/tasks/999999/status/", "/api/tasks/999999/events/"):
        assert_error(api.get(url), 404, "task_id")
    assert_error(api.get("/api/tasks/999999/report/"), 404, "task_id")
    assert_error(post(api, "/api/tasks/999999/rerun/", {"lane": "functional"}), 404, "task_id")
    assert_error(post(api, "/api/tasks/999999/cancel/"), 404, "task_id")
    assert_error(api.get("/api/tasks/99999999999999999999999999/"), 404)
    assert_error(api.get("/api/tasks/abc/"), 404)
    # no trailing slash: a 404, never a redirect that would drop a POST's body
    assert_error(post(api, "/api/tasks", {}), 404)


def test_the_report_as_json_and_as_markdown(api, project, example):
    task = services.start_task(handover(example), enqueue=False)
    data = assert_error(api.get(f"/api/tasks/{task.pk}/report/"), 404, "task_id")
    assert "no report yet" in data["detail"]
    services.cancel_task(task.pk)  # a cancelled task gets its report at once

    report = api.get(f"/api/tasks/{task.pk}/report/")
    assert report.status_code == 200 and report["Content-Type"] == "application/json"
    assert report.json()["task_id"] == task.pk and report.json()["status"] == "cancelled"
    assert api.get(f"/api/tasks/{task.pk}/report/?format=json").json() == report.json()

    md = api.get(f"/api/tasks/{task.pk}/report/?format=md", headers={"Accept": "text/markdown"})
    assert md.status_code == 200
    assert md["Content-Type"] == "text/markdown; charset=utf-8"
    assert md.content.decode() == (Path(task.workspace) / "report.md").read_text()

    assert_error(api.get(f"/api/tasks/{task.pk}/report/?format=xml"), 400, "format")
    assert_error(
        api.get(f"/api/tasks/{task.pk}/report/?format=md&x=1", headers={"Accept": "text/markdown"}),
        400,
        "x",
    )


def test_cancel_is_immediate_for_a_queued_task_and_requested_for_a_running_one(
    api, project, example
):
    queued = services.start_task(handover(example), enqueue=False)
    response = post(api, f"/api/tasks/{queued.pk}/cancel/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    assert_error(post(api, f"/api/tasks/{queued.pk}/cancel/"), 409, "task_id")

    running = services.start_task(handover(example), enqueue=False)
    # a worker claimed it and is beating
    Task.objects.filter(pk=running.pk).update(
        status=Task.Status.PLANNING, claimed_by="worker-1", queued_stage=""
    )
    response = post(api, f"/api/tasks/{running.pk}/cancel/")
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "planning"
    assert Task.objects.get(pk=running.pk).cancel_requested


def test_a_lane_is_rerun_only_when_the_task_has_ended(
    api, project, example, django_capture_on_commit_callbacks
):
    task = start_via_api(api, example, django_capture_on_commit_callbacks)
    url = f"/api/tasks/{task['task_id']}/rerun/"
    assert_error(post(api, url, {"lane": "functional"}), 409)  # still pending

    end(task["task_id"])
    assert_error(post(api, url, {"lane": "functional"}), 409)  # never got a test plan
    (Path(task["workspace"]) / "test_plan.json").write_text('{"phases": []}')
    assert_error(post(api, url, {"lane": "fuzz"}), 400, "lane")
    assert_error(post(api, url, {"lane": ["functional"]}), 400, "lane")
    assert_error(post(api, url, {}), 400, "lane")
    assert_error(post(api, url, {"lane": "functional", "why": "x"}), 400, "why")

    OrmQ.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        response = post(api, url, {"lane": "mutation"})
    assert response.status_code == 202, response.content
    rerun = response.json()
    assert rerun["status"] == "pending" and rerun["stage"] == "running"
    assert rerun["lanes"]["mutation"] == {"status": "pending"}
    assert OrmQ.objects.get().name() == f"task-{task['task_id']}-running"
    assert_error(post(api, url, {"lane": "mutation"}), 409)  # now in flight


SAME_FILES = ("task.md", "context/source.json", "context/aifactory_spec.md", "context/diff.patch")
SAME_FIELDS = (
    "project_id",
    "spec_id",
    "branch",
    "base_ref",
    "head_sha",
    "base_sha",
    "spec_source",
    "spec_origin",
    "status",
    "queued_stage",
    "mode",
    "options",
    "lanes",
    "workspace",
)


def normalised(task: Task) -> tuple[dict, dict]:
    """A task's fields and files, with its id taken out."""
    ws = Path(task.workspace)
    texts = {}
    for name in SAME_FILES:
        text = (ws / name).read_text()
        texts[name] = text.replace(f"task-{task.pk}", "task-N").replace(
            f"task {task.pk}:", "task N:"
        )
    return {f: getattr(task, f) for f in SAME_FIELDS}, texts


def test_the_api_and_the_service_make_the_same_task(
    api, project, example, django_capture_on_commit_callbacks
):
    by_service = services.start_task(handover(example), enqueue=False)
    expected = normalised(by_service)
    end(by_service.pk, Task.Status.CANCELLED)

    by_api = start_via_api(api, example, django_capture_on_commit_callbacks)
    assert normalised(Task.objects.get(pk=by_api["task_id"])) == expected


def test_aifactorys_ingest_and_a_handover_with_the_spec_text_make_the_same_task(
    api, project, example
):
    spec = "# Discounts\n\n## Acceptance Criteria\n\n- AC1: `normalize_code` upper-cases\n"
    response = post(
        api,
        "/api/tasks/",
        handover(example) | {"spec_text": spec, "spec_format": "markdown"},
    )
    assert response.status_code == 201, response.content
    expected = normalised(Task.objects.get(pk=response.json()["task_id"]))
    end(response.json()["task_id"], Task.Status.DONE)

    response = post(
        api,
        "/api/specs/ingest",
        {
            "project_id": "billable",
            "spec_id": example["spec_id"],
            "spec_text": spec,
            "format": "markdown",
            "source_branch": example["branch"],
        },
    )
    assert response.status_code == 202, response.content
    assert normalised(Task.objects.get(pk=response.json()["task_id"])) == expected


# ---------------------------------------------------------------- AIFactory's contract


def test_ingest_with_a_source_branch_starts_a_task_on_a_registered_project(
    api, project, example, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(api, "/api/specs/ingest", ingest(example, source_branch=example["branch"]))
    assert response.status_code == 202, response.content
    task = response.json()
    assert task["branch"] == example["branch"] and task["status"] == "pending"
    assert (Path(task["workspace"]) / "context" / "aifactory_spec.md").read_text() == SPEC
    assert Task.objects.get().spec_source == Task.SpecSource.INLINE
    assert OrmQ.objects.get().name() == f"task-{task['task_id']}-planning"
    # the same spec again while the first is in flight
    again = post(api, "/api/specs/ingest", ingest(example, source_branch=example["branch"]))
    assert_error(again, 409, "spec_id")


def test_ingest_with_git_url_clones_an_unknown_project(api, example, remote, settings, tf_home):
    settings.TFACTORY_GIT_PROTOCOLS = ["https", "ssh", "file"]
    payload = ingest(example, git_url=f"file://{remote}", source_branch=example["branch"])
    response = post(api, "/api/specs/ingest", payload)
    assert response.status_code == 202, response.content
    project = Project.objects.get()
    assert project.git_url == f"file://{remote}"
    assert Path(project.repo_path) == tf_home / "repos" / "billable.git"
    assert response.json()["head_sha"] == example["head_sha"]
    shown = api.get("/api/projects/billable/").json()
    assert shown["git_url"] == f"file://{remote}"


def test_ingest_finds_the_branch_named_after_the_spec(api, project, example):
    response = post(api, "/api/specs/ingest", ingest(example))
    assert response.status_code == 202, response.content
    assert response.json()["branch"] == example["branch"]


def test_ingest_without_a_branch_named_after_the_spec_asks_for_source_branch(api, project, example):
    data = assert_error(
        post(api, "/api/specs/ingest", ingest(example, spec_id="002-other")), 400, "source_branch"
    )
    assert "send source_branch" in data["detail"]
    git(Path(example["repo"]), "branch", "aifactory/001-discount-codes", example["branch"])
    data = assert_error(post(api, "/api/specs/ingest", ingest(example)), 400, "source_branch")
    assert "several branches" in data["detail"]
    assert Task.objects.count() == 0


def test_ingest_of_a_gherkin_spec(api, project, example):
    response = post(
        api,
        "/api/specs/ingest",
        ingest(example, spec_text=GHERKIN, format="gherkin", source_branch=example["branch"]),
    )
    assert response.status_code == 202, response.content
    ws = Path(response.json()["workspace"])
    assert json.loads((ws / "context" / "source.json").read_text())["spec_format"] == "gherkin"
    assert (ws / "context" / "aifactory_spec.md").read_text() == GHERKIN


def test_ingest_refuses_a_git_url_with_credentials(api, example, settings):
    settings.TFACTORY_GIT_PROTOCOLS = ["https", "ssh", "file"]
    payload = ingest(example, git_url="https://aifactory:s3cret@github.example/acme/billable.git")
    data = assert_error(post(api, "/api/specs/ingest", payload), 400, "git_url")
    assert "credentials" in data["detail"] and "s3cret" not in json.dumps(data)
    assert Project.objects.count() == 0


@pytest.mark.parametrize(
    "change,field",
    [
        ({"spec_text": ...}, "spec_text"),
        ({"format": ...}, "format"),
        ({"format": "rst"}, "format"),
        ({"spec_text": 7}, "spec_text"),
        ({"source_branch": ["main"]}, "source_branch"),
        ({"branch": "x"}, "branch"),
        ({"spec_id": "../../etc"}, "spec_id"),
        ({"project_id": "nobody"}, "project_id"),
        ({"source_branch": "feature/missing"}, "source_branch"),
        ({"project_id": "other", "git_url": "ext::sh -c id"}, "git_url"),
    ],
)
def test_a_bad_ingest_names_aifactorys_field(api, project, example, change, field):
    payload = {k: v for k, v in ingest(example, **change).items() if v is not ...}
    assert_error(post(api, "/api/specs/ingest", payload), 400, field)
    assert Task.objects.count() == 0


def test_aifactorys_paths_are_exact(api, project, example):
    # with a trailing slash there is no such endpoint, and no redirect either
    assert_error(post(api, "/api/specs/ingest/", ingest(example)), 404)
    url = f"/api/specs/billable/{example['spec_id']}/pr/"
    assert_error(post(api, url, {"pr_number": 1, "repo_slug": "a/b"}), 404)
    assert Task.objects.count() == 0 and PullRequestLink.objects.count() == 0


def test_the_pull_request_is_recorded_and_replaced(api, project, example):
    url = f"/api/specs/billable/{example['spec_id']}/pr"
    response = post(api, url, {"pr_number": 7, "repo_slug": "acme/billable"})
    assert response.status_code == 200, response.content
    link = response.json()
    assert {k: link[k] for k in ("project_id", "spec_id", "repo_slug", "pr_number")} == {
        "project_id": "billable",
        "spec_id": example["spec_id"],
        "repo_slug": "acme/billable",
        "pr_number": 7,
    }
    assert ISO_UTC.match(link["recorded_at"])
    response = post(api, url, {"pr_number": 8, "repo_slug": "acme/billable"})
    assert response.json()["pr_number"] == 8
    assert PullRequestLink.objects.get().pr_number == 8


def test_a_bad_pull_request_names_its_field(api, project, example):
    url = f"/api/specs/billable/{example['spec_id']}/pr"
    for payload, field in [
        ({"pr_number": "7", "repo_slug": "a/b"}, "pr_number"),
        ({"pr_number": 0, "repo_slug": "a/b"}, "pr_number"),
        ({"pr_number": 7, "repo_slug": "../etc"}, "repo_slug"),
        ({"pr_number": 7}, "repo_slug"),
        ({"pr_number": 7, "repo_slug": "a/b", "extra": 1}, "extra"),
    ]:
        assert_error(post(api, url, payload), 400, field)
    assert_error(
        post(api, "/api/specs/billable/a..b/pr", {"pr_number": 7, "repo_slug": "a/b"}),
        400,
        "spec_id",
    )
    assert_error(
        post(api, "/api/specs/nobody/x/pr", {"pr_number": 7, "repo_slug": "a/b"}), 404, "project_id"
    )
    assert PullRequestLink.objects.count() == 0
