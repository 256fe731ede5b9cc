"""Handover intake: bad input changes nothing; good input lays out the task folder."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tasks_app import services
from tasks_app.core.workspace import Workspace
from tasks_app.models import Project, Task, TaskEvent
from tests.conftest import git

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(example) -> Project:
    return services.create_project("billable", example["repo"])


def handover(example: dict, **overrides) -> dict:
    payload = {
        "project_id": "billable",
        "spec_id": example["spec_id"],
        "branch": example["branch"],
        "base_ref": example["base_ref"],
    }
    payload.update(overrides)
    return payload


def assert_nothing_changed(example: dict, tf_home: Path) -> None:
    assert Task.objects.count() == 0
    assert TaskEvent.objects.count() == 0
    assert not (tf_home / "workspaces").exists() or not any((tf_home / "workspaces").rglob("*"))
    worktrees = git(Path(example["repo"]), "worktree", "list").strip().splitlines()
    assert len(worktrees) == 1, worktrees


@pytest.mark.parametrize(
    "field,value,needle",
    [
        ("project_id", "", "empty"),
        ("project_id", "a/b", "path separator"),
        ("project_id", "..", "'..'"),
        ("project_id", "../etc", "path separator"),
        ("spec_id", "x/../../y", "path separator"),
        ("spec_id", "..hidden", "'..'"),
        ("spec_id", "", "empty"),
        ("spec_id", "-rf", "not a slug"),
        ("spec_id", "a b", "not a slug"),
        ("branch", "", "empty"),
        ("branch", "--upload-pack=evil", "starts with '-'"),
        ("branch", "feature/../x", "not a valid git ref"),
        ("base_ref", "main~1 x", "not a valid git ref"),
    ],
)
def test_it_rejects_bad_ids_and_refs(project, example, tf_home, field, value, needle):
    with pytest.raises(services.HandoverError) as err:
        services.start_task(handover(example, **{field: value}), enqueue=False)
    assert needle in str(err.value)
    assert err.value.field == field
    assert_nothing_changed(example, tf_home)


def test_it_rejects_a_payload_that_is_not_an_object(project, example, tf_home):
    for payload in (["billable"], "billable", None):
        with pytest.raises(services.HandoverError, match="JSON object"):
            services.start_task(payload, enqueue=False)
    assert_nothing_changed(example, tf_home)


def test_it_names_missing_and_unknown_fields(project, example, tf_home):
    payload = handover(example)
    del payload["branch"]
    with pytest.raises(services.HandoverError, match="needs 'branch'"):
        services.start_task(payload, enqueue=False)
    with pytest.raises(services.HandoverError, match="unknown field.*colour"):
        services.start_task(handover(example, colour="blue"), enqueue=False)
    with pytest.raises(services.HandoverError, match="'branch' must be a string"):
        services.start_task(handover(example, branch=3), enqueue=False)
    assert_nothing_changed(example, tf_home)


def test_it_rejects_an_unknown_project(example, tf_home):
    with pytest.raises(services.HandoverError, match="unknown project 'billable'"):
        services.start_task(handover(example), enqueue=False)
    assert_nothing_changed(example, tf_home)


def test_it_rejects_a_project_whose_repository_is_gone(project, example, tf_home, tmp_path):
    Project.objects.filter(pk="billable").update(repo_path=str(tmp_path / "nowhere"))
    with pytest.raises(services.HandoverError, match="does not exist"):
        services.start_task(handover(example), enqueue=False)
    assert Task.objects.count() == 0


def test_create_project_checks_the_repository(tmp_path):
    with pytest.raises(services.HandoverError, match="does not exist"):
        services.create_project("p1", tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(services.HandoverError, match="not a git repository"):
        services.create_project("p1", tmp_path / "plain")
    with pytest.raises(services.HandoverError, match="path separator"):
        services.create_project("../p1", tmp_path / "plain")
    assert Project.objects.count() == 0


def test_it_rejects_a_missing_branch(project, example, tf_home):
    with pytest.raises(services.HandoverError, match="branch 'feature/nope' does not exist"):
        services.start_task(handover(example, branch="feature/nope"), enqueue=False)
    assert_nothing_changed(example, tf_home)


def test_it_rejects_a_missing_base_ref(project, example, tf_home):
    with pytest.raises(services.HandoverError, match="base ref 'develop' does not exist"):
        services.start_task(handover(example, base_ref="develop"), enqueue=False)
    assert_nothing_changed(example, tf_home)


def test_it_rejects_a_branch_with_nothing_new(project, example, tf_home):
    with pytest.raises(services.HandoverError, match="no commits beyond"):
        services.start_task(handover(example, branch="main"), enqueue=False)
    assert_nothing_changed(example, tf_home)


def test_it_rejects_a_missing_spec_folder(project, example, tf_home):
    with pytest.raises(services.HandoverError, match="no AIFactory spec folder"):
        services.start_task(handover(example, spec_id="999-unknown"), enqueue=False)
    assert_nothing_changed(example, tf_home)


def test_it_rejects_a_spec_folder_without_spec_md(project, example, tf_home):
    (Path(example["spec_dir"]) / "spec.md").unlink()
    with pytest.raises(services.HandoverError, match="has no spec.md"):
        services.start_task(handover(example), enqueue=False)
    assert_nothing_changed(example, tf_home)


def test_it_rejects_a_spec_that_is_not_utf8(project, example, tf_home):
    (Path(example["spec_dir"]) / "spec.md").write_bytes(b"# Spec\n\xff\xfe broken")
    with pytest.raises(services.HandoverError, match="not UTF-8"):
        services.start_task(handover(example), enqueue=False)
    assert_nothing_changed(example, tf_home)


def test_it_rejects_a_malformed_implementation_plan(project, example, tf_home):
    plan = Path(example["spec_dir"]) / "implementation_plan.json"
    plan.write_text('{"feature": "x", "phases": [\n  {"id": 1,}\n]}')
    with pytest.raises(services.HandoverError) as err:
        services.start_task(handover(example), enqueue=False)
    assert "implementation_plan.json" in str(err.value)
    assert "line 2" in str(err.value)
    assert_nothing_changed(example, tf_home)


def test_it_rejects_an_implementation_plan_of_the_wrong_shape(project, example, tf_home):
    plan = Path(example["spec_dir"]) / "implementation_plan.json"
    plan.write_text('["not", "an", "object"]')
    with pytest.raises(services.HandoverError, match="implementation_plan.json"):
        services.start_task(handover(example), enqueue=False)
    assert_nothing_changed(example, tf_home)


def test_it_rejects_an_unreadable_implementation_plan(project, example, tf_home):
    plan = Path(example["spec_dir"]) / "implementation_plan.json"
    plan.unlink()
    plan.mkdir()  # unreadable as a file even for root
    with pytest.raises(services.HandoverError, match="cannot read implementation_plan.json"):
        services.start_task(handover(example), enqueue=False)
    assert_nothing_changed(example, tf_home)


def test_it_rejects_a_missing_spec_file_and_empty_spec_text(project, example, tf_home, tmp_path):
    with pytest.raises(services.HandoverError, match="spec file .* does not exist"):
        services.start_task(
            handover(example, spec_file=str(tmp_path / "no.md")), enqueue=False, local=True
        )
    with pytest.raises(services.HandoverError, match="spec_text is empty"):
        services.start_task(handover(example, spec_text="  \n"), enqueue=False)
    with pytest.raises(services.HandoverError, match="not both"):
        services.start_task(
            handover(example, spec_text="x", spec_file=str(tmp_path / "no.md")),
            enqueue=False,
            local=True,
        )
    with pytest.raises(services.HandoverError, match="spec_format 'yaml'"):
        services.start_task(handover(example, spec_text="x", spec_format="yaml"), enqueue=False)
    assert_nothing_changed(example, tf_home)


def test_it_lays_out_the_task_folder(project, example, tf_home):
    repo = Path(example["repo"])
    head_before = git(repo, "rev-parse", "HEAD")
    status_before = git(repo, "status", "--porcelain")

    task = services.start_task(handover(example), enqueue=False)

    ws = Workspace(Path(task.workspace))
    assert ws.root == tf_home / "workspaces" / "billable" / "specs" / example["spec_id"]
    assert task.status == Task.Status.PENDING and task.queued_stage == "planning"
    assert task.head_sha == example["head_sha"]
    for name in ("aifactory_spec.md", "aifactory_plan.json", "requirements.json"):
        path = ws.context / name
        assert path.is_file(), name
        assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    spec_src = Path(example["spec_dir"]) / "spec.md"
    assert (ws.context / "aifactory_spec.md").read_text() == spec_src.read_text()

    source = json.loads((ws.context / "source.json").read_text())
    assert source["sha"] == example["head_sha"]
    assert source["branch"] == example["branch"]
    assert source["base_ref"] == "main"
    assert source["aifactory_spec_dir"] == example["spec_dir"]

    diff = (ws.context / "diff.patch").read_text()
    assert diff == git(repo, "diff", "--no-color", "-M", example["base_sha"], example["head_sha"])
    assert "discounts.py" in diff

    analysis = json.loads((ws.context / "project_analysis.json").read_text())
    assert analysis["primary_language"] == "python"
    assert analysis["test_framework"] == "pytest"
    assert "pyproject.toml" in analysis["dependency_files"]

    task_md = ws.task_md.read_text()
    assert example["head_sha"] in task_md and example["branch"] in task_md

    # the worktree is detached at the branch's commit; the user's checkout is untouched
    wt = Path(task.worktree)
    assert git(wt, "rev-parse", "HEAD").strip() == example["head_sha"]
    assert (wt / "src" / "billable" / "discounts.py").exists()
    assert git(repo, "rev-parse", "HEAD") == head_before
    assert git(repo, "status", "--porcelain") == status_before
    assert git(repo, "branch", "--show-current").strip() == "main"
    assert task.events.filter(kind="status").exists()


def test_a_second_handover_waits_for_the_first(project, example):
    services.start_task(handover(example), enqueue=False)
    with pytest.raises(services.HandoverError, match="still pending"):
        services.start_task(handover(example), enqueue=False)
    assert Task.objects.count() == 1


def test_a_new_run_archives_the_previous_folder(project, example, tf_home):
    first = services.start_task(handover(example), enqueue=False)
    services.cancel_task(first.pk)
    marker = Path(first.workspace) / "logs" / "marker.txt"
    marker.write_text("from the first run")
    second = services.start_task(handover(example), enqueue=False)
    archived = tf_home / "workspaces" / "billable" / "archive" / example["spec_id"]
    assert (archived / f"task-{first.pk}" / "logs" / "marker.txt").read_text() == (
        "from the first run"
    )
    assert not (Path(second.workspace) / "logs" / "marker.txt").exists()


def test_a_repository_without_aifactory_can_pass_a_spec_file(project, example, tmp_path):
    spec = tmp_path / "SPEC.md"
    spec.write_text("# Discounts\n\n## Acceptance Criteria\n\n- Codes are applied once.\n")
    task = services.start_task(
        handover(example, spec_id="local-spec", spec_file=str(spec)), enqueue=False, local=True
    )
    ws = Workspace(Path(task.workspace))
    assert task.spec_source == Task.SpecSource.FILE
    assert (ws.context / "aifactory_spec.md").read_text() == spec.read_text()
    assert not (ws.context / "aifactory_plan.json").exists()


def test_inline_spec_text_is_snapshotted(project, example):
    task = services.start_task(
        handover(
            example,
            spec_id="inline-1",
            spec_text="When a code is expired, the system shall reject it.",
            spec_format="ears",
        ),
        enqueue=False,
    )
    ws = Workspace(Path(task.workspace))
    assert "expired" in (ws.context / "aifactory_spec.md").read_text()
    source = json.loads((ws.context / "source.json").read_text())
    assert source["spec_source"] == "inline" and source["spec_format"] == "ears"


def test_cancel_of_a_queued_task_ends_it_with_a_report(project, example):
    task = services.start_task(handover(example), enqueue=False)
    task = services.cancel_task(task.pk)
    assert task.status == Task.Status.CANCELLED
    report = json.loads((Path(task.workspace) / "report.json").read_text())
    assert report["status"] == "cancelled"
    assert report["lanes"]["functional"]["status"] == "cancelled"
    # the worktree is released; the user's repository keeps only its own checkout
    assert len(git(Path(example["repo"]), "worktree", "list").strip().splitlines()) == 1
    with pytest.raises(services.HandoverError, match="already ended"):
        services.cancel_task(task.pk)


def test_services_reject_unknown_task_ids(db):
    with pytest.raises(services.HandoverError, match="no task with id 424242"):
        services.cancel_task(424242)
    with pytest.raises(services.HandoverError, match="not a number"):
        services.rerun_lane("../1", "functional")


def test_secret_values_never_reach_events(project, example, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-secret-value-123456")
    task = services.start_task(handover(example), enqueue=False)
    from tasks_app.core.events import emit_event

    emit_event(task, "calling with sk-ant-test-secret-value-123456 now")
    messages = " ".join(task.events.values_list("message", flat=True))
    assert "sk-ant-test-secret-value-123456" not in messages
    log_text = "".join(p.read_text() for p in (Path(task.workspace) / "logs").glob("*.log"))
    assert "sk-ant-test-secret-value-123456" not in log_text
    assert "redacted" in log_text
    assert os.environ["ANTHROPIC_API_KEY"]


def test_only_the_local_command_line_may_name_a_spec_file(project, example, tf_home):
    secret = tf_home / "secret_key"
    with pytest.raises(services.HandoverError, match="only from the local command line"):
        services.start_task(handover(example, spec_file=str(secret)), enqueue=False)
    assert_nothing_changed(example, tf_home)


@pytest.mark.parametrize(
    "options,needle",
    [
        ({"sandbox": "none"}, "unknown option 'sandbox'"),
        ({"eval_runs": 1}, "from 3 to 10"),
        ({"engine_budget_s": "60"}, "whole number"),
        ({"engine_budget_s": True}, "whole number"),
        ({"mutation": "no"}, "'mutation' must be true or false"),
        ({"mutation_max_mutants": 0}, "from 1 to 100000"),
        ("fast", "must be an object"),
    ],
)
def test_a_handover_cannot_turn_the_sandbox_off_or_weaken_the_checks(
    project, example, tf_home, options, needle
):
    with pytest.raises(services.HandoverError, match=needle):
        services.start_task(handover(example, options=options), enqueue=False)
    assert_nothing_changed(example, tf_home)


def test_the_operator_chooses_the_sandbox(project, example):
    with pytest.raises(services.HandoverError, match="sandbox 'off' is not one of"):
        services.start_task(handover(example), enqueue=False, sandbox="off")
    task = services.start_task(
        handover(example, options={"engine_budget_s": 30}), enqueue=False, sandbox="bwrap"
    )
    assert task.options == {"engine_budget_s": 30, "sandbox": "bwrap"}


def test_a_handover_may_switch_the_mutation_lane_off(project, example):
    task = services.start_task(
        handover(example, options={"mutation": False, "mutation_budget_s": 60}), enqueue=False
    )
    assert task.options["mutation"] is False and task.options["mutation_budget_s"] == 60
    # the lanes that will run; the mutation lane is marked skipped when its stage comes
    assert set(task.lanes) == {"functional", "sast", "deps", "secrets"}


def test_a_git_hook_of_the_branch_never_runs(project, example, tf_home, monkeypatch):
    """core.hooksPath pointing into the tree (husky style) must not run on the host."""
    repo = Path(example["repo"])
    marker = tf_home / "hook-ran"
    hooks = repo / ".hooks"
    hooks.mkdir()
    hook = hooks / "post-checkout"
    hook.write_text(f"#!/bin/sh\necho ran > {marker}\n")
    hook.chmod(0o755)
    git(repo, "config", "core.hooksPath", ".hooks")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-hook-should-never-see-this-0000")
    services.start_task(handover(example), enqueue=False)
    assert not marker.exists()


def test_a_diff_that_is_not_utf8_is_taken_as_it_is(project, example):
    repo = Path(example["repo"])
    git(repo, "checkout", "-q", example["branch"])
    (repo / "src" / "billable" / "legacy.py").write_bytes(
        b"# -*- coding: latin-1 -*-\nNAME = '\xe9t\xe9'\n\n\ndef f(x: int) -> int:\n    return x\n"
    )
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "latin-1")
    git(repo, "checkout", "-q", "main")
    task = services.start_task(handover(example), enqueue=False)
    diff = (Path(task.workspace) / "context" / "diff.patch").read_bytes()
    assert b"\xe9t\xe9" in diff
