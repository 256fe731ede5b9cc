"""Shared fixtures: a fresh TFACTORY_HOME per test and real example repositories."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAKE_EXAMPLE = ROOT / "examples" / "make_example_repo.py"


@pytest.fixture(autouse=True)
def tf_home(tmp_path, settings):
    """Each test gets its own TFactory home and AIFactory root; tool caches are shared."""
    home = tmp_path / "tfhome"
    home.mkdir()
    settings.TFACTORY_HOME = home
    settings.TFACTORY_AIFACTORY_ROOT = tmp_path / "aifactory"
    settings.TFACTORY_HEARTBEAT_S = 1
    # advisories from the bundled snapshot unless a test serves the OSV API itself
    settings.TFACTORY_OSV_API_URL = "off"
    return home


def make_example(
    dest: Path, aifactory_root: Path, project_id: str = "billable", *, planted: bool = False
) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            str(MAKE_EXAMPLE),
            str(dest),
            "--aifactory-root",
            str(aifactory_root),
            "--project-id",
            project_id,
            *(["--planted"] if planted else []),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


@pytest.fixture
def example(tmp_path, settings) -> dict:
    """The bundled example as a real git repository plus its AIFactory spec folder."""
    return make_example(tmp_path / "repo", Path(settings.TFACTORY_AIFACTORY_ROOT))


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture(scope="session")
def django_db_modify_db_settings(tmp_path_factory):
    """A file-backed test database (WAL), as in production: stage heartbeats run in a
    thread and the worker test runs a second process against the same database."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        db.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("db") / "test.sqlite3")


def npm_schema(env: str, folder: str, file: str, package: str) -> dict:
    """A JSON schema scripts/test fetched from an npm package (`env` names the file)."""
    default = Path.home() / ".tfactory/cache/test-data" / folder / file
    path = Path(os.environ.get(env) or default)
    if not path.is_file():
        raise AssertionError(
            f"{path} is missing: run scripts/test, which fetches {package} with npm"
        )
    return json.loads(path.read_text())


def stryker_schema() -> dict:
    """Stryker's mutation-testing-report-schema, as published on npm."""
    return npm_schema(
        "TFACTORY_STRYKER_SCHEMA",
        "mutation-testing-report-schema-3.8.4",
        "package/src/mutation-testing-report-schema.json",
        "mutation-testing-report-schema",
    )


def sarif_schema() -> dict:
    """The SARIF 2.1.0 JSON schema, as Microsoft's SARIF multitool ships it on npm."""
    return npm_schema(
        "TFACTORY_SARIF_SCHEMA",
        "sarif-multitool-linux-5.7.0",
        "package/sarif-2.1.0.json",
        "@microsoft/sarif-multitool-linux",
    )


def start_example_task(example: dict, *, options: dict | None = None, sandbox: str | None = None):
    """The example's project and a task handed over for its feature branch, queued, with
    nothing run yet."""
    from tasks_app import services

    services.create_project("billable", example["repo"])
    payload = {
        "project_id": "billable",
        "spec_id": example["spec_id"],
        "branch": example["branch"],
        "base_ref": "main",
    }
    if options:
        payload["options"] = options
    return services.start_task(payload, enqueue=False, sandbox=sandbox)


@pytest.fixture
def remote(example, tmp_path) -> Path:
    """A bare repository standing in for the hosted one AIFactory pushed to."""
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "-q", "--bare", example["repo"], str(bare)], check=True)
    return bare


@contextmanager
def qcluster(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen]:
    """A real `manage.py qcluster` worker process (env: what it needs to share the test's
    database and home), stopped with its whole process group at the end."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "qcluster"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            stop_process_group(proc)


def stop_process_group(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
