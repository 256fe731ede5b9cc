"""The API keeps its OpenAPI schema: schemathesis generates requests for every operation
(valid and invalid ones, plus the schema's own examples) and sends them in-process through
Django's WSGI app; no answer may be a 5xx, and every answer's status and body must be the
ones the schema documents."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from findings_app import store
from findings_app.record import RawFinding
from tasks_app import services
from tasks_app.models import SLUG_RE
from tests.test_api import make_token

pytestmark = pytest.mark.django_db

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]

# Loaded at collection (the schema view needs no database), not through
# schemathesis.pytest.from_fixture: its lazy loader sets Function._nodeid, which pytest 9
# no longer has.
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@dataclass
class State:
    token: str
    task_id: int
    finding_id: int


@pytest.fixture
def api_state(example, monkeypatch, tmp_path, settings):
    """The example project and an ended task (events, a report, a test plan to rerun) for
    the requests to find."""
    # The WSGI app runs in this thread, inside the test's transaction; Django closes
    # "obsolete" connections at each request's start and end, which inside a transaction
    # poisons it. Django's own test client switches this off the same way.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)

    # generated git URLs never reach a network or the host's disk: every transport is
    # off, as an operator could set it; relative paths never resolve in here
    settings.TFACTORY_GIT_PROTOCOLS = []
    monkeypatch.chdir(tmp_path)

    services.create_project("billable", example["repo"])
    task = services.start_task(
        {"project_id": "billable", "spec_id": example["spec_id"], "branch": example["branch"]},
        enqueue=False,
    )
    services.cancel_task(task.pk)
    (Path(task.workspace) / "test_plan.json").write_text('{"phases": []}')
    # a finding of the task, as the dependency lane would record it
    [finding] = store.save(
        task,
        [
            RawFinding(
                lane="deps", tool="osv", rule_id="CVE-2020-14343", category="vulnerable-dependency",
                title="PyYAML 5.3.1: CVE-2020-14343", severity="medium", confidence="high",
                file="requirements.txt", line_start=1, line_end=1, component="PyYAML",
                component_version="5.3.1", fixed_versions=["5.4"],
                vulnerability_ids=["PYSEC-2021-142"],
                aliases=["CVE-2020-14343"], fingerprint="f" * 64, introduced=True,
            )
        ],
    )  # fmt: skip
    yield State(make_token("schemathesis", "--create-user"), task.pk, finding.pk)
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@hypothesis.settings(
    max_examples=20,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_keeps_its_schema(case, api_state):
    # Well-formed ids name the existing project and task, so the answers that carry data
    # (not only the 404s) are checked against the schema too; malformed ids stay as
    # generated.
    params = case.path_parameters or {}
    if isinstance(params.get("task_id"), int):
        params["task_id"] = api_state.task_id
    if isinstance(params.get("finding_id"), int):
        params["finding_id"] = api_state.finding_id
    if isinstance(params.get("project_id"), str) and SLUG_RE.match(params["project_id"]):
        params["project_id"] = "billable"
    case.call_and_validate(headers={"Authorization": f"Bearer {api_state.token}"}, checks=CHECKS)
