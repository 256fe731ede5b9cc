"""The pull-request comment, against a local server that speaks the GitHub REST
endpoints delivery uses, through the product's own HTTP client: the first run creates
the comment, the next edits it; the PR found by branch or from AIFactory's /pr call;
401/404/422 reported in one sentence and not tried again; server errors and timeouts
tried again; the token nowhere but in the Authorization header."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pytest

from agents_app.stages.deliver import github
from tasks_app import services
from tasks_app.models import Project, Task, TaskEvent
from tests.delivery_support import (
    FakeGitHub,
    finish,
    hand_over,
    plant_and_queue_triage,
    report_of,
)

pytestmark = pytest.mark.django_db(transaction=True)

# Neither the value nor the variable's name looks like a secret to events.redact (which
# knows ghp_… shapes and *TOKEN* names): keeping it out of everything is delivery's job.
TOKEN = "tf-fake-credential-4b9d0c2e71a8"
TOKEN_ENV = "TF_FAKE_GH_AUTH"
SLUG = "acme/billable"


@pytest.fixture
def gh(settings, monkeypatch):
    server = FakeGitHub(TOKEN)
    settings.TFACTORY_GITHUB_API_URL = server.url
    settings.TFACTORY_GITHUB_TOKEN_ENV = TOKEN_ENV
    settings.TFACTORY_GITHUB_BACKOFF_S = 0.01
    settings.TFACTORY_GITHUB_TIMEOUT_S = 2
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    yield server
    server.close()


@pytest.fixture
def project(example) -> Project:
    services.create_project("billable", example["repo"])
    Project.objects.filter(pk="billable").update(github_repo=SLUG)
    return Project.objects.get(pk="billable")


def mine(gh: FakeGitHub, number: int, spec_id: str) -> list[dict]:
    mark = f"<!-- tfactory:billable/{spec_id} -->"
    return [c for c in gh.comments[(SLUG, number)] if mark in c["body"]]


def run_once(example) -> Task:
    task = finish(plant_and_queue_triage(hand_over(example)))
    assert task.status == Task.Status.DONE, task.error
    return task


def test_the_report_is_posted_once_and_edited_on_the_next_run(example, gh, project):
    gh.add_pull(SLUG, 7, example["branch"])
    for i in range(3):  # two pages of other people's comments before TFactory's
        gh.add_comment(SLUG, 7, f"review comment {i}")

    task = run_once(example)

    d = report_of(task)["delivery"]
    assert d["comment_action"] == "created" and d["pull_request"] == f"{SLUG}#7", d
    (comment,) = mine(gh, 7, example["spec_id"])
    assert d["comment_url"] == comment["html_url"]
    body = comment["body"]
    assert body == (Path(task.workspace) / "delivery" / "pr_comment.md").read_text()
    assert "**Criteria verified:** 1 of 7" in body
    assert "1 accepted, 1 rejected, 0 flagged" in body
    assert "`test_planted.py::test_checks_nothing`: passed 3/3 runs; checks nothing of " in body
    assert "&lt;billable&gt; (assert 1 &lt; 2)" in body  # test output is not HTML
    assert f"**Committed:** `{d['commit_sha'][:10]}`" in body
    # the PR was found by its branch, on the Enterprise-style API path, with the token
    (pulls,) = [r for r in gh.requests if r["path"].endswith("/pulls")]
    assert pulls["path"] == f"/api/v3/repos/{SLUG}/pulls"
    assert pulls["query"]["head"] == f"acme:{example['branch']}"
    assert pulls["query"]["state"] == "open"
    assert {r["authorization"] for r in gh.requests} == {f"Bearer {TOKEN}"}
    pages = [r["query"].get("page", "1") for r in gh.calls("GET") if "comments" in r["path"]]
    assert pages == ["1", "2"]
    assert task.events.filter(message__contains=f"PR comment created on {SLUG}#7").exists()

    # the next run edits that comment instead of adding one
    gh.requests.clear()
    again = run_once(example)

    d2 = report_of(again)["delivery"]
    assert d2["comment_action"] == "updated" and d2["comment_url"] == d["comment_url"]
    (comment,) = mine(gh, 7, example["spec_id"])
    assert f"task {again.pk}" in comment["body"]
    assert len(gh.comments[(SLUG, 7)]) == 4
    assert [r["method"] for r in gh.requests if r["method"] != "GET"] == ["PATCH"]
    assert f"/issues/comments/{comment['id']}" in gh.calls("PATCH")[0]["path"]


def test_the_pull_request_aifactory_recorded_is_used(example, gh, project):
    Project.objects.filter(pk="billable").update(github_repo="")
    services.record_pull_request(
        "billable", example["spec_id"], {"pr_number": 12, "repo_slug": SLUG}
    )
    gh.add_pull(SLUG, 12, "another-branch")

    task = run_once(example)

    d = report_of(task)["delivery"]
    assert d["comment_action"] == "created" and d["pull_request"] == f"{SLUG}#12"
    assert len(mine(gh, 12, example["spec_id"])) == 1
    assert not [r for r in gh.requests if r["path"].endswith("/pulls")]


def test_no_open_pull_request_for_the_branch_skips_the_comment(example, gh, project):
    gh.add_pull(SLUG, 3, "someone-elses-branch")
    task = run_once(example)
    d = report_of(task)["delivery"]
    assert d["comment_action"] == "skipped"
    assert f"no open pull request from {example['branch']} in {SLUG}" in d["reason"]
    assert gh.calls("POST") == []


def _expect_comment_error(example, gh, text: str) -> dict:
    task = run_once(example)  # a refused comment does not fail the task
    d = report_of(task)["delivery"]
    assert d["comment_action"] == "skipped" and d["comment_url"] is None
    assert d["comment_error"] == text, d["comment_error"]
    assert task.events.filter(level="warning", message__contains=text).exists()
    assert text in (Path(task.workspace) / "report.md").read_text()
    return d


def test_a_rejected_token_is_reported_and_not_tried_again(example, gh, project, monkeypatch):
    gh.add_pull(SLUG, 7, example["branch"])
    monkeypatch.setenv(TOKEN_ENV, "not-the-right-credential")
    _expect_comment_error(
        example, gh, f"GitHub rejected the token in ${TOKEN_ENV} (401: Bad credentials)"
    )
    assert len(gh.requests) == 1


def test_a_pull_request_out_of_reach_is_reported_and_not_tried_again(example, gh, project):
    gh.add_pull(SLUG, 7, example["branch"])
    services.record_pull_request(
        "billable", example["spec_id"], {"pr_number": 99, "repo_slug": SLUG}
    )
    _expect_comment_error(
        example,
        gh,
        f"no access to {SLUG} or PR #99 not found (404: Not Found); the token in "
        f"${TOKEN_ENV} needs read and write access to the repository's pull requests",
    )
    assert len(gh.requests) == 1


def test_a_validation_error_is_reported_in_githubs_words(example, gh, project):
    gh.add_pull(SLUG, 7, example["branch"])
    # a server that echoes the credential back must not get it into any report
    gh.faults.append(
        (
            "POST",
            422,
            {
                "message": "Validation Failed",
                "errors": [{"message": f"body is too long (request from Bearer {TOKEN})"}],
            },
        )
    )
    _expect_comment_error(
        example,
        gh,
        "GitHub refused the request (422): Validation Failed: body is too long (request "
        "from Bearer [redacted])",
    )
    assert len(gh.calls("POST")) == 1


def test_server_errors_and_timeouts_are_tried_again(example, gh, project, settings):
    gh.add_pull(SLUG, 7, example["branch"])
    settings.TFACTORY_GITHUB_TIMEOUT_S = 0.5
    gh.delays.append(1.5)  # the first call (the pulls) times out
    gh.faults.append(("GET", 502, {"message": "Bad Gateway"}))  # its second try fails

    task = run_once(example)

    d = report_of(task)["delivery"]
    assert d["comment_action"] == "created", d
    pulls = [r for r in gh.requests if r["path"].endswith("/pulls")]
    assert len(pulls) == 3
    assert len(mine(gh, 7, example["spec_id"])) == 1


def test_a_server_that_keeps_failing_is_given_up_on_with_a_sentence(example, gh, project):
    gh.add_pull(SLUG, 7, example["branch"])
    gh.faults += [("GET", 503, {"message": "Service Unavailable"})] * 3
    _expect_comment_error(example, gh, "GitHub answered 503 (Service Unavailable) (tried 3 times)")
    assert len(gh.requests) == 3


def test_a_next_page_link_to_another_host_is_not_followed(example, gh, project):
    gh.add_pull(SLUG, 7, example["branch"])
    for i in range(3):
        gh.add_comment(SLUG, 7, f"review comment {i}")
    gh.next_link_host = "http://127.0.0.2:9"
    _expect_comment_error(
        example, gh, f"GitHub's next-page link points away from {gh.url}; not followed"
    )
    assert gh.calls("POST") == []


def test_the_token_is_never_in_events_reports_or_logs(example, gh, project, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    gh.add_pull(SLUG, 7, example["branch"])
    gh.faults.append(("POST", 422, {"message": f"echo: token {TOKEN}"}))
    first = run_once(example)  # refused, with the token echoed back
    assert "[redacted]" in report_of(first)["delivery"]["comment_error"]
    second = run_once(example)  # posted
    assert report_of(second)["delivery"]["comment_action"] == "created"
    assert {r["authorization"] for r in gh.requests} == {f"Bearer {TOKEN}"}

    seen = []
    for task in (first, second):
        for e in TaskEvent.objects.filter(task=task):
            seen.append(e.message + json.dumps(e.data))
        task.refresh_from_db()
        seen.append(task.error + json.dumps(task.lanes))
    home = Path(first.workspace).parents[3]  # $TFACTORY_HOME: workspaces, archives, logs
    for path in home.rglob("*"):
        if path.is_file() and not path.name.endswith(".sqlite3"):
            seen.append(path.read_bytes().decode("utf-8", errors="replace"))
    out, err = capfd.readouterr()
    seen += [caplog.text, out, err]
    assert len(seen) > 20
    assert not [text for text in seen if TOKEN in text]


# ---------------------------------------------------------------- choosing a client


def _path_with_only(tmp_path: Path, tools: dict[str, str | None]) -> str:
    """A PATH holding git and the given scripts: what TFactory can find there."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "git").symlink_to(shutil.which("git"))
    for name, script in tools.items():
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(0o755)
    return str(bin_dir)


def test_without_a_token_and_without_gh_the_comment_is_skipped_with_the_reason(
    example, gh, project, monkeypatch, tmp_path
):
    gh.add_pull(SLUG, 7, example["branch"])
    monkeypatch.delenv(TOKEN_ENV)
    monkeypatch.setenv("PATH", _path_with_only(tmp_path, {}))
    task = run_once(example)
    d = report_of(task)["delivery"]
    assert d["comment_action"] == "skipped"
    assert f"no token in ${TOKEN_ENV}, and no gh command to fall back on" in d["reason"]
    assert gh.requests == []


def test_gh_is_the_fallback_only_when_it_is_logged_in(gh, monkeypatch, tmp_path, settings):
    monkeypatch.delenv(TOKEN_ENV)
    logged_out = '#!/bin/sh\necho "You are not logged into any GitHub hosts." >&2\nexit 1\n'
    monkeypatch.setenv("PATH", _path_with_only(tmp_path / "out", {"gh": logged_out}))
    api, why = github.connect("https://ghe.example/api/v3")
    assert api is None
    assert (
        why == f"no token in ${TOKEN_ENV}, and gh is not logged in to ghe.example (gh auth login)"
    )

    calls = tmp_path / "gh-calls"
    logged_in = f'#!/bin/sh\necho "$@" >> {calls}\n[ "$1 $2" = "auth status" ] || exit 2\n'
    monkeypatch.setenv("PATH", _path_with_only(tmp_path / "in", {"gh": logged_in}))
    api, why = github.connect("https://api.github.com")
    assert isinstance(api, github.GhClient) and why == "gh's login on github.com"
    assert calls.read_text() == "auth status --hostname github.com\n"

    settings.TFACTORY_GITHUB_GH = False
    api, why = github.connect("https://api.github.com")
    assert api is None and "gh fallback is off" in why
    assert TOKEN_ENV not in os.environ


@pytest.mark.parametrize(
    ("url", "slug"),
    [
        ("https://github.com/acme/billable.git", "acme/billable"),
        ("https://github.com/acme/billable", "acme/billable"),
        ("git@github.com:acme/billable.git", "acme/billable"),
        ("ssh://git@ghe.example:2222/acme/bill.able.git", "acme/bill.able"),
        ("file:///srv/git/billable.git", None),
        ("/srv/git/billable.git", None),
        ("https://github.com/acme/group/billable.git", None),
    ],
)
def test_the_repository_is_read_from_a_remote_url(url, slug):
    assert github.slug_of_url(url) == slug
