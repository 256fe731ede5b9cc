"""Delivery, the pipeline's last stage: the accepted tests committed on the feature branch,
pushed where the project has a remote for it, and the report posted on the pull request.

The commit is made in the task's own worktree (its index and the shared object store):
the user's checkout — its working tree, index and HEAD — is never touched, and a branch
that is checked out somewhere is never moved. The branch ref moves by compare-and-swap
from the commit the task tested, so a commit or push that landed meanwhile is never
overwritten: the task then commits nothing and says so. The push is never forced.

Each side effect happens only where it is configured (a push remote; a GitHub repository
and a token or a logged-in `gh`) and can be switched off per project (its delivery
fields) and per task (the handover's `deliver` and `dry_run_delivery` options). A dry run
writes `delivery/tests.patch` and `delivery/pr_comment.md` and changes nothing else.

What happened is kept in runs/delivery.json after every step (report.json's
`delivery`). An expected failure — the branch moved, a push refused, GitHub said no — is
reported there and as a warning event, and the task still ends done: its tests and
report are sound. Anything else (a bug) fails the stage with its error, as any stage.
"""

from __future__ import annotations

import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from agents_app.env.runtime import ensure_worktree
from agents_app.pipeline.context import StageContext
from agents_app.stages.deliver import github
from agents_app.stages.report import build_report, render_pr_comment
from tasks_app.core import git
from tasks_app.core.redaction import redact
from tasks_app.core.workspace import Runs, Workspace, read_json, write_json, write_text
from tasks_app.models import (
    Project,
    PullRequestLink,
    Task,
    problem_with_test_dir,
    validate_git_arg,
)

ACCEPTED_DIR = Path("tests") / "functional" / "accepted"
PATCH = "delivery/tests.patch"
COMMENT = "delivery/pr_comment.md"


def commit_message(spec_id: str) -> str:
    return f"tfactory: tests for {spec_id}"


@dataclass
class Delivery:
    """report.json's `delivery`. `steps` says per step what happened or why it did not;
    `reason` joins the why-nots."""

    branch: str
    dry_run: bool = False
    committed: bool = False
    commit_sha: str | None = None
    test_dir: str | None = None
    files: list[str] = field(default_factory=list)
    pushed: bool = False
    push_remote: str | None = None
    push_error: str | None = None
    pull_request: str | None = None
    comment_url: str | None = None
    comment_action: str = "skipped"  # created | updated | skipped
    comment_error: str | None = None
    patch: str | None = None
    comment_body: str | None = None
    steps: dict[str, str] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    def note(self, step: str, text: str, *, done: bool) -> None:
        self.steps[step] = redact(text)
        if not done:
            self.reasons.append(f"{step}: {redact(text)}")

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["reason"] = "; ".join(data.pop("reasons")) or None
        return data


@dataclass
class Switches:
    """Which steps are on for this task, and why a step is off."""

    dry_run: bool
    off: str | None  # the whole stage
    commit_off: str | None
    push_off: str | None
    comment_off: str | None


def switches(task: Task) -> Switches:
    project = task.project
    off = None
    if not settings.TFACTORY_DELIVERY:
        off = "off for this installation (TFACTORY_DELIVERY=false)"
    elif task.options.get("deliver") is False:
        off = "off for this task (the handover's option deliver=false)"
    return Switches(
        dry_run=bool(task.options.get("dry_run_delivery")),
        off=off,
        commit_off=None if project.commit_tests else "off for this project (commit_tests)",
        push_off=None if project.push_tests else "off for this project (push_tests)",
        comment_off=None if project.post_comment else "off for this project (post_comment)",
    )


def run(ctx: StageContext) -> None:
    task = ctx.task
    ws = ctx.ws
    earlier = _earlier(ws)
    sw = switches(task)
    d = Delivery(branch=task.branch, dry_run=sw.dry_run and not sw.off)
    if sw.off:
        for step in ("commit", "push", "comment"):
            d.note(step, sw.off, done=False)
        _save(ws, d)
        ctx.emit(f"delivery {sw.off}", delivery=d.as_dict())
        return
    _save(ws, d)

    sha = _commit_step(ctx, d, sw, earlier)
    _save(ws, d)
    ctx.check_cancelled()
    _push_step(ctx, d, sw, sha)
    _save(ws, d)
    ctx.check_cancelled()
    _comment_step(ctx, d, sw)
    _save(ws, d)
    ctx.emit("delivery: " + "; ".join(f"{k} {v}" for k, v in d.steps.items()), delivery=d.as_dict())


def _save(ws: Workspace, d: Delivery) -> None:
    write_json(ws.runs / Runs.DELIVERY, d.as_dict())


def _earlier(ws: Workspace) -> dict[str, Any]:
    """What an earlier delivery of this task did (a rerun delivers again)."""
    path = ws.runs / Runs.DELIVERY
    try:
        data = read_json(path) if path.exists() else {}
    except ValueError:
        data = {}
    return data if isinstance(data, dict) else {}


# ---------------------------------------------------------------- commit


def accepted_files(ws: Workspace) -> list[Path]:
    """The evaluator's accepted test files (tests/functional/accepted/*.py)."""
    folder = ws.root / ACCEPTED_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.py") if p.is_file() and not p.is_symlink())


def test_dir_for(project: Project, spec_id: str) -> str:
    """The project's test folder for this spec, a clean relative path; ValueError if unsafe."""
    if problem := problem_with_test_dir(project.test_dir, spec_id):
        raise ValueError(problem)
    path = project.test_dir.replace("{spec_id}", spec_id)
    return "/".join(p for p in path.split("/") if p not in ("", "."))


def author(project: Project) -> tuple[str, str]:
    name = project.commit_author_name or settings.TFACTORY_COMMIT_AUTHOR_NAME
    email = project.commit_author_email or settings.TFACTORY_COMMIT_AUTHOR_EMAIL
    for value in (name, email):
        validate_git_arg(value)
    return name, email


def _commit_step(ctx: StageContext, d: Delivery, sw: Switches, earlier: dict) -> str | None:
    """Make the commit; returns its sha when there is one to push."""
    task = ctx.task
    project = task.project
    if sw.commit_off:
        d.note("commit", sw.commit_off, done=False)
        return None
    files = accepted_files(ctx.ws)
    if not files:
        d.note("commit", "nothing to commit: no test was accepted", done=False)
        return None
    try:
        d.test_dir = test_dir_for(project, task.spec_id)
        name, email = author(project)
    except (ValueError, ValidationError) as exc:
        text = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
        d.note("commit", f"not committed: {text}", done=False)
        ctx.emit.warn(f"delivery: not committed: {text}")
        return None
    d.files = [f"{d.test_dir}/{p.name}" for p in files]
    try:
        return _commit(ctx, d, files, (name, email), sw.dry_run, earlier)
    except (git.GitError, subprocess.TimeoutExpired) as exc:
        text = "git took too long" if isinstance(exc, subprocess.TimeoutExpired) else str(exc)
        d.note("commit", f"not committed: {text}", done=False)
        ctx.emit.warn(f"delivery: not committed: {text}")
        return None


def _commit(
    ctx: StageContext,
    d: Delivery,
    files: list[Path],
    who: tuple[str, str],
    dry_run: bool,
    earlier: dict,
) -> str | None:
    task = ctx.task
    project = task.project
    repo = project.repo
    branch = task.branch
    if project.git_url and not dry_run:
        # TFactory's own clone: bring it level with origin, so a push that landed there
        # since the task started counts as the branch having moved
        try:
            git.fetch_all(repo, settings.TFACTORY_GIT_PROTOCOLS)
        except git.GitError as exc:
            raise git.GitError(
                f"could not fetch {project.git_url} to check the branch: {exc}"
            ) from exc
    ref = f"refs/heads/{branch}"
    tip = git.resolve_commit(repo, ref)
    if tip is None:
        d.note("commit", f"not committed: branch {branch} no longer exists", done=False)
        ctx.emit.warn(f"delivery: branch {branch} no longer exists; nothing committed")
        return None
    # an earlier delivery of this very task may have put its commit on the branch
    ours = earlier.get("commit_sha") if earlier.get("committed") else None
    if tip not in (task.head_sha, ours):
        text = (
            f"not committed: branch {branch} moved since the task started (it was at "
            f"{task.head_sha[:10]}, now at {tip[:10]}); rerun the task on the new commit"
        )
        d.note("commit", text, done=False)
        ctx.emit.warn(f"delivery: {text}")
        return None

    worktree = ensure_worktree(task)
    # the worktree's own index: the branch's tree plus the test files, nothing on disk
    git.git(worktree, "read-tree", tip)
    for path in files:
        blob = git.git(worktree, "hash-object", "-w", "--no-filters", "--", str(path)).strip()
        entry = f"100644,{blob},{d.test_dir}/{path.name}"
        git.git(worktree, "update-index", "--add", "--cacheinfo", entry)
    tree = git.git(worktree, "write-tree").strip()
    if tree == git.git(worktree, "rev-parse", f"{tip}^{{tree}}").strip():
        d.note("commit", f"nothing to commit: {branch} already has these tests", done=False)
        return None
    name, email = who
    identity = [
        "-c", f"user.name={name}", "-c", f"user.email={email}",
        "-c", f"author.name={name}", "-c", f"author.email={email}",
        "-c", f"committer.name={name}", "-c", f"committer.email={email}",
    ]  # fmt: skip
    message = commit_message(task.spec_id)
    sha = git.git(
        worktree, *identity, "commit-tree", "--no-gpg-sign", tree, "-p", tip, "-m", message
    ).strip()
    patch = git.git(worktree, "format-patch", "-1", "--stdout", "--no-signature", sha)
    write_text(ctx.ws.root / PATCH, patch)
    d.patch = PATCH
    n = len(files)
    if dry_run:
        d.note(
            "commit",
            f"dry run: not committed; the commit ({n} file(s) under {d.test_dir}) is in {PATCH}",
            done=False,
        )
        return None

    holders = [p for p in git.checked_out_at(repo, branch) if p != worktree]
    if holders:
        # moving it would change that checkout's HEAD under the person working there
        d.commit_sha = sha
        text = (
            f"not committed on {branch}: it is checked out in {holders[0]}, and TFactory "
            f"never moves a checked-out branch; take the commit there with "
            f"`git merge --ff-only {sha[:12]}` (or `git am {PATCH}`)"
        )
        d.note("commit", text, done=False)
        ctx.emit.warn(f"delivery: {text}")
        return sha
    try:
        # compare-and-swap: only if the branch is still where the task found it
        git.git(worktree, "update-ref", "-m", message, ref, sha, tip)
    except git.GitError:
        now = git.resolve_commit(repo, ref)
        text = (
            f"not committed: branch {branch} moved while TFactory committed (now at "
            f"{(now or 'nothing')[:10]}); rerun the task on the new commit"
        )
        d.note("commit", text, done=False)
        ctx.emit.warn(f"delivery: {text}")
        return None
    d.committed = True
    d.commit_sha = sha
    d.note("commit", f"{sha[:10]} on {branch}: {n} test file(s) under {d.test_dir}", done=True)
    ctx.emit(f"delivery: committed {sha[:10]} on {branch} ({n} test file(s) under {d.test_dir})")
    return sha


# ---------------------------------------------------------------- push


def push_target(project: Project) -> tuple[str | None, str, str | None]:
    """(URL, how to name it, why it cannot be pushed to) for the project's push remote;
    (None, "", None) when none is configured. A git_url project pushes to its origin."""
    remote = project.push_remote or ("origin" if project.git_url else "")
    if not remote:
        return None, "", None
    try:
        validate_git_arg(remote)
    except ValidationError as exc:
        return None, remote, f"push remote {exc.messages[0]}"
    looks_like_url = "://" in remote or "/" in remote or ":" in remote
    url = remote if looks_like_url else git.remote_url(project.repo, remote)
    label = remote if looks_like_url else f"{remote} ({url})"
    if url is None:
        return None, remote, f"push remote {remote!r} is not a remote of {project.repo}"
    if problem := git.url_problem(url, settings.TFACTORY_GIT_PROTOCOLS):
        return None, label, "push remote: " + problem.replace("git_url", "the URL", 1)
    return url, label, None


def _push_step(ctx: StageContext, d: Delivery, sw: Switches, sha: str | None) -> None:
    project = ctx.task.project
    if sw.push_off:
        d.note("push", sw.push_off, done=False)
        return
    url, label, problem = push_target(project)
    if url is None and problem is None:
        d.note("push", "not pushed: no push remote configured for this project", done=False)
        return
    d.push_remote = redact(label)
    if sha is None:
        if not d.dry_run:
            d.note("push", "nothing to push", done=False)
        else:
            d.note("push", f"dry run: not pushed to {label}", done=False)
        return
    if problem:
        d.push_error = problem
        d.note("push", f"not pushed: {problem}", done=False)
        ctx.emit.warn(f"delivery: not pushed: {problem}")
        return
    try:
        git.push(project.repo, url, sha, d.branch, settings.TFACTORY_GIT_PROTOCOLS)
    except git.PushRejected as exc:
        hint = ""
        if "non-fast-forward" in str(exc) or "fetch first" in str(exc):
            hint = (
                f"; the remote's {d.branch} has commits this one does not: rerun the task on them"
            )
        d.push_error = redact(f"{label} refused the push: {exc}{hint}")
    except git.GitError as exc:
        d.push_error = redact(f"push to {label} failed: {exc}")
    except subprocess.TimeoutExpired:
        d.push_error = f"push to {label} did not finish in time"
    if d.push_error:
        d.note("push", f"not pushed: {d.push_error}", done=False)
        ctx.emit.warn(f"delivery: {d.push_error}")
        return
    d.pushed = True
    d.note("push", f"pushed {sha[:10]} to {d.branch} at {label}", done=True)
    ctx.emit(f"delivery: pushed {sha[:10]} to {d.branch} at {label}")


# ---------------------------------------------------------------- pull-request comment


def github_target(task: Task) -> tuple[str | None, int | None, str]:
    """(owner/name, PR number or None, where the repository came from)."""
    project = task.project
    link = PullRequestLink.objects.filter(project=project, spec_id=task.spec_id).first()
    if link:
        return link.repo_slug, link.pr_number, "the pull request AIFactory recorded"
    if project.github_repo:
        return project.github_repo, None, "the project's github_repo"
    url, _, _ = push_target(project)
    for candidate in (project.git_url, url, git.remote_url(project.repo, "origin")):
        if candidate and (slug := github.slug_of_url(candidate)):
            return slug, None, f"the remote {candidate}"
    return None, None, ""


def _comment_step(ctx: StageContext, d: Delivery, sw: Switches) -> None:
    task = ctx.task
    task.refresh_from_db()
    report = build_report(task)
    report["delivery"] = d.as_dict()
    mark = github.marker(task.project_id, task.spec_id)
    body = redact(render_pr_comment(report, mark))
    write_text(ctx.ws.root / COMMENT, body)
    d.comment_body = COMMENT
    if sw.comment_off:
        d.note("comment", sw.comment_off, done=False)
        return
    if d.dry_run:
        d.note("comment", f"dry run: not posted; the comment is in {COMMENT}", done=False)
        return
    slug, number, source = github_target(task)
    if slug is None:
        d.note(
            "comment",
            "not posted: no GitHub repository known (set the project's github_repo, or "
            "record the pull request with AIFactory's /pr call)",
            done=False,
        )
        return
    api_url = task.project.github_api_url or settings.TFACTORY_GITHUB_API_URL
    api, how = github.connect(api_url)
    if api is None:
        d.note("comment", f"not posted on {slug}: {how}", done=False)
        ctx.emit.warn(f"delivery: PR comment not posted: {how}")
        return
    try:
        if number is None:
            number = github.find_pull(api, slug, task.branch)
            if number is None:
                d.note(
                    "comment",
                    f"not posted: no open pull request from {task.branch} in {slug}",
                    done=False,
                )
                return
        d.pull_request = f"{slug}#{number}"
        action, url = github.upsert_comment(
            api,
            slug,
            number,
            body,
            mark,
            retries=settings.TFACTORY_GITHUB_RETRIES,
            backoff=settings.TFACTORY_GITHUB_BACKOFF_S,
        )
    except github.GitHubError as exc:
        d.comment_error = redact(str(exc))
        d.note("comment", f"not posted on {d.pull_request or slug}: {d.comment_error}", done=False)
        ctx.emit.warn(f"delivery: PR comment not posted: {d.comment_error}")
        return
    finally:
        api.close()
    d.comment_action = action
    d.comment_url = url or None
    d.note("comment", f"{action} on {slug}#{number} ({url}) via {how}", done=True)
    ctx.emit(f"delivery: PR comment {action} on {slug}#{number}: {url}")
