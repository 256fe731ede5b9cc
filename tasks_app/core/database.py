"""The database on first use: every entry point (the CLI, the workers, the portal, the MCP
server) calls `ensure_database` before it touches a table — the command line before the
command runs, the portal on its first request (FirstUse / first_use_wsgi wrap it).

SQLite under TFACTORY_HOME is TFactory's own file: it is created and migrated in place,
under a lock, so several processes starting together migrate it once. Any other database
(DATABASE_URL) is shared and migrated by its operator: a missing migration is refused with
one sentence that says what to run.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

# the manage.py commands that read or write the tables (qcluster and runserver are
# Django's and django-q2's; the rest are TFactory's)
COMMANDS = frozenset(
    {"tfactory_run", "qcluster", "runserver", "mcp_serve", "api_token", "portal_login"}
)


class DatabaseNotReady(RuntimeError):
    """The database lacks migrations TFactory may not apply itself."""


def pending_migrations(using: str = "default") -> list[str]:
    """The migrations the database still lacks, as app.name."""
    connection = connections[using]
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{m.app_label}.{m.name}" for m, backwards in plan if not backwards]


def ensure_database(using: str = "default") -> list[str]:
    """Create or migrate TFactory's own SQLite database when it lacks migrations; refuse
    with DatabaseNotReady for any other database. Returns the migrations applied."""
    pending = pending_migrations(using)
    if not pending:
        return []
    connection = connections[using]
    if connection.vendor != "sqlite":
        raise DatabaseNotReady(
            f"the database ({connection.vendor}, {connection.settings_dict.get('NAME')}) "
            f"lacks {len(pending)} migration(s) ({pending[0]} first); run "
            "`manage.py migrate` once with the same DATABASE_URL, then start this again"
        )
    lock = Path(settings.TFACTORY_HOME) / ".migrate.lock"
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # another process starting now migrates first
        pending = pending_migrations(using)
        if pending:
            call_command("migrate", database=using, verbosity=0, interactive=False)
    return pending


class FirstUse:
    """An ASGI application that makes sure of the database on its first request (not at
    import: a process that only imports it touches no table). A database that is not
    ready is a 503 with the sentence, or a closed websocket."""

    def __init__(self, app: Any):
        self.app = app
        self.ready = False
        self.lock = threading.Lock()

    def _ensure(self) -> str | None:
        with self.lock:
            if not self.ready:
                try:
                    ensure_database()
                except DatabaseNotReady as exc:
                    return str(exc)
                self.ready = True
        return None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if not self.ready and scope["type"] in ("http", "websocket"):
            problem = await sync_to_async(self._ensure, thread_sensitive=True)()
            if problem is not None:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1011})
                    return
                body = f"TFactory is not ready: {problem}\n".encode()
                headers = [(b"content-type", b"text/plain; charset=utf-8")]
                await send({"type": "http.response.start", "status": 503, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def first_use_wsgi(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """The WSGI counterpart of FirstUse."""
    state = {"ready": False}
    lock = threading.Lock()

    def application(environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not state["ready"]:
            with lock:
                try:
                    ensure_database()
                except DatabaseNotReady as exc:
                    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
                    return [f"TFactory is not ready: {exc}\n".encode()]
                state["ready"] = True
        return app(environ, start_response)

    return application
