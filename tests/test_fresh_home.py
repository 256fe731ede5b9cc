"""Every entry point works on an empty TFACTORY_HOME: the CLI, the workers, the portal and
the MCP server create and migrate TFactory's own SQLite database on first use; another
database that lacks migrations is refused with one sentence saying what to run."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def fresh_env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TFACTORY_", "DJANGO_")) and k != "DATABASE_URL"
    }
    env.update(
        TFACTORY_HOME=str(home),
        # the tool environments are shared, as on a machine that ran the demo before
        TFACTORY_CACHE_DIR=str(settings.TFACTORY_CACHE_DIR),
        TFACTORY_AIFACTORY_ROOT=str(settings.TFACTORY_AIFACTORY_ROOT),
        TFACTORY_OSV_API_URL="off",
        **extra,
    )
    return env


def manage(*args: str, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}


@pytest.mark.slow
def test_tfactory_run_on_an_empty_home_runs_the_handover_to_its_report(example, tmp_path):
    home = tmp_path / "empty-home"
    assert not home.exists()
    result = manage(
        "tfactory_run", "--repo", example["repo"], "--project", "billable",
        "--spec", example["spec_id"], "--branch", example["branch"], "--base", "main",
        "--engine-budget", "10", "--mutation-budget", "120", "--no-deliver", "--json",
        env=fresh_env(home),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["status"] == "done"
    assert report["lanes"]["functional"]["status"] in ("done", "degraded")
    assert "tasks_app_task" in tables(home / "tfactory.sqlite3")
    folder = home / "workspaces" / "billable" / "specs" / example["spec_id"]
    assert (folder / "report.json").is_file() and (folder / "report.md").is_file()


def test_the_token_command_and_the_portal_create_the_database_on_first_use(tmp_path):
    home = tmp_path / "home-cli"
    result = manage("api_token", "--user", "ci", "--create-user", env=fresh_env(home))
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip()) == 40
    assert {"tasks_app_task", "authtoken_token", "django_q_ormq"} <= tables(
        home / "tfactory.sqlite3"
    )
    # the ASGI application (daphne) and the WSGI one: on their first request, not on import
    for module, code in (("tfactory.asgi", ASGI_GET), ("tfactory.wsgi", WSGI_GET)):
        other = tmp_path / f"home-{module}"
        started = subprocess.run(
            [sys.executable, "-c", code],
            env={**fresh_env(other), "DJANGO_SETTINGS_MODULE": "tfactory.settings"},
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
        )
        assert started.stdout.split() == ["no-database-yet", "200"], started.stderr[-2000:]
        assert "tasks_app_task" in tables(other / "tfactory.sqlite3")


# import the application (no table is touched), then GET the login page through it
ASGI_GET = """
import asyncio, os, sqlite3
from tfactory.asgi import application
from django.conf import settings
db = settings.DATABASES["default"]["NAME"]
tables = []
if os.path.exists(db):
    tables = sqlite3.connect(db).execute("select name from sqlite_master").fetchall()
print("no-database-yet" if ("tasks_app_task",) not in tables else "database-at-import")
from asgiref.testing import ApplicationCommunicator
scope = {"type": "http", "method": "GET", "path": "/accounts/login/", "query_string": b"",
         "headers": [(b"host", b"localhost")], "scheme": "http", "server": ("localhost", 80),
         "client": ("127.0.0.1", 1)}
async def get():
    c = ApplicationCommunicator(application, scope)
    await c.send_input({"type": "http.request", "body": b""})
    return (await c.receive_output(timeout=60))["status"]
print(asyncio.run(get()))
"""
WSGI_GET = """
import os, sqlite3
from wsgiref.util import setup_testing_defaults
from tfactory.wsgi import application
from django.conf import settings
db = settings.DATABASES["default"]["NAME"]
tables = []
if os.path.exists(db):
    tables = sqlite3.connect(db).execute("select name from sqlite_master").fetchall()
print("no-database-yet" if ("tasks_app_task",) not in tables else "database-at-import")
environ = {"PATH_INFO": "/accounts/login/", "HTTP_HOST": "localhost"}
setup_testing_defaults(environ)
status = []
application(environ, lambda s, h: status.append(s))
print(status[0].split()[0])
"""


def test_the_mcp_server_starts_on_an_empty_home_with_nothing_but_protocol_on_stdout(tmp_path):
    home = tmp_path / "home-mcp"
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"},
        },
    }
    proc = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "mcp_serve"],
        input=json.dumps(request) + "\n",
        env=fresh_env(home),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines and all(json.loads(line)["jsonrpc"] == "2.0" for line in lines), proc.stdout
    assert json.loads(lines[0])["id"] == 1
    assert "tasks_app_task" in tables(home / "tfactory.sqlite3")


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="needs DATABASE_URL pointing at a PostgreSQL server (scripts/test's second pass)",
)
def test_a_shared_database_without_migrations_is_refused_with_what_to_run(tmp_path):
    import psycopg

    url = os.environ["DATABASE_URL"]
    admin = url.rsplit("/", 1)[0] + "/postgres"  # the URL's own database need not exist
    name = f"tfactory_fresh_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        fresh_url = url.rsplit("/", 1)[0] + f"/{name}"
        result = manage(
            "tfactory_run", "--project", "p", "--spec", "s", "--branch", "b",
            env=fresh_env(tmp_path / "home-pg", DATABASE_URL=fresh_url),
        )  # fmt: skip
        assert result.returncode == 1
        assert "run `manage.py migrate` once with the same DATABASE_URL" in result.stderr
        assert "Traceback" not in result.stderr
        with psycopg.connect(fresh_url) as conn:
            found = conn.execute(
                "select count(*) from information_schema.tables where table_name='tasks_app_task'"
            ).fetchone()
        assert found == (0,)  # nothing was created behind the operator's back
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
