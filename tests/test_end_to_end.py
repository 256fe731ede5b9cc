"""The whole handover on the real offline engines: the CLI in the foreground, and the
same task run by a real django-q2 worker process on the ORM broker."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from tasks_app import services
from tasks_app.models import Project, Task
from tests.conftest import git, qcluster

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_the_cli_runs_a_handover_to_a_report(example, capsys):
    repo = Path(example["repo"])
    call_command(
        "tfactory_run",
        "--project", "billable",
        "--repo", str(repo),
        "--spec", example["spec_id"],
        "--branch", example["branch"],
        "--base", "main",
        "--engine-budget", "20",
    )  # fmt: skip
    out, err = capsys.readouterr()
    task = Task.objects.get()
    assert task.status == Task.Status.DONE, task.error
    assert f"task {task.pk}: done" in out and "report.md" in out
    assert "mutation score: " in out
    assert "[generating]" in err and "pynguin" in err and "crosshair" in err

    report = json.loads((Path(task.workspace) / "report.json").read_text())
    accepted = [t for t in report["tests"] if t["verdict"] == "accept"]
    engines = {t["engine"] for t in accepted}
    assert len(accepted) >= 5, [t["reasons"] for t in report["tests"]]
    assert engines == {"pynguin", "crosshair"} or len(engines) >= 1
    cov = report["coverage"]
    assert cov["after"]["line_pct"] > cov["before"]["line_pct"]
    assert cov["after"]["line_pct"] >= 80.0
    assert all(t["runs"]["passed"] == 3 for t in accepted)
    assert any(c["status"] == "verified" for c in report["criteria"])
    # the security lanes ran beside the tests: the clean branch has no findings
    for lane in ("sast", "deps", "secrets"):
        assert report["lanes"][lane]["status"] == "done", report["lanes"][lane]
    assert report["findings"] == [] and "findings: none" in out
    # the mutation lane ran on the example: the kept tests raise the changed lines' score
    mut = report["mutation"]
    assert report["lanes"]["mutation"]["status"] == "done"
    assert mut["after"]["score"] > mut["before"]["score"]
    assert all(isinstance(t["mutants_killed"], int) and t["mutants_killed"] > 0 for t in accepted)
    # the accepted tests, as delivered, pass against the branch on their own
    accepted_dir = Path(task.workspace) / "tests" / "functional" / "accepted"
    assert sorted(p.name for p in accepted_dir.glob("*.py"))
    # delivered: the accepted tests committed on the feature branch (no remote, no PR)
    delivery = report["delivery"]
    assert delivery["committed"] is True, delivery
    assert git(repo, "rev-parse", example["branch"]).strip() == delivery["commit_sha"]
    committed = git(repo, "show", "--name-only", "--format=", delivery["commit_sha"]).split()
    assert sorted(Path(f).name for f in committed) == sorted(
        p.name for p in accepted_dir.glob("*.py")
    )
    assert "delivery: Commit: " in out
    # the user's checkout was never touched and the worktree is gone
    assert git(repo, "branch", "--show-current").strip() == "main"
    assert git(repo, "status", "--porcelain") == ""
    assert len(git(repo, "worktree", "list").strip().splitlines()) == 1


def test_the_cli_reports_bad_input_and_exits_non_zero(example, tmp_path):
    with pytest.raises(CommandError, match="branch 'feature/missing' does not exist"):
        call_command(
            "tfactory_run",
            "--project", "billable",
            "--repo", example["repo"],
            "--spec", example["spec_id"],
            "--branch", "feature/missing",
        )  # fmt: skip
    assert Task.objects.count() == 0
    with pytest.raises(CommandError, match="unknown project 'nobody'"):
        call_command("tfactory_run", "--project", "nobody", "--spec", "s1", "--branch", "feature/x")
    for lanes in ("sast,fuzz", " , "):
        with pytest.raises(CommandError, match=r"--lanes: unknown lane\(s\) .*; lanes: functional"):
            call_command(
                "tfactory_run", "--project", "other", "--repo", example["repo"],
                "--spec", example["spec_id"], "--branch", example["branch"], "--lanes", lanes,
            )  # fmt: skip
    # refused before the project is registered
    assert not Project.objects.filter(pk="other").exists() and Task.objects.count() == 0
    # a project registered for another checkout is not moved by --repo
    services.create_project("elsewhere", example["repo"])
    with pytest.raises(CommandError, match="already points at .*; use another project id"):
        call_command(
            "tfactory_run", "--project", "elsewhere", "--repo", str(tmp_path),
            "--spec", example["spec_id"], "--branch", example["branch"],
        )  # fmt: skip
    assert Project.objects.get(pk="elsewhere").repo_path == str(Path(example["repo"]).resolve())
    assert Task.objects.count() == 0


def test_a_worker_process_runs_the_queued_stages(example, tf_home, tmp_path):
    """A real `manage.py qcluster` against the same SQLite database runs every stage."""
    services.create_project("billable", example["repo"])
    spec = (
        "# Spec\n\n## Acceptance Criteria\n\n"
        "### AC#1\n`normalize_code` upper-cases and strips codes.\n"
    )
    task = services.start_task(
        {
            "project_id": "billable",
            "spec_id": "worker-run",
            "branch": example["branch"],
            "base_ref": "main",
            "spec_text": spec,
            "options": {"engine_budget_s": 5, "lane_budget_s": 60},
        }
    )  # enqueued through django-q2's ORM broker on commit
    db_path = connection.settings_dict["NAME"]
    env = dict(
        os.environ,
        TFACTORY_HOME=str(tf_home),
        TFACTORY_CACHE_DIR=str(settings.TFACTORY_CACHE_DIR),
        TFACTORY_DB_PATH=str(db_path),
        TFACTORY_HEARTBEAT_S="2",
        TFACTORY_WORKERS="1",
        SECRET_KEY=settings.SECRET_KEY,  # django-q2 signs queued jobs with it
    )
    with qcluster(env, tmp_path / "qcluster.log"):
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            task.refresh_from_db()
            if task.is_terminal:
                break
            time.sleep(1)
    assert task.status == Task.Status.DONE, (
        task.error,
        (tmp_path / "qcluster.log").read_text()[-3000:],
    )
    stages = list(
        task.events.filter(kind="status", message__endswith=" started").values_list(
            "stage", flat=True
        )
    )
    assert stages == ["planning", "generating", "running", "evaluating", "triaging", "delivering"]
    assert (Path(task.workspace) / "report.json").exists()
