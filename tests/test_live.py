"""The task page's live log: the websocket consumer against the real ASGI application, a
real SQLite file database, and (for the nudge path) a real redis-server."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from tasks_app.core import live
from tasks_app.core.events import emit_event
from tasks_app.models import Project, Task, TaskEvent
from tfactory.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
EVENT_ID = re.compile(r'data-event-id="(\d+)"')
FRAME_START = '<div id="event-log" hx-swap-oob="beforeend"><div class="event '


@pytest.fixture(autouse=True)
def fast_poll(settings):
    settings.TFACTORY_LIVE_POLL_S = 0.1
    settings.CHANNEL_LAYERS = {}


@pytest.fixture
def cookie() -> bytes:
    """A logged-in session, as the browser holds it after the login page."""
    user = get_user_model().objects.create_user("watcher", password="a long password 1")
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value.encode()


def make_task(status: str = Task.Status.RUNNING) -> Task:
    project, _ = Project.objects.get_or_create(id="live", defaults={"repo_path": "/nonexistent"})
    return Task.objects.create(
        project=project,
        spec_id=f"spec-{Task.objects.count()}",
        branch="feature",
        base_ref="main",
        spec_source=Task.SpecSource.INLINE,
        status=status,
    )


def socket_for(task_id: int, cookie: bytes | None, query: str = "") -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost")]
    if cookie:
        headers.append((b"cookie", b"sessionid=" + cookie))
    return WebsocketCommunicator(application, f"/ws/tasks/{task_id}/events/{query}", headers)


async def open_socket(task_id: int, cookie: bytes, after: int | None = 0) -> WebsocketCommunicator:
    ws = socket_for(task_id, cookie)
    connected, _ = await ws.connect()
    assert connected
    if after is not None:
        await ws.send_json_to({"after": after})
    return ws


async def receive_ids(ws: WebsocketCommunicator, count: int, timeout: float = 3.0) -> list[int]:
    ids = []
    for _ in range(count):
        frame = await ws.receive_from(timeout)
        assert frame.startswith(FRAME_START), frame
        ids.append(int(EVENT_ID.search(frame).group(1)))
    return ids


async def receive_close(ws: WebsocketCommunicator, timeout: float = 3.0) -> int:
    message = await ws.receive_output(timeout)
    assert message["type"] == "websocket.close", message
    return message.get("code", 1000)


aemit = database_sync_to_async(emit_event)


def test_anonymous_and_foreign_origins_are_refused(cookie):
    task = make_task()
    emit_event(task, "secret-ish line")

    async def scenario():
        anonymous = socket_for(task.pk, None)
        assert (await anonymous.connect())[0]
        assert await receive_close(anonymous) == 4401
        assert await anonymous.receive_nothing(0.2)

        bad_cookie = socket_for(task.pk, b"not-a-session")
        await bad_cookie.connect()
        assert await receive_close(bad_cookie) == 4401

        foreign = WebsocketCommunicator(
            application,
            f"/ws/tasks/{task.pk}/events/",
            [(b"origin", b"http://evil.example"), (b"cookie", b"sessionid=" + cookie)],
        )
        connected, _ = await foreign.connect()
        assert not connected

    async_to_sync(scenario)()


def test_unknown_task_is_refused(cookie):
    async def scenario():
        ws = socket_for(987654, cookie)
        await ws.connect()
        assert await receive_close(ws) == 4404

    async_to_sync(scenario)()


def test_rows_after_the_cursor_arrive_in_order_with_the_status_badge(cookie):
    task = make_task()
    ids = [emit_event(task, f"line {n} <b>").pk for n in range(5)]
    status = emit_event(task, "stage running started", kind="status", data={"status": "running"})

    async def scenario():
        ws = await open_socket(task.pk, cookie, after=ids[1])
        frames = [await ws.receive_from(3) for _ in range(4)]
        assert await ws.receive_nothing(0.4)  # nothing repeated, nothing before the cursor
        await ws.disconnect()
        return frames

    frames = async_to_sync(scenario)()
    assert [int(EVENT_ID.search(f).group(1)) for f in frames] == [*ids[2:], status.pk]
    assert "line 2 &lt;b&gt;" in frames[0]  # the message is escaped
    assert frames[0].endswith("</div></div>") and "task-status" not in frames[0]
    assert frames[-1].endswith(
        '<span id="task-status" class="status status-running" hx-swap-oob="outerHTML">'
        "running</span>"
    )


def test_the_query_string_cursor_serves_a_client_that_sends_nothing(cookie):
    task = make_task()
    ids = [emit_event(task, f"line {n}").pk for n in range(3)]

    async def scenario():
        ws = socket_for(task.pk, cookie, f"?after={ids[0]}")
        assert (await ws.connect())[0]
        got = await receive_ids(ws, 2)
        await ws.disconnect()
        return got

    assert async_to_sync(scenario)() == ids[1:]


def test_a_malformed_first_message_closes_with_4400(cookie):
    task = make_task()

    async def scenario():
        ws = socket_for(task.pk, cookie)
        await ws.connect()
        await ws.send_to(text_data='{"after": "soon"}')
        return await receive_close(ws)

    assert async_to_sync(scenario)() == 4400


def test_a_new_event_arrives_without_reconnecting_by_polling(cookie):
    task = make_task()
    first = emit_event(task, "before").pk

    async def scenario():
        ws = await open_socket(task.pk, cookie, after=first)
        assert await ws.receive_nothing(0.3)
        started = time.monotonic()
        new = await aemit(task.pk, "after connecting")
        got = await receive_ids(ws, 1, timeout=2)
        elapsed = time.monotonic() - started
        await ws.disconnect()
        return new.pk, got, elapsed

    new, got, elapsed = async_to_sync(scenario)()
    assert got == [new]
    assert elapsed < 1.0


def test_reconnecting_with_the_last_id_resumes_without_gaps_or_repeats(cookie):
    """A writer thread keeps emitting while the client drops and reopens its socket; the
    ids it ends up with are exactly the task's rows, in order."""
    task = make_task()
    total = 60
    written: list[int] = []

    def writer():
        try:
            for n in range(total):
                written.append(emit_event(task.pk, f"line {n}").pk)
                time.sleep(0.01)
            written.append(emit_event(task.pk, "done", kind="status", data={"status": "done"}).pk)
            Task.objects.filter(pk=task.pk).update(status="done", finished_at=timezone.now())
        finally:
            connection.close()

    async def scenario():
        seen: list[int] = []
        reconnects = 0
        thread = threading.Thread(target=writer)
        thread.start()
        try:
            while True:
                ws = await open_socket(task.pk, cookie, after=seen[-1] if seen else 0)
                try:
                    for _ in range(7):  # then drop the socket mid-stream
                        message = await ws.receive_output(5)
                        if message["type"] == "websocket.close":
                            assert message["code"] == 1000
                            return seen, reconnects
                        seen.append(int(EVENT_ID.search(message["text"]).group(1)))
                finally:
                    await ws.disconnect()
                reconnects += 1
        finally:
            await asyncio.get_running_loop().run_in_executor(None, thread.join)

    seen, reconnects = async_to_sync(scenario)()
    assert reconnects >= 5
    assert seen == written
    assert seen == list(TaskEvent.objects.filter(task=task).values_list("pk", flat=True))


def test_watchers_of_one_task_each_get_every_row_from_their_own_cursor(cookie):
    """Sockets on one task share its feed; one that joins late with an old cursor first
    reads its history itself, then follows the feed, with nothing lost or repeated."""
    task = make_task()
    ids = [emit_event(task, f"old {n}").pk for n in range(3)]

    async def scenario():
        early = [await open_socket(task.pk, cookie, after=ids[-1]) for _ in range(3)]
        for ws in early:
            assert await ws.receive_nothing(0.2)
        fresh = [(await aemit(task.pk, f"new {n}")).pk for n in range(4)]
        late = await open_socket(task.pk, cookie, after=ids[0])
        got = [await receive_ids(ws, 4) for ws in early]
        got.append(await receive_ids(late, 6))
        last = (await aemit(task.pk, "last")).pk
        for ws in [*early, late]:
            assert await receive_ids(ws, 1) == [last]
            assert await ws.receive_nothing(0.05)
            await ws.disconnect()
        return fresh, got

    fresh, got = async_to_sync(scenario)()
    assert got == [fresh, fresh, fresh, [*ids[1:], *fresh]]


def test_small_batches_and_a_trimmed_feed_lose_and_repeat_nothing(cookie, monkeypatch):
    from tasks_app.web import consumers

    monkeypatch.setattr(consumers, "BATCH", 3)
    monkeypatch.setattr(consumers, "CACHE_ROWS", 4)
    task = make_task()
    ids = [emit_event(task, f"old {n}").pk for n in range(10)]

    def burst(n: int) -> list[int]:
        return [emit_event(task.pk, f"burst {i}").pk for i in range(n)]

    async def scenario():
        first = await open_socket(task.pk, cookie)
        got_first = await receive_ids(first, 10)
        new = await database_sync_to_async(burst)(12)
        late = await open_socket(task.pk, cookie, after=ids[4])
        got_first += await receive_ids(first, 12)
        got_late = await receive_ids(late, 17)
        for ws in (first, late):
            assert await ws.receive_nothing(0.3)
            await ws.disconnect()
        return new, got_first, got_late

    new, got_first, got_late = async_to_sync(scenario)()
    assert got_first == ids + new
    assert got_late == ids[5:] + new


def test_the_socket_closes_with_1000_once_the_closing_status_row_is_sent(cookie):
    task = make_task()
    emit_event(task, "stage running started", kind="status", data={"status": "running"})
    # the task is marked ended before its report and closing row are written
    Task.objects.filter(pk=task.pk).update(status="done", finished_at=timezone.now())
    late = emit_event(task, "lane functional: done", kind="lane")

    async def scenario():
        ws = await open_socket(task.pk, cookie)
        await receive_ids(ws, 2)
        assert await ws.receive_nothing(0.5)  # still open: the closing row is not there yet
        closing = await aemit(task.pk, "task done", kind="status", data={"status": "done"})
        frame = await ws.receive_from(2)
        code = await receive_close(ws)
        return closing.pk, frame, code

    closing, frame, code = async_to_sync(scenario)()
    assert late.pk < closing
    assert f'data-event-id="{closing}"' in frame and "status status-done" in frame
    assert code == 1000


def test_an_old_ended_task_sends_its_rows_and_closes(cookie):
    task = make_task(status=Task.Status.FAILED)
    ids = [emit_event(task, f"line {n}").pk for n in range(3)]

    async def scenario():
        ws = await open_socket(task.pk, cookie)
        got = await receive_ids(ws, 3)
        return got, await receive_close(ws)

    assert async_to_sync(scenario)() == (ids, 1000)


# ---------------------------------------------------------------- with Redis


@pytest.fixture
def redis_url(tmp_path) -> str:
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    sock = tmp_path / "redis.sock"
    proc = subprocess.Popen(
        [server, "--port", "0", "--unixsocket", str(sock), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)
        yield f"unix://{sock}"
    finally:
        proc.terminate()
        proc.wait(10)


def redis_layers(url: str) -> dict:
    return {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [url]},
        }
    }


def test_a_nudge_goes_only_after_the_row_commits(settings, monkeypatch):
    settings.CHANNEL_LAYERS = redis_layers("redis://127.0.0.1:1")
    task = make_task()
    sent = []
    monkeypatch.setattr(live, "_enqueue", lambda task_id, event_id: sent.append(event_id))
    with transaction.atomic():
        event = emit_event(task, "inside a transaction")
        assert sent == []
    assert sent == [event.pk]

    settings.CHANNEL_LAYERS = {}
    emit_event(task, "no layer, no nudge")
    assert sent == [event.pk]


def test_with_redis_a_nudge_brings_a_row_written_by_another_thread_at_once(
    settings, redis_url, cookie
):
    settings.CHANNEL_LAYERS = redis_layers(redis_url)
    settings.TFACTORY_LIVE_SAFETY_S = 30  # so only a nudge can bring the row in time
    settings.TFACTORY_LIVE_POLL_S = 30
    task = make_task()
    first = emit_event(task, "before").pk
    written = {}

    def writer():
        try:
            event = emit_event(task.pk, "from another thread")
            written[event.pk] = time.monotonic()
        finally:
            connection.close()

    async def scenario():
        ws = await open_socket(task.pk, cookie, after=0)
        assert await receive_ids(ws, 1) == [first]
        assert await ws.receive_nothing(0.3)
        thread = threading.Thread(target=writer)
        thread.start()
        got = await receive_ids(ws, 1, timeout=3)
        arrived = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(None, thread.join)
        await ws.disconnect()
        return got, arrived

    got, arrived = async_to_sync(scenario)()
    assert got == list(written)
    assert arrived - written[got[0]] < 1.0


def test_with_redis_a_row_written_by_another_process_arrives_at_once(
    settings, redis_url, cookie, tf_home
):
    if connection.vendor != "sqlite":
        pytest.skip("the writer process finds the test database by its SQLite path")
    settings.CHANNEL_LAYERS = redis_layers(redis_url)
    settings.TFACTORY_LIVE_SAFETY_S = 30
    task = make_task()
    script = (
        "import json, time, django; django.setup()\n"
        "from tasks_app.core.events import emit_event\n"
        f"e = emit_event({task.pk}, 'from another process')\n"
        "print(json.dumps([e.pk, time.time()]))\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tfactory.settings",
        "TFACTORY_HOME": str(tf_home),
        "TFACTORY_DB_PATH": str(connection.settings_dict["NAME"]),
        "REDIS_URL": redis_url,
    }

    async def scenario():
        ws = await open_socket(task.pk, cookie, after=0)
        assert await ws.receive_nothing(0.3)
        proc = subprocess.Popen(
            [sys.executable, "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
        )
        try:
            got = await receive_ids(ws, 1, timeout=20)
            arrived = time.time()
        finally:
            out, _ = await asyncio.get_running_loop().run_in_executor(None, proc.communicate)
        await ws.disconnect()
        return got, arrived, json.loads(out)

    got, arrived, (event_id, committed) = async_to_sync(scenario)()
    assert got == [event_id]
    assert arrived - committed < 1.0


def test_a_redis_that_is_down_does_not_break_emit_event(settings, tmp_path, caplog, monkeypatch):
    settings.CHANNEL_LAYERS = redis_layers(f"unix://{tmp_path / 'no-redis.sock'}")
    monkeypatch.setattr(live, "WARN_EVERY_S", 0.0)
    task = make_task()
    with caplog.at_level(logging.WARNING, logger="tasks_app.core.live"):
        events = [emit_event(task, f"line {n}") for n in range(3)]
        assert live.flush(10)
    assert TaskEvent.objects.filter(task=task).count() == 3
    assert [e.pk for e in events] == sorted(e.pk for e in events)
    warnings = [r for r in caplog.records if r.name == "tasks_app.core.live"]
    assert warnings and "not sent" in warnings[0].getMessage()


def test_with_redis_down_the_socket_still_brings_new_rows(settings, tmp_path, cookie, monkeypatch):
    settings.CHANNEL_LAYERS = redis_layers(f"unix://{tmp_path / 'no-redis.sock'}")
    settings.TFACTORY_LIVE_SAFETY_S = 30  # the feed cannot join the group: it polls
    monkeypatch.setattr(live, "WARN_EVERY_S", 0.0)
    task = make_task()
    first = emit_event(task, "before").pk

    async def scenario():
        ws = await open_socket(task.pk, cookie)
        assert await receive_ids(ws, 1) == [first]
        new = await aemit(task.pk, "written while Redis is down")
        got = await receive_ids(ws, 1, timeout=2)
        await ws.disconnect()
        return new.pk, got

    new, got = async_to_sync(scenario)()
    assert got == [new]
