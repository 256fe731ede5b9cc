"""Delivery with real git: a bare repository as the remote, a clone of it as the user's
checkout (on another branch, and left untouched), the accepted tests committed on the
feature branch and pushed; the branch that moved, the push the remote refuses, the dry
run; and the pipeline going through its delivering stage."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from tasks_app import services
from tasks_app.models import Project, Task
from tests.conftest import git
from tests.delivery_support import (
    ACCEPTED_SOURCE,
    finish,
    hand_over,
    plant_and_queue_triage,
    report_of,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def user_checkout(example, remote, tmp_path, settings) -> Path:
    """The user's own clone of the remote: on main, the feature branch a local branch."""
    settings.TFACTORY_GIT_PROTOCOLS = ["https", "ssh", "file"]
    clone = tmp_path / "user"
    subprocess.run(["git", "clone", "-q", str(remote), str(clone)], check=True)
    git(clone, "branch", "-q", "--track", example["branch"], f"origin/{example['branch']}")
    return clone


@pytest.fixture
def project(user_checkout) -> Project:
    services.create_project("billable", user_checkout)
    Project.objects.filter(pk="billable").update(push_remote="origin")
    return Project.objects.get(pk="billable")


def state_of(checkout: Path) -> dict:
    """What the user would notice: HEAD, its branch, the index file, the status."""
    return {
        "head": git(checkout, "rev-parse", "HEAD"),
        "symbolic": git(checkout, "symbolic-ref", "-q", "HEAD"),
        "index": hashlib.sha256((checkout / ".git" / "index").read_bytes()).hexdigest(),
        "files": sorted(
            str(p.relative_to(checkout)) for p in checkout.rglob("*") if ".git" not in p.parts
        ),
    }


def tip(repo: Path, branch: str) -> str:
    return git(repo, "rev-parse", f"refs/heads/{branch}").strip()


def warnings(task: Task) -> list[str]:
    return list(task.events.filter(level="warning").values_list("message", flat=True))


def test_the_tests_are_committed_and_pushed_and_the_users_checkout_is_untouched(
    example, remote, user_checkout, project, settings
):
    settings.TFACTORY_COMMIT_AUTHOR_NAME = "TFactory CI"
    Project.objects.filter(pk="billable").update(commit_author_email="qa@acme.example")
    before = state_of(user_checkout)
    branch, spec = example["branch"], example["spec_id"]

    task = finish(plant_and_queue_triage(hand_over(example)))

    assert task.status == Task.Status.DONE, task.error
    d = report_of(task)["delivery"]
    assert d["committed"] is True and d["pushed"] is True, d
    assert d["push_error"] is None and d["branch"] == branch
    assert d["test_dir"] == f"tests/tfactory/{spec}"
    sha = d["commit_sha"]
    # the commit is on the feature branch, locally and on the remote
    assert tip(user_checkout, branch) == sha
    assert tip(remote, branch) == sha
    log = git(remote, "log", "-1", "--format=%s%n%an <%ae>%n%cn <%ce>%n%P", sha).splitlines()
    assert log == [
        f"tfactory: tests for {spec}",
        "TFactory CI <qa@acme.example>",
        "TFactory CI <qa@acme.example>",
        example["head_sha"],
    ]
    changed = git(remote, "show", "--name-only", "--format=", sha).split()
    assert changed == [f"tests/tfactory/{spec}/test_planted.py"]
    assert git(remote, "show", f"{sha}:tests/tfactory/{spec}/test_planted.py") == ACCEPTED_SOURCE
    # the user's checkout: same HEAD on the same branch, same index, same files, clean
    assert state_of(user_checkout) == before
    assert git(user_checkout, "status", "--porcelain") == ""
    assert git(user_checkout, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    # events say what happened
    messages = list(task.events.filter(stage="delivering").values_list("message", flat=True))
    assert any(f"committed {sha[:10]} on {branch}" in m for m in messages), messages
    assert any(f"pushed {sha[:10]}" in m for m in messages), messages
    assert warnings(task) == []
    md = (Path(task.workspace) / "report.md").read_text()
    assert "## Delivery" in md and f"Commit: {sha[:10]} on {branch}" in md
    # the commit as a patch is kept beside the report
    assert (Path(task.workspace) / "delivery" / "tests.patch").read_text().startswith(f"From {sha}")


def test_a_project_tfactory_cloned_pushes_to_its_origin(example, remote, settings):
    settings.TFACTORY_GIT_PROTOCOLS = ["file"]
    task = services.ingest_spec(
        {
            "project_id": "billable",
            "spec_id": example["spec_id"],
            "spec_text": "## Acceptance Criteria\n\n### AC#1\n`normalize_code` checks codes.\n",
            "format": "markdown",
            "git_url": f"file://{remote}",
            "source_branch": example["branch"],
        },
        enqueue=False,
    )
    task = finish(plant_and_queue_triage(task))
    assert task.status == Task.Status.DONE, task.error
    d = report_of(task)["delivery"]
    assert d["committed"] and d["pushed"], d
    assert d["push_remote"] == f"origin (file://{remote})"
    assert tip(remote, example["branch"]) == d["commit_sha"]


def test_a_branch_that_moved_gets_no_commit_and_the_report_says_so(
    example, remote, user_checkout, project
):
    branch, head = example["branch"], example["head_sha"]
    task = plant_and_queue_triage(hand_over(example))
    # meanwhile someone commits on the branch
    other = git(
        user_checkout, "-c", "user.name=Dev", "-c", "user.email=dev@x", "commit-tree",
        f"{head}^{{tree}}", "-p", head, "-m", "meanwhile",
    ).strip()  # fmt: skip
    git(user_checkout, "update-ref", f"refs/heads/{branch}", other)

    task = finish(task)

    assert task.status == Task.Status.DONE, task.error
    d = report_of(task)["delivery"]
    assert d["committed"] is False and d["commit_sha"] is None and d["pushed"] is False
    assert "moved since the task started" in d["reason"] and "rerun" in d["reason"]
    assert tip(user_checkout, branch) == other
    assert tip(remote, branch) == head
    assert any("moved since the task started" in w for w in warnings(task))
    assert "moved since the task started" in (Path(task.workspace) / "report.md").read_text()


def test_a_push_the_remote_refuses_is_reported_with_its_reason(
    example, remote, user_checkout, project
):
    hook = remote / "hooks" / "pre-receive"
    hook.write_text('#!/bin/sh\necho "tests must be reviewed first" >&2\nexit 1\n')
    hook.chmod(0o755)

    task = finish(plant_and_queue_triage(hand_over(example)))

    assert task.status == Task.Status.DONE, task.error
    d = report_of(task)["delivery"]
    assert d["committed"] is True and d["pushed"] is False
    assert "pre-receive hook declined" in d["push_error"], d
    assert "tests must be reviewed first" in d["push_error"]
    assert tip(remote, example["branch"]) == example["head_sha"]
    assert any("tests must be reviewed first" in w for w in warnings(task))


def test_a_push_that_would_drop_a_commit_on_the_remote_is_refused_not_forced(
    example, remote, user_checkout, project, tmp_path
):
    task = plant_and_queue_triage(hand_over(example))
    # someone else pushes to the remote's branch; the user's local branch is unchanged
    work = tmp_path / "colleague"
    subprocess.run(["git", "clone", "-q", str(remote), str(work)], check=True)
    git(work, "checkout", "-q", example["branch"])
    (work / "NOTES.md").write_text("theirs\n")
    git(work, "add", "NOTES.md")
    git(work, "-c", "user.name=C", "-c", "user.email=c@x", "commit", "-qm", "theirs")
    git(work, "push", "-q", "origin", example["branch"])
    theirs = git(work, "rev-parse", "HEAD").strip()

    task = finish(task)

    assert task.status == Task.Status.DONE, task.error
    d = report_of(task)["delivery"]
    assert d["committed"] is True and d["pushed"] is False
    assert "rejected" in d["push_error"] and "rerun the task" in d["push_error"], d
    assert tip(remote, example["branch"]) == theirs


def test_a_dry_run_writes_the_patch_and_the_comment_and_commits_nothing(
    example, remote, user_checkout, project, tmp_path
):
    before = state_of(user_checkout)
    task = finish(plant_and_queue_triage(hand_over(example, options={"dry_run_delivery": True})))

    assert task.status == Task.Status.DONE, task.error
    d = report_of(task)["delivery"]
    assert d["dry_run"] is True
    assert (d["committed"], d["commit_sha"], d["pushed"]) == (False, None, False)
    assert d["comment_action"] == "skipped"
    assert tip(user_checkout, example["branch"]) == example["head_sha"]
    assert tip(remote, example["branch"]) == example["head_sha"]
    assert state_of(user_checkout) == before
    ws = Path(task.workspace)
    patch = ws / "delivery" / "tests.patch"
    assert f"Subject: [PATCH] tfactory: tests for {example['spec_id']}" in patch.read_text()
    comment = (ws / "delivery" / "pr_comment.md").read_text()
    assert comment.startswith(f"<!-- tfactory:billable/{example['spec_id']} -->")
    assert "dry run" in d["steps"]["comment"]
    assert report_of(task)["files"]["tests_patch"] == "delivery/tests.patch"
    # the patch is the commit: it applies on the branch with `git am`
    scratch = tmp_path / "scratch"
    subprocess.run(["git", "clone", "-q", "-b", example["branch"], str(remote), str(scratch)])
    git(scratch, "-c", "user.name=a", "-c", "user.email=a@b", "am", "-q", str(patch))
    assert (scratch / "tests" / "tfactory" / example["spec_id"] / "test_planted.py").is_file()
    assert "Dry run: nothing was committed" in (ws / "report.md").read_text()


def test_a_branch_checked_out_by_the_user_is_not_moved_but_the_commit_is_pushed(
    example, remote, user_checkout, project
):
    git(user_checkout, "checkout", "-q", example["branch"])
    before = state_of(user_checkout)

    task = finish(plant_and_queue_triage(hand_over(example)))

    assert task.status == Task.Status.DONE, task.error
    d = report_of(task)["delivery"]
    assert d["committed"] is False and d["pushed"] is True
    assert "checked out in" in d["reason"] and d["commit_sha"][:12] in d["reason"]
    assert state_of(user_checkout) == before
    assert git(user_checkout, "status", "--porcelain") == ""
    assert tip(remote, example["branch"]) == d["commit_sha"]


def test_a_test_folder_outside_the_repository_is_refused(example, remote, user_checkout, project):
    for bad in ("../outside/{spec_id}", "/tmp/tests", "tests/{project}", ".git/hooks"):
        with pytest.raises(ValidationError):
            Project(id="x", repo_path="/r", test_dir=bad).full_clean()
    # written around the model's validation, it is still refused at delivery
    Project.objects.filter(pk="billable").update(test_dir="tests/../../outside/{spec_id}")

    task = finish(plant_and_queue_triage(hand_over(example)))

    assert task.status == Task.Status.DONE, task.error
    d = report_of(task)["delivery"]
    assert d["committed"] is False and d["pushed"] is False
    assert "contains '..'" in d["reason"]
    assert tip(remote, example["branch"]) == example["head_sha"]
    assert tip(user_checkout, example["branch"]) == example["head_sha"]


# ---------------------------------------------------------------- the pipeline's stage


def test_a_finished_task_goes_through_delivering_and_records_the_outcome(example):
    # a local repository with no remote and no GitHub repository: commit only
    services.create_project("billable", example["repo"])
    task = finish(plant_and_queue_triage(hand_over(example)))

    assert task.status == Task.Status.DONE, task.error
    started = list(
        task.events.filter(kind="status", message__endswith=" started").values_list(
            "stage", flat=True
        )
    )
    assert started == ["planning", "triaging", "delivering"]
    report = report_of(task)
    d = report["delivery"]
    assert set(d) >= {
        "committed", "commit_sha", "branch", "pushed", "push_error", "comment_url",
        "comment_action", "reason",
    }  # fmt: skip
    assert d["committed"] is True and d["pushed"] is False and d["push_error"] is None
    assert d["comment_action"] == "skipped" and d["comment_url"] is None
    assert "no push remote configured" in d["reason"]
    assert "no GitHub repository known" in d["reason"]
    assert tip(Path(example["repo"]), example["branch"]) == d["commit_sha"]
    # the events carry the outcome
    last = task.events.filter(stage="delivering", data__has_key="delivery").last()
    assert last is not None and last.data["delivery"]["commit_sha"] == d["commit_sha"]
    md = (Path(task.workspace) / "report.md").read_text()
    assert "## Delivery" in md and "PR comment: not posted" in md


def test_delivery_can_be_switched_off_for_a_task_and_for_the_installation(example, settings):
    services.create_project("billable", example["repo"])
    task = finish(plant_and_queue_triage(hand_over(example, options={"deliver": False})))
    assert task.status == Task.Status.DONE, task.error
    d = report_of(task)["delivery"]
    assert d["committed"] is False and "deliver=false" in d["reason"]
    assert tip(Path(example["repo"]), example["branch"]) == example["head_sha"]
    with pytest.raises(services.HandoverError, match="'deliver' must be true or false"):
        hand_over(example, options={"deliver": "no"})

    settings.TFACTORY_DELIVERY = False
    task = finish(plant_and_queue_triage(hand_over(example)))
    assert task.status == Task.Status.DONE, task.error
    assert "TFACTORY_DELIVERY=false" in report_of(task)["delivery"]["reason"]
    assert tip(Path(example["repo"]), example["branch"]) == example["head_sha"]


def test_a_crash_in_delivery_fails_the_task_with_a_clear_error(example):
    services.create_project("billable", example["repo"])
    task = plant_and_queue_triage(hand_over(example))
    # a file where delivery writes its folder: not an expected failure, a crash
    (Path(task.workspace) / "delivery").write_text("in the way\n")

    task = finish(task)

    assert task.status == Task.Status.FAILED
    assert task.error.startswith("delivering failed: FileExistsError"), task.error
    report = json.loads((Path(task.workspace) / "report.json").read_text())
    assert report["status"] == "failed" and report["error"] == task.error
    assert tip(Path(example["repo"]), example["branch"]) == example["head_sha"]
