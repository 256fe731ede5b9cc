"""AIFactory's way in, at the service layer: ingest a spec's text (cloning the repository
when TFactory does not have it yet), find the branch, and record the pull request."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tasks_app import services
from tasks_app.core import git as tgit
from tasks_app.models import Project, PullRequestLink, Task, TaskEvent
from tests.conftest import git

pytestmark = pytest.mark.django_db

SPEC = "# Discounts\n\n## Acceptance Criteria\n\n### AC#1\n`normalize_code` upper-cases codes.\n"


def ingest(example: dict, **fields) -> dict:
    payload = {
        "project_id": "billable",
        "spec_id": example["spec_id"],
        "spec_text": SPEC,
        "format": "markdown",
    }
    payload.update(fields)
    return {k: v for k, v in payload.items() if v is not None}


def test_ingest_with_a_source_branch_starts_a_task_on_a_registered_project(example):
    services.create_project("billable", example["repo"])
    task = services.ingest_spec(ingest(example, source_branch=example["branch"]), enqueue=False)
    assert task.branch == example["branch"]
    assert task.spec_source == Task.SpecSource.INLINE
    assert task.queued_stage == "planning"
    snap = Path(task.workspace) / "context" / "aifactory_spec.md"
    assert snap.read_text() == SPEC


def test_ingest_finds_the_branch_named_after_the_spec(example):
    # the example's branch is feature/discount-codes for spec 001-discount-codes
    services.create_project("billable", example["repo"])
    task = services.ingest_spec(ingest(example), enqueue=False)
    assert task.branch == example["branch"]


def test_ingest_without_a_matching_branch_names_the_field(example):
    services.create_project("billable", example["repo"])
    with pytest.raises(services.HandoverError, match="send source_branch") as err:
        services.ingest_spec(ingest(example, spec_id="002-other"), enqueue=False)
    assert err.value.field == "source_branch"
    git(Path(example["repo"]), "branch", "aifactory/001-discount-codes", example["branch"])
    with pytest.raises(services.HandoverError, match="several branches") as err:
        services.ingest_spec(ingest(example), enqueue=False)
    assert Task.objects.count() == 0


def test_ingest_errors_use_aifactorys_field_names(example):
    services.create_project("billable", example["repo"])
    with pytest.raises(services.HandoverError) as err:
        services.ingest_spec(ingest(example, source_branch="feature/missing"), enqueue=False)
    assert err.value.field == "source_branch"
    with pytest.raises(services.HandoverError) as err:
        services.ingest_spec(ingest(example, format="rst"), enqueue=False)
    assert err.value.field == "format"
    with pytest.raises(services.HandoverError, match="unknown field") as err:
        services.ingest_spec({**ingest(example), "branch": "x"}, enqueue=False)
    for missing in ("project_id", "spec_id", "spec_text", "format"):
        payload = ingest(example)
        del payload[missing]
        with pytest.raises(services.HandoverError, match="required") as err:
            services.ingest_spec(payload, enqueue=False)
        assert err.value.field == missing
    with pytest.raises(services.HandoverError, match="must be a string") as err:
        services.ingest_spec(ingest(example, spec_text=["x"]), enqueue=False)
    with pytest.raises(services.HandoverError, match="path separator"):
        services.ingest_spec(ingest(example, spec_id="../../etc"), enqueue=False)
    assert Task.objects.count() == 0


def test_ingest_for_an_unknown_project_without_git_url_changes_nothing(example, tf_home):
    with pytest.raises(services.HandoverError, match="send git_url") as err:
        services.ingest_spec(ingest(example, project_id="nobody"), enqueue=False)
    assert err.value.field == "project_id"
    assert Project.objects.count() == 0 and Task.objects.count() == 0


def test_ingest_with_git_url_clones_the_repository_and_fetches_new_pushes(
    example, remote, settings, tf_home, tmp_path
):
    settings.TFACTORY_GIT_PROTOCOLS = ["https", "ssh", "file"]
    task = services.ingest_spec(
        ingest(example, git_url=f"file://{remote}", source_branch=example["branch"]),
        enqueue=False,
    )
    project = Project.objects.get()
    assert project.git_url == f"file://{remote}"
    clone = Path(project.repo_path)
    assert clone == tf_home / "repos" / "billable.git"
    assert task.head_sha == example["head_sha"]
    # the user's checkout was not the one used
    assert not Path(task.worktree).is_relative_to(Path(example["repo"]))

    # AIFactory pushes another commit; the next handover sees it without a new clone
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(remote), str(work)], check=True)
    git(work, "checkout", "-q", example["branch"])
    (work / "NOTES.md").write_text("more\n")
    git(work, "add", "NOTES.md")
    git(work, "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-q", "-m", "more")
    git(work, "push", "-q", "origin", example["branch"])
    new_head = git(work, "rev-parse", "HEAD").strip()
    Task.objects.filter(pk=task.pk).update(status=Task.Status.DONE)
    again = services.ingest_spec(
        ingest(example, git_url=f"file://{remote}", source_branch=example["branch"]),
        enqueue=False,
    )
    assert again.head_sha == new_head


def test_git_urls_that_would_leak_or_run_things_are_refused(example, settings, tf_home):
    settings.TFACTORY_GIT_PROTOCOLS = ["https", "ssh", "git"]
    cases = {
        "https://user:s3cret@github.example/o/r.git": "credentials",
        "ext::sh -c touch% /tmp/pwned": "not a repository URL",
        "ext::sh%20-c%20id": "unsupported transport",
        "--upload-pack=touch /tmp/x": "not a repository URL",
        "/etc": "path on the TFactory host",
        "file:///etc": "path on the TFactory host",
        "https:///nohost": "no host",
    }
    for url, needle in cases.items():
        with pytest.raises(services.HandoverError, match=needle) as err:
            services.ingest_spec(ingest(example, git_url=url), enqueue=False)
        assert err.value.field == "git_url"
        assert "s3cret" not in str(err.value)
    allowed = ["https", "ssh", "git"]
    assert tgit.url_problem("git@github.com:owner/repo.git", allowed) is None
    assert tgit.url_problem("ssh://git@host/o/r", allowed) is None
    assert tgit.url_problem("https://github.com/o/r", allowed) is None
    assert "is off here" in tgit.url_problem("https://github.com/o/r", ["ssh"])
    assert "is off here" in tgit.url_problem("git@github.com:o/r", ["https"])
    assert Project.objects.count() == 0
    assert not (tf_home / "repos").exists() or not any((tf_home / "repos").iterdir())


def test_a_clone_that_fails_leaves_no_project_and_no_folder(example, settings, tf_home, tmp_path):
    settings.TFACTORY_GIT_PROTOCOLS = ["https", "ssh", "file"]
    with pytest.raises(services.HandoverError, match="could not clone") as err:
        services.ingest_spec(
            ingest(example, git_url=f"file://{tmp_path}/missing.git"), enqueue=False
        )
    assert err.value.field == "git_url"
    assert Project.objects.count() == 0
    assert not any((tf_home / "repos").iterdir())


def test_a_project_bound_to_one_url_refuses_another(example, remote, settings):
    settings.TFACTORY_GIT_PROTOCOLS = ["https", "ssh", "file"]
    services.create_project("billable", git_url=f"file://{remote}")
    with pytest.raises(services.ConflictError, match="is bound to"):
        services.ingest_spec(ingest(example, git_url="https://github.example/o/r"), enqueue=False)


def test_the_pull_request_is_recorded_and_replaced(example):
    project = services.create_project("billable", example["repo"])
    task = services.ingest_spec(ingest(example), enqueue=False)
    link = services.record_pull_request(
        "billable", example["spec_id"], {"pr_number": 7, "repo_slug": "acme/billable"}
    )
    assert (link.project_id, link.pr_number, link.repo_slug) == ("billable", 7, "acme/billable")
    services.record_pull_request(
        "billable", example["spec_id"], {"pr_number": 8, "repo_slug": "acme/billable"}
    )
    assert PullRequestLink.objects.get(project=project).pr_number == 8
    assert TaskEvent.objects.filter(task=task, message__contains="acme/billable#8").exists()


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"pr_number": 0, "repo_slug": "a/b"}, "pr_number"),
        ({"pr_number": True, "repo_slug": "a/b"}, "pr_number"),
        ({"pr_number": "7", "repo_slug": "a/b"}, "pr_number"),
        ({"pr_number": 7, "repo_slug": "a/b/c"}, "repo_slug"),
        ({"pr_number": 7, "repo_slug": "../etc"}, "repo_slug"),
        ({"pr_number": 7}, "repo_slug"),
        ({"pr_number": 7, "repo_slug": "a/b", "extra": 1}, "extra"),
    ],
)
def test_a_bad_pull_request_payload_names_its_field(example, payload, field):
    services.create_project("billable", example["repo"])
    with pytest.raises(services.HandoverError) as err:
        services.record_pull_request("billable", "001-discount-codes", payload)
    assert err.value.field == field
    assert PullRequestLink.objects.count() == 0


def test_a_pull_request_for_an_unknown_project_is_not_found():
    with pytest.raises(services.NotFoundError):
        services.record_pull_request("nobody", "s1", {"pr_number": 1, "repo_slug": "a/b"})
