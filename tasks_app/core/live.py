"""Live updates: the nudge that tells a task's watchers that new event rows exist.

The rows are the truth; a nudge only says "read again". emit_event calls `nudge` for
every row; after the row's transaction commits, the task's id goes to a sender thread
that sends `{"type": "task.event"}` to the Channels group `task-<id>`. Nothing is sent
without a cross-process channel layer (no REDIS_URL): the consumer then polls the table.

Sending never blocks or breaks the caller: the sender thread has its own event loop and
Redis connection, coalesces nudges per task (so a burst of lines or a slow Redis cannot
pile up work), and a failed send is logged as a warning and dropped; the consumer's slow
safety poll (TFACTORY_LIVE_SAFETY_S) brings any lost nudge's rows anyway.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
import time
from functools import partial

from django.conf import settings
from django.db import transaction

log = logging.getLogger(__name__)

NUDGE_TYPE = "task.event"
# one group_send may take this long before it is given up (a Redis that hangs)
SEND_TIMEOUT_S = 2.0
# while Redis stays down, repeat the warning at most this often
WARN_EVERY_S = 60.0
IN_MEMORY_BACKEND = "channels.layers.InMemoryChannelLayer"


def group_name(task_id: int) -> str:
    return f"task-{task_id}"


def cross_process() -> bool:
    """Whether a channel layer that reaches other processes (Redis) is configured: an
    in-memory layer cannot carry a worker's nudge to the portal."""
    from channels import DEFAULT_CHANNEL_LAYER

    config = (getattr(settings, "CHANNEL_LAYERS", None) or {}).get(DEFAULT_CHANNEL_LAYER)
    return bool(config) and config.get("BACKEND") != IN_MEMORY_BACKEND


def nudge(task_id: int, event_id: int) -> None:
    """After the current transaction commits (at once outside one), tell the task's
    watchers that row `event_id` exists."""
    if cross_process():
        transaction.on_commit(partial(_enqueue, task_id, event_id), robust=True)


def flush(timeout: float = 5.0) -> bool:
    """Wait until every nudge queued in this process has been sent or dropped."""
    sender = _sender
    return sender is None or sender.pid != os.getpid() or sender.flush(timeout)


def _enqueue(task_id: int, event_id: int) -> None:
    try:
        _get_sender().put(task_id, event_id)
    except Exception:  # a nudge must never break the pipeline
        log.warning("could not queue the live-update nudge for task %s", task_id, exc_info=True)


_sender: _Sender | None = None
_sender_lock = threading.Lock()


def _after_fork() -> None:
    global _sender_lock
    _sender_lock = threading.Lock()  # another thread may have held it at the fork


os.register_at_fork(after_in_child=_after_fork)


def _get_sender() -> _Sender:
    global _sender
    sender = _sender
    # a forked worker (django-q) inherits the object but not the thread: start its own
    if sender is None or sender.pid != os.getpid():
        with _sender_lock:
            if _sender is None or _sender.pid != os.getpid():
                first = _sender is None
                _sender = _Sender()
                if first:
                    atexit.register(flush, 2.0)
            sender = _sender
    return sender


class _Sender:
    """One daemon thread with its own event loop sending the queued nudges."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.cond = threading.Condition()
        self.pending: dict[int, int] = {}  # task id -> newest event id
        self.busy = False
        self.failures = 0
        self.warned_at = 0.0
        self.thread = threading.Thread(target=self._run, name="tfactory-live-nudge", daemon=True)
        self.thread.start()

    def put(self, task_id: int, event_id: int) -> None:
        with self.cond:
            self.pending[task_id] = max(event_id, self.pending.get(task_id, 0))
            self.cond.notify_all()

    def flush(self, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: not self.pending and not self.busy, timeout)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        while True:
            with self.cond:
                self.cond.wait_for(lambda: bool(self.pending))
                batch, self.pending = self.pending, {}
                self.busy = True
            try:
                loop.run_until_complete(self._send(batch))
            except BaseException:  # keep the thread alive whatever happens
                log.warning("live-update nudges failed", exc_info=True)
            finally:
                with self.cond:
                    self.busy = False
                    self.cond.notify_all()

    async def _send(self, batch: dict[int, int]) -> None:
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        if layer is None:
            return
        for task_id, event_id in batch.items():
            try:
                await asyncio.wait_for(
                    layer.group_send(
                        group_name(task_id),
                        {"type": NUDGE_TYPE, "task": task_id, "after": event_id},
                    ),
                    SEND_TIMEOUT_S,
                )
            except Exception as exc:
                self._failed(task_id, exc)
            else:
                if self.failures:
                    log.warning("live-update nudges are sent again (%d dropped)", self.failures)
                    self.failures = 0
                    self.warned_at = 0.0

    def _failed(self, task_id: int, exc: Exception) -> None:
        self.failures += 1
        now = time.monotonic()
        if not self.warned_at or now - self.warned_at >= WARN_EVERY_S:
            self.warned_at = now
            log.warning(
                "live-update nudge for task %s not sent (%s: %s); %d dropped so far — "
                "watchers still get the rows from their safety poll",
                task_id,
                type(exc).__name__,
                exc or "timed out",
                self.failures,
            )
