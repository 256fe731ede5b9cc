"""`manage.py install_skill` into temporary repositories and a temporary home."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tests.conftest import ROOT

SKILL = ROOT / "skills" / "handover-to-tfactory" / "SKILL.md"


def install(*args: str) -> str:
    out = StringIO()
    call_command("install_skill", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def repo(tmp_path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    return path


def test_a_repository_gets_the_skill_and_the_server(repo, tf_home, monkeypatch):
    # secrets in the installer's environment never reach the file
    monkeypatch.setenv("SECRET_KEY", "do-not-write-me")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-do-not-write-me")
    monkeypatch.setenv("TFACTORY_PUBLIC_URL", "https://tfactory.example")
    install("--repo", str(repo))
    installed = repo / ".claude" / "skills" / "handover-to-tfactory" / "SKILL.md"
    assert installed.read_text() == SKILL.read_text()
    text = (repo / ".mcp.json").read_text()
    assert "do-not-write-me" not in text
    assert json.loads(text) == {
        "mcpServers": {
            "tfactory": {
                "type": "stdio",
                "command": os.path.abspath(sys.executable),
                "args": [str(ROOT / "manage.py"), "mcp_serve"],
                "env": {
                    "TFACTORY_HOME": str(tf_home),
                    "TFACTORY_PUBLIC_URL": "https://tfactory.example",
                },
            }
        }
    }


def test_the_installed_entry_starts_the_server(repo):
    install("--repo", str(repo))
    entry = json.loads((repo / ".mcp.json").read_text())["mcpServers"]["tfactory"]
    params = StdioServerParameters(command=entry["command"], args=entry["args"], env=entry["env"])

    async def tools() -> set[str]:
        async with Client(params, read_timeout_seconds=60) as client:
            return {t.name for t in (await client.list_tools()).tools}

    names = asyncio.run(tools())
    assert "task_create_and_run" in names and len(names) == 7
    # the skill pre-approves exactly the tools the server has
    front = SKILL.read_text().split("---")[1]
    (allowed,) = [line for line in front.splitlines() if line.startswith("allowed-tools:")]
    assert {t.removeprefix("mcp__tfactory__") for t in allowed.split() if "mcp__" in t} == names


def test_a_merge_keeps_other_servers_and_keys(repo):
    before = {
        "mcpServers": {
            "other": {"command": "npx", "args": ["-y", "other-server"]},
            "tfactory": {"command": "/old/python", "args": ["/old/manage.py", "mcp_serve"]},
        },
        "someSetting": True,
    }
    (repo / ".mcp.json").write_text(json.dumps(before))
    install("--repo", str(repo))
    after = json.loads((repo / ".mcp.json").read_text())
    assert after["someSetting"] is True
    assert after["mcpServers"]["other"] == before["mcpServers"]["other"]
    assert after["mcpServers"]["tfactory"]["args"] == [str(ROOT / "manage.py"), "mcp_serve"]
    assert list(after["mcpServers"]) == ["other", "tfactory"]


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"mcpServers": []}'])
def test_a_config_it_cannot_merge_is_refused_and_left_unchanged(repo, content):
    (repo / ".mcp.json").write_text(content)
    with pytest.raises(CommandError, match="left unchanged"):
        install("--repo", str(repo))
    assert (repo / ".mcp.json").read_text() == content
    assert not (repo / ".claude").exists()  # nothing half-installed


def test_a_second_run_changes_nothing(repo):
    install("--repo", str(repo))
    config = repo / ".mcp.json"
    stamp = config.stat().st_mtime_ns
    out = install("--repo", str(repo))
    assert "is up to date" in out and "server in" in out and "Restart" not in out
    assert config.stat().st_mtime_ns == stamp
    names = sorted(p.name for p in repo.rglob("*"))  # no temporary files left behind
    assert names == [".claude", ".mcp.json", "SKILL.md", "handover-to-tfactory", "skills"]


def test_a_dry_run_writes_nothing(repo):
    out = install("--repo", str(repo), "--dry-run")
    assert "would write" in out and '"tfactory"' in out and "mcp_serve" in out
    assert list(repo.iterdir()) == []


def test_the_user_install_goes_to_the_home_claude_config(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    claude_json = home / ".claude.json"
    claude_json.write_text(
        json.dumps({"numStartups": 3, "projects": {"/x": {"allowedTools": []}}, "mcpServers": {}})
    )
    claude_json.chmod(0o600)
    out = install("--user", "--dry-run")
    assert "numStartups" not in out  # the rest of the user's file is not shown
    install("--user")
    assert (home / ".claude" / "skills" / "handover-to-tfactory" / "SKILL.md").is_file()
    data = json.loads(claude_json.read_text())
    assert data["numStartups"] == 3 and data["projects"] == {"/x": {"allowedTools": []}}
    assert data["mcpServers"]["tfactory"]["args"][-1] == "mcp_serve"
    assert claude_json.stat().st_mode & 0o777 == 0o600


def test_the_example_has_the_installed_shape(repo):
    install("--repo", str(repo))
    entry = json.loads((repo / ".mcp.json").read_text())["mcpServers"]["tfactory"]
    example = json.loads((ROOT / "skills" / "mcp.json.example").read_text())
    sample = example["mcpServers"]["tfactory"]
    assert sample.keys() == entry.keys() and sample["args"][-1] == "mcp_serve"
    assert list(sample["env"]) == ["TFACTORY_HOME"]
