"""The task page's live log: `ws/tasks/<task_id>/events/`.

Protocol (static/portal/live.js and templates/tasks/detail.html are written to it):
- the client connects and sends one text message `{"after": <last event id it has>}`
  (0 for none); without one within HELLO_WAIT_S, `?after=N` from the query string is
  used (0 when absent). Later messages are ignored.
- the server sends every row with id > after, oldest first, one text frame per row: the
  row's `tasks/_event.html` inside `<div id="event-log" hx-swap-oob="beforeend">`, and
  for a status row also the status badge `<span id="task-status" ...
  hx-swap-oob="outerHTML">` (htmx's ws extension swaps both out of band).
- then it sends new rows the same way as they come: the task's Feed (one per process
  for all its watchers) reads the rows after its newest one when a nudge from
  tasks_app/core/live.py arrives (a cross-process channel layer), or every
  TFACTORY_LIVE_POLL_S (none). A nudge carries nothing anyone trusts: the rows after a
  cursor are always read from the table, so a lost or repeated nudge, or a reconnect
  with the client's last id, loses and repeats nothing.
- when the task has ended and every row is sent, it closes with 1000. 4401: not logged
  in; 4404: no such task; 4400: a first message that is not `{"after": N}`.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import logging
import weakref
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db.models import Max
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import format_html

from tasks_app.core import live
from tasks_app.models import Task, TaskEvent

log = logging.getLogger(__name__)

BATCH = 200
CACHE_ROWS = 1000
HELLO_WAIT_S = 1.0
# A task is terminal before its closing status row is written (the report comes first):
# the socket stays open until that row is sent, or this long after the task finished.
CLOSE_GRACE_S = 10.0

CLOSE_DONE = 1000
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_FOUND = 4404


def event_frame(event: TaskEvent, task_status: str = "") -> str:
    """One websocket text frame: the row for the log and, for a status row, the badge."""
    frame = (
        '<div id="event-log" hx-swap-oob="beforeend">'
        + render_to_string("tasks/_event.html", {"event": event}).strip()
        + "</div>"
    )
    if event.kind == TaskEvent.Kind.STATUS:
        status = str((event.data or {}).get("status") or task_status)
        frame += format_html(
            '<span id="task-status" class="status status-{}" hx-swap-oob="outerHTML">{}</span>',
            status,
            status,
        )
    return frame


@dataclass
class Batch:
    frames: list[tuple[int, str]] = field(default_factory=list)
    gone: bool = False  # the task no longer exists
    ended: bool = False  # the task has ended and these are its last rows


def read_after(task_id: int, after: int, limit: int = BATCH) -> Batch:
    # the task first, then its rows: a row written before the task ended is then read
    row = Task.objects.filter(pk=task_id).values_list("status", "finished_at").first()
    if row is None:
        return Batch(gone=True)
    status, finished_at = row
    events = list(TaskEvent.objects.filter(task_id=task_id, pk__gt=after).order_by("pk")[:limit])
    batch = Batch(frames=[(e.pk, event_frame(e, status)) for e in events])
    if status in Task.TERMINAL and len(events) < limit:
        cursor = events[-1].pk if events else after
        last_status = (
            TaskEvent.objects.filter(task_id=task_id, kind=TaskEvent.Kind.STATUS, pk__lte=cursor)
            .order_by("-pk")
            .values_list("data", flat=True)
            .first()
        )
        closed = isinstance(last_status, dict) and last_status.get("status") in Task.TERMINAL
        long_ago = finished_at is None or (
            timezone.now() - finished_at > timedelta(seconds=CLOSE_GRACE_S)
        )
        batch.ended = closed or long_ago
    return batch


@database_sync_to_async
def task_exists(task_id: int) -> bool:
    return Task.objects.filter(pk=task_id).exists()


@database_sync_to_async
def newest_event_id(task_id: int) -> int:
    return TaskEvent.objects.filter(task_id=task_id).aggregate(m=Max("pk"))["m"] or 0


read_after_async = database_sync_to_async(read_after)

_feeds: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, Feed]] = (
    weakref.WeakKeyDictionary()
)


class Feed:
    """One task's new rows, read once per process (event loop) for all its watchers here.

    It starts at the task's newest row and holds the frames of every row it has read
    since: ids in (base, head], oldest first, at most CACHE_ROWS. It reads the rows after
    head when a nudge arrives on the task's group (a cross-process layer), or every
    TFACTORY_LIVE_POLL_S (none), and wakes its watchers. A watcher whose cursor is below
    base (history, or a slow client) reads the table itself until it reaches the feed.
    So reads grow with the rate of new rows, not with rows times watchers.
    """

    def __init__(self, task_id: int) -> None:
        self.task_id = task_id
        self.base: int | None = None
        self.head = 0
        self.ids: list[int] = []
        self.frames: list[str] = []
        self.ended = False
        self.gone = False
        self.ready = False  # it has read once: its watchers may rely on it
        self.deaf = False  # the layer failed: poll until it answers again
        self.watchers: set[asyncio.Event] = set()
        self.poked = asyncio.Event()
        self.runner = asyncio.create_task(self._run())

    @classmethod
    def join(cls, task_id: int, wake: asyncio.Event) -> Feed:
        feeds = _feeds.setdefault(asyncio.get_running_loop(), {})
        feed = feeds.get(task_id)
        if feed is None:
            feed = feeds[task_id] = cls(task_id)
        feed.watchers.add(wake)
        return feed

    def leave(self, wake: asyncio.Event) -> None:
        self.watchers.discard(wake)
        if not self.watchers:
            self.runner.cancel()
            feeds = _feeds.get(asyncio.get_running_loop(), {})
            if feeds.get(self.task_id) is self:
                del feeds[self.task_id]

    def after(self, cursor: int) -> Batch | None:
        """The frames after `cursor`, or None when the feed does not reach back that far."""
        if self.gone:
            return Batch(gone=True)
        if not self.ready or cursor < self.base:
            return None
        i = bisect.bisect_right(self.ids, cursor)
        return Batch(frames=list(zip(self.ids[i:], self.frames[i:], strict=True)), ended=self.ended)

    def _wake_all(self) -> None:
        for wake in self.watchers:
            wake.set()

    async def _run(self) -> None:
        from channels.layers import get_channel_layer

        layer = get_channel_layer() if live.cross_process() else None
        channel = listener = None
        try:
            if layer is not None:
                try:
                    channel = await layer.new_channel()
                    await layer.group_add(live.group_name(self.task_id), channel)
                    listener = asyncio.create_task(self._listen(layer, channel))
                except Exception as exc:
                    log.warning(
                        "live log of task %s polls: no channel layer (%s)", self.task_id, exc
                    )
                    layer = channel = None
            while True:
                nudged = layer is not None and not self.deaf
                wait = settings.TFACTORY_LIVE_SAFETY_S if nudged else settings.TFACTORY_LIVE_POLL_S
                self.poked.clear()  # a nudge during the read brings another read
                try:
                    if self.base is None:
                        self.head = self.base = await newest_event_id(self.task_id)
                    full = await self._refresh()
                except Exception:
                    log.warning("live log of task %s: read failed", self.task_id, exc_info=True)
                    full = False
                if self.gone:
                    return
                if not full:
                    try:
                        await asyncio.wait_for(self.poked.wait(), wait)
                    except TimeoutError:
                        pass
        finally:
            if listener is not None:
                listener.cancel()
            if channel is not None:
                try:
                    await layer.group_discard(live.group_name(self.task_id), channel)
                except Exception:  # noqa: S110 - the group entry expires anyway
                    pass

    async def _refresh(self) -> bool:
        batch = await read_after_async(self.task_id, self.head)
        changed = batch.gone or bool(batch.frames) or batch.ended != self.ended or not self.ready
        self.ready = True
        self.gone = batch.gone
        for event_id, frame in batch.frames:
            self.ids.append(event_id)
            self.frames.append(frame)
            self.head = event_id
        if len(self.ids) > CACHE_ROWS:
            drop = len(self.ids) - CACHE_ROWS
            self.base = self.ids[drop - 1]
            del self.ids[:drop], self.frames[:drop]
        self.ended = batch.ended
        if changed:
            self._wake_all()
        return len(batch.frames) == BATCH

    async def _listen(self, layer, channel: str) -> None:
        while True:
            try:
                await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self.deaf:
                    log.warning("live log of task %s polls: nudges fail (%s)", self.task_id, exc)
                self.deaf = True
                self.poked.set()
                await asyncio.sleep(settings.TFACTORY_LIVE_SAFETY_S)
            else:
                self.deaf = False
                self.poked.set()


def parse_after(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        after = int(str(value))
    except (TypeError, ValueError):
        return None
    return after if after >= 0 else None


class TaskEventsConsumer(AsyncWebsocketConsumer):
    # no channel of its own: the task's Feed listens on the layer for all its sockets
    # (and a Redis that is down does not take the sockets with it)
    channel_layer_alias = "tfactory-live-sockets-use-the-feed"
    task_id: int
    cursor = 0
    feed: Feed | None = None
    pump: asyncio.Task | None = None
    hello: asyncio.Task | None = None

    async def connect(self) -> None:
        # accept first so the close code reaches the browser (a refused handshake is an
        # abnormal 1006, which htmx's ws extension answers by reconnecting for ever)
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        self.task_id = int(self.scope["url_route"]["kwargs"]["task_id"])
        if not await task_exists(self.task_id):
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.wake = asyncio.Event()
        self.hello = asyncio.create_task(self._hello_from_query())

    async def _hello_from_query(self) -> None:
        await asyncio.sleep(HELLO_WAIT_S)
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        after = parse_after(query.get("after", ["0"])[-1])
        if after is None:
            await self.close(code=CLOSE_BAD_REQUEST)
            return
        self._start(after)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        if self.pump is not None or self.hello is None:
            return  # the cursor is set once per connection; refused sockets ignore input
        try:
            message = json.loads(text_data or bytes_data or b"")
        except ValueError:
            message = None
        after = parse_after(message.get("after")) if isinstance(message, dict) else None
        self.hello.cancel()
        if after is None:
            await self.close(code=CLOSE_BAD_REQUEST)
            return
        self._start(after)

    def _start(self, after: int) -> None:
        if self.pump is None:
            self.cursor = after
            # join first: the feed starts at the newest row, so the first own read below
            # reaches it whatever is written meanwhile
            self.feed = Feed.join(self.task_id, self.wake)
            self.pump = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        feed = self.feed
        try:
            while True:
                self.wake.clear()
                batch = feed.after(self.cursor)
                own = batch is None
                if own:  # history the feed does not hold: read it here
                    batch = await read_after_async(self.task_id, self.cursor)
                if batch.gone:
                    await self.close(code=CLOSE_NOT_FOUND)
                    return
                for event_id, frame in batch.frames:
                    await self.send(text_data=frame)
                    self.cursor = event_id
                if batch.ended:
                    await self.close(code=CLOSE_DONE)
                    return
                if own and (batch.frames or feed.after(self.cursor) is not None):
                    continue  # more history, or on to the feed
                try:
                    await asyncio.wait_for(self.wake.wait(), settings.TFACTORY_LIVE_SAFETY_S)
                except TimeoutError:
                    pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("live log of task %s failed", self.task_id)
            await self.close(code=1011)

    async def disconnect(self, code: int) -> None:
        for job in (self.hello, self.pump):
            if job is not None:
                job.cancel()
        if self.feed is not None:
            self.feed.leave(self.wake)
