"""`manage.py mcp_serve` driven as Claude Code drives it: a subprocess spoken to over stdio
by the real MCP SDK client, against the test's own database and TFactory home."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tasks_app.models import Task
from tests.conftest import ROOT, qcluster, stop_process_group

pytestmark = pytest.mark.django_db(transaction=True)

TOOLS = {
    "task_create_and_run": ["branch", "project_id", "spec_id"],
    "task_status": ["task_id"],
    "task_list": [],
    "project_list": [],
    "project_create": ["project_id"],
    "report_get": ["task_id"],
    "task_rerun": ["lane", "task_id"],
}


@pytest.fixture
def server_env(tf_home) -> dict[str, str]:
    """What the server process needs to share this test's database and home."""
    return {
        "TFACTORY_HOME": str(tf_home),
        "TFACTORY_CACHE_DIR": str(settings.TFACTORY_CACHE_DIR),
        "TFACTORY_DB_PATH": str(connection.settings_dict["NAME"]),
        "TFACTORY_AIFACTORY_ROOT": str(settings.TFACTORY_AIFACTORY_ROOT),
        "SECRET_KEY": settings.SECRET_KEY,
    }


def serve(env: dict[str, str], body: Callable[[Client], Awaitable[Any]]) -> Any:
    """Start `manage.py mcp_serve`, run `body` with a connected client, stop the server."""
    params = StdioServerParameters(
        command=sys.executable, args=[str(ROOT / "manage.py"), "mcp_serve"], env=env, cwd=ROOT
    )

    async def run() -> Any:
        async with Client(params, read_timeout_seconds=60) as client:
            return await body(client)

    return asyncio.run(run())


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def refused(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    (content,) = result.content
    return content.text


def count_tasks() -> int:
    """For a test body running in the event loop: the ORM in a thread of its own."""
    try:
        return Task.objects.count()
    finally:
        connection.close()


def handover(example: dict, **extra: Any) -> dict[str, Any]:
    return {
        "project_id": "billable",
        "spec_id": example["spec_id"],
        "branch": example["branch"],
        "base_ref": "main",
        **extra,
    }


def test_every_tool_is_listed_with_a_description_and_its_schema(server_env):
    async def body(client: Client):
        return (await client.list_tools()).tools

    tools = {t.name: t for t in serve(server_env, body)}
    assert set(tools) == set(TOOLS)
    for name, required in TOOLS.items():
        tool = tools[name]
        assert len(tool.description) > 80, name
        assert tool.input_schema["type"] == "object"
        assert sorted(tool.input_schema.get("required", [])) == required, name
        for prop, schema in tool.input_schema["properties"].items():
            assert schema.get("description"), f"{name}.{prop} has no description"
    create = tools["task_create_and_run"].input_schema
    assert create["properties"]["spec_format"]["enum"] == ["markdown", "gherkin", "ears"]
    assert "spec_file" not in create["properties"]  # MCP callers send the text
    options = create["$defs"]["HandoverOptions"]
    assert options["additionalProperties"] is False
    assert {"minimum": 5, "maximum": 3600, "type": "integer"}.items() <= (
        options["properties"]["engine_budget_s"]["anyOf"][0].items()
    )
    assert tools["task_rerun"].input_schema["properties"]["lane"]["enum"] == [
        "functional",
        "mutation",
        "sast",
        "deps",
        "secrets",
    ]
    limit = tools["task_list"].input_schema["properties"]["limit"]
    assert (limit["minimum"], limit["maximum"]) == (1, 200)
    assert tools["task_status"].annotations.read_only_hint is True


def test_preview_writes_nothing_and_confirm_queues_the_task(server_env, example):
    async def body(client: Client) -> dict[str, Any]:
        r: dict[str, Any] = {}
        r["project"] = await call(
            client, "project_create", project_id="billable", repo_path=example["repo"]
        )
        r["projects"] = await call(client, "project_list")
        r["preview"] = await call(client, "task_create_and_run", **handover(example))
        r["tasks_after_preview"] = await asyncio.to_thread(count_tasks)
        r["folder_after_preview"] = Path(r["preview"]["spec_folder"]).exists()
        r["created"] = await call(client, "task_create_and_run", **handover(example), confirm=True)
        r["again"] = await refused(client, "task_create_and_run", **handover(example), confirm=True)
        task_id = r["created"]["task_id"]
        r["status"] = await call(client, "task_status", task_id=task_id)
        r["listed"] = await call(client, "task_list", project_id="billable", status="pending")
        r["no_report"] = await refused(client, "report_get", task_id=task_id)
        r["busy"] = await refused(client, "task_rerun", task_id=task_id, lane="functional")
        return r

    r = serve(server_env, body)
    assert r["project"]["project_id"] == "billable"
    assert r["project"]["repo_path"] == str(Path(example["repo"]).resolve())
    assert [p["project_id"] for p in r["projects"]["projects"]] == ["billable"]

    preview = r["preview"]
    assert preview["created"] is False
    assert r["tasks_after_preview"] == 0 and not r["folder_after_preview"]
    assert preview["spec"]["source"] == "aifactory"
    assert preview["spec"]["criteria"][0]["id"] == "AC1" and preview["spec"]["criteria"][0]["text"]
    assert preview["changed_files"] and all(f["path"] for f in preview["changed_files"])
    assert preview["branch"] == example["branch"] and len(preview["head_sha"]) == 40

    task, created = Task.objects.get(), r["created"]
    assert created["created"] is True
    assert created["task_id"] == task.pk and created["status"] == "pending"
    assert created["spec_folder"] == task.workspace == preview["spec_folder"]
    assert Path(task.workspace, "task.md").is_file()
    assert created["portal_url"].endswith(f"/tasks/{task.pk}/")
    assert isinstance(created["created_at"], str) and "T" in created["created_at"]  # ISO
    assert task.queued_stage == "planning"  # queued for a worker; nothing ran in the call
    assert r["again"].startswith(f"spec_id: task {task.pk} for billable/")
    assert "is still pending" in r["again"]

    status = r["status"]
    assert status["status"] == "pending"
    assert any(e["message"].startswith("task created for") for e in status["events"])
    assert status["next_after"] == status["events"][-1]["id"]
    assert r["listed"]["total"] == 1 and r["listed"]["tasks"][0]["task_id"] == task.pk
    assert r["no_report"] == (
        f"task_id: task {task.pk} has no report yet (it is still pending); "
        "reports are written when the triager finishes"
    )
    assert r["busy"] == f"task {task.pk} is still pending; rerun it when it ends"


def test_refusals_are_tool_errors_with_a_sentence(server_env, example):
    async def body(client: Client):
        await call(client, "project_create", project_id="billable", repo_path=example["repo"])
        return [
            await refused(client, "task_status", task_id=999999),
            await refused(client, "task_status", task_id="abc"),
            await refused(client, "report_get", task_id=999999, format="md"),
            await refused(
                client, "task_create_and_run", **{**handover(example), "project_id": "nobody"}
            ),
            await refused(
                client, "task_create_and_run", **handover(example, branch="feature/nope")
            ),
            await refused(client, "task_create_and_run", **handover(example, options={"turbo": 1})),
            await refused(client, "task_rerun", task_id=1, lane="speed"),
            await refused(client, "task_list", project_id="nobody"),
            await refused(
                client, "project_create", project_id="billable", repo_path=example["repo"]
            ),
            await refused(client, "project_create", project_id="other", repo_path="/nonexistent"),
        ]

    texts = serve(server_env, body)
    repo = str(Path(example["repo"]).resolve())
    assert texts == [
        "task_id: no task with id 999999",
        "task_id: Input should be a valid integer, unable to parse string as an integer "
        "(got 'abc')",
        "task_id: no task with id 999999",
        "project_id: unknown project 'nobody'; register it first (the project_create "
        "tool, POST /api/projects/, or manage.py tfactory_run --repo PATH)",
        f"branch: branch 'feature/nope' does not exist in {repo!r}",
        "options.turbo: Extra inputs are not permitted (got 1)",
        "lane: Input should be 'functional', 'mutation', 'sast', 'deps' or 'secrets' (got 'speed')",
        "project_id: unknown project 'nobody'",
        "project_id: project 'billable' already exists",
        "repo_path: repository path '/nonexistent' does not exist",
    ]
    assert Task.objects.count() == 0


@pytest.mark.timeout(60)
def test_stdout_carries_nothing_but_json_rpc(server_env):
    """Raw pipes, no SDK client: every line the server writes to stdout is a JSON-RPC
    message, including around a refused call (whose log line goes to stderr)."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "mcp_serve"],
        cwd=ROOT,
        env={**os.environ, **server_env, "TFACTORY_LOG_LEVEL": "INFO"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    requests = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "task_status", "arguments": {"task_id": 999999}},
        },
    ]
    answers = {}
    try:
        for request in requests:
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
            if "id" in request:
                line = proc.stdout.readline()
                message = json.loads(line)
                assert message["jsonrpc"] == "2.0" and message["id"] == request["id"], line
                answers[request["id"]] = message
        out, err = proc.communicate(timeout=30)  # closes stdin: the server exits
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    for line in out.splitlines():
        assert json.loads(line)["jsonrpc"] == "2.0", line
    assert answers[1]["result"]["serverInfo"]["name"] == "tfactory"
    assert len(answers[2]["result"]["tools"]) == len(TOOLS)
    assert answers[3]["result"]["isError"] is True
    assert "no task with id 999999" in err  # the refusal is logged, on stderr


@pytest.mark.slow
def test_a_worker_runs_the_handover_to_a_report(server_env, example, tmp_path):
    """The skill's whole path: register, hand over, poll task_status while a real
    `manage.py qcluster` runs the stages, read the report, queue a lane's rerun."""
    spec = (
        "# Spec\n\n## Acceptance Criteria\n\n"
        "### AC#1\n`normalize_code` upper-cases and strips codes.\n"
    )
    worker_env = {**server_env, "TFACTORY_HEARTBEAT_S": "2", "TFACTORY_WORKERS": "1"}

    async def body(client: Client):
        await call(client, "project_create", project_id="billable", repo_path=example["repo"])
        created = await call(
            client,
            "task_create_and_run",
            project_id="billable",
            spec_id="mcp-run",
            branch=example["branch"],
            spec_text=spec,
            options={"engine_budget_s": 5, "lane_budget_s": 60, "mutation": False},
            confirm=True,
        )
        task_id, after, seen = created["task_id"], 0, []
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            status = await call(client, "task_status", task_id=task_id, after_event=after)
            seen += [e["message"] for e in status["events"]]
            after = status["next_after"]
            if status["status"] in ("done", "failed", "cancelled") and not status["has_more"]:
                break
            await asyncio.sleep(1)
        md = await client.call_tool("report_get", {"task_id": task_id, "format": "md"})
        report = await call(client, "report_get", task_id=task_id, format="json")
        await asyncio.to_thread(stop_process_group, worker)  # the rerun is only queued
        rerun = await call(client, "task_rerun", task_id=task_id, lane="functional")
        latest = await call(client, "task_status", task_id=task_id, events=1)
        return status, seen, md, report, rerun, latest

    with qcluster(worker_env, tmp_path / "qcluster.log") as worker:
        status, seen, md, report, rerun, latest = serve(server_env, body)
    log_tail = (tmp_path / "qcluster.log").read_text()[-3000:]
    assert status["status"] == "done", (status["error"], log_tail)
    assert any(m.startswith("task created for") for m in seen)
    assert any(m.endswith(" started") for m in seen)  # progress reached the poller
    assert not md.is_error and md.content[0].text.startswith("#")
    assert md.structured_content["format"] == "md"
    assert report["format"] == "json" and isinstance(report["report"], dict)
    assert report["report"] == json.loads(Path(status["report"]).read_text())
    assert rerun["status"] == "pending" and rerun["task_id"] == status["task_id"]
    assert [e["message"] for e in latest["events"]] == ["rerun of lane functional requested"]
    assert Task.objects.get(pk=status["task_id"]).queued_stage == "generating"
