"""The portal in a real browser: Debian's chromium, headless, driven by Playwright, against
daphne serving the ASGI application (HTTP and the live log's websocket) on the test's own
database. The test writes events as a worker would; the page must show them without a
reload, and resume after the socket drops with nothing lost or repeated."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django_q.models import OrmQ

from tasks_app.core.events import emit_event
from tasks_app.models import Task
from tests.conftest import ROOT, start_example_task
from tests.portal_support import finish_like_the_demo, start_running

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = ROOT / "docs" / "task-page.png"
PASSWORD = "a long password 1"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's chromium is not installed (apt-get install chromium; CI installs it)",
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daphne:
    """`daphne tfactory.asgi:application` on a port of its own, restartable on that port."""

    def __init__(self, env: dict[str, str], log: Path):
        self.env = env
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port)]
                + ["tfactory.asgi:application"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"daphne exited:\n{self.log.read_text()}")
            try:
                urllib.request.urlopen(f"{self.url}/accounts/login/", timeout=1)  # noqa: S310
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"daphne did not answer:\n{self.log.read_text()}")

    def kill(self) -> None:
        """Stop at once, as a crash would: every socket drops without a close frame."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server(django_db_setup, tmp_path_factory) -> Iterator[Daphne]:
    home = tmp_path_factory.mktemp("portal-home")
    env = {
        **os.environ,
        "TFACTORY_HOME": str(home),
        "TFACTORY_DB_PATH": str(connection.settings_dict["NAME"]),
        "SECRET_KEY": settings.SECRET_KEY,
        "DJANGO_SETTINGS_MODULE": "tfactory.settings",
    }
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)  # no channel layer: the consumer polls the table
    daphne = Daphne(env, home / "daphne.log")
    daphne.start()
    yield daphne
    daphne.kill()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls
    # are ordinary synchronous ones all the same
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=str(CHROMIUM),
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def log_in(page, server: Daphne, path: str, *, staff: bool = False) -> None:
    User = get_user_model()
    if staff:
        User.objects.create_superuser("root", password=PASSWORD)
    else:
        User.objects.create_user("alice", password=PASSWORD)
    page.goto(server.url + path)
    if path.startswith("/admin/"):  # the admin has a login page of its own: use the portal's
        page.goto(f"{server.url}/accounts/login/?next={path}")
    assert "/login/" in page.url  # everything wants a login
    page.fill("#id_username", "root" if staff else "alice")
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(server.url + path)


def mark_page(page) -> None:
    """A flag in the page's JavaScript state: gone after a reload, kept by htmx swaps."""
    page.evaluate("window.notReloaded = true")


def not_reloaded(page) -> bool:
    return page.evaluate("window.notReloaded === true")


def log_ids(page) -> list[int]:
    return page.eval_on_selector_all(
        "#event-log [data-event-id]", "rows => rows.map(r => Number(r.dataset.eventId))"
    )


def db_ids(task: Task) -> list[int]:
    return list(task.events.order_by("id").values_list("id", flat=True))


def wait_for_rows(page, task: Task) -> list[int]:
    want = db_ids(task)
    page.wait_for_function(
        "n => document.querySelectorAll('#event-log [data-event-id]').length >= n", arg=len(want)
    )
    return want


def test_a_person_logs_in_and_watches_the_task_list_update_itself(page, server, example):
    task = start_example_task(example)
    log_in(page, server, "/tasks/")
    row = page.locator(f'tr[data-task-id="{task.pk}"]')
    assert row.locator(".status").inner_text() == "pending"
    mark_page(page)
    Task.objects.filter(pk=task.pk).update(status=Task.Status.PLANNING)
    row.locator(".status-planning").wait_for(timeout=8_000)  # the table polls every 3 s
    assert not_reloaded(page)
    page.select_option("select[name=status]", "done")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/tasks/?project=&status=done")
    assert page.locator("tr[data-task-id]").count() == 0


def test_a_running_tasks_log_arrives_live_and_resumes_after_the_socket_drops(page, server, example):
    task = start_running(start_example_task(example), "generating")
    log_in(page, server, f"/tasks/{task.pk}/")
    page.locator('#live-state[data-state="live"]').wait_for()
    mark_page(page)
    assert log_ids(page) == db_ids(task)

    for i in range(3):
        emit_event(task, f"pynguin: line {i}", stage="generating")
    want = wait_for_rows(page, task)
    assert log_ids(page) == want
    assert page.locator("#event-log").inner_text().endswith("pynguin: line 2")

    # the server goes away mid-task: lines written meanwhile must arrive after the
    # browser reconnects by itself, once each and in order
    server.kill()
    page.locator('#live-state[data-state="reconnecting"]').wait_for()
    for i in range(3, 7):
        emit_event(task, f"pynguin: line {i}", stage="generating")
    server.start()
    page.locator('#live-state[data-state="live"]').wait_for(timeout=20_000)
    emit_event(task, "crosshair: line 7", stage="generating")
    want = wait_for_rows(page, task)
    time.sleep(0.5)  # a repeat would come right behind
    assert log_ids(page) == want, "a gap or a repeat in the resumed log"
    assert not_reloaded(page)

    # a status change swaps the badge in place
    Task.objects.filter(pk=task.pk).update(status=Task.Status.RUNNING)
    emit_event(
        task, "stage running started", kind="status", stage="running", data={"status": "running"}
    )
    page.locator('#task-status.status-running:has-text("running")').wait_for()
    assert not_reloaded(page)

    # the task ends: the server closes the socket and the page loads its results
    Task.objects.filter(pk=task.pk).update(status=Task.Status.DONE)
    emit_event(task, "task done", kind="status", data={"status": "done"})
    page.locator('button:has-text("Rerun functional")').wait_for()
    assert not not_reloaded(page)
    assert page.locator('#live-state[data-state="ended"]').count() == 1
    assert log_ids(page) == db_ids(task)


def test_a_lane_is_rerun_from_the_admin_and_shows_as_queued(page, server, example):
    task = finish_like_the_demo(start_example_task(example))
    log_in(page, server, "/admin/tasks_app/task/", staff=True)
    page.check(f'input[name="_selected_action"][value="{task.pk}"]')
    page.select_option("select[name=action]", label="Rerun lane mutation")
    page.click('button[name="index"]')
    message = page.locator("ul.messagelist li.success")
    assert message.inner_text() == f"1 task(s) queued to rerun lane mutation: #{task.pk}."
    assert page.locator(f'tr:has(input[value="{task.pk}"]) td.field-status').inner_text() == (
        "Pending"
    )
    task.refresh_from_db()
    assert (task.status, task.queued_stage) == ("pending", "running")
    assert OrmQ.objects.count() == 1  # the job is waiting for a worker
    page.goto(f"{server.url}/tasks/{task.pk}/")
    assert page.locator("#task-status").inner_text() == "pending"


def test_the_page_of_a_finished_task_shows_its_results(page, server, example):
    task = finish_like_the_demo(start_example_task(example))
    log_in(page, server, f"/tasks/{task.pk}/")
    assert page.locator(".summary .card .big").first.inner_text() == "16 accepted"
    assert page.locator("svg.gauge").first.get_attribute("aria-label") == "mutation score 79.0%"
    assert page.locator("table.tests tr.test").count() == 65
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))

    # a test's code opens in place, read from the task's folder
    mark_page(page)
    page.locator("td.test-name summary").first.click()
    code = page.locator("td.test-name .code-slot pre").first
    assert code.inner_text().startswith("def test_17():")
    # the lane tabs swap the panel without a reload
    page.click('.tab:has-text("mutation")')
    page.locator('.tab-panel[data-lane="mutation"]').wait_for()
    assert page.url.endswith("?lane=mutation")
    assert page.locator("ul.survivors > li").count() == 33
    assert not_reloaded(page)
