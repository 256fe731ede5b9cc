"""The few git operations TFactory needs, run as argv lists (never a shell).

The user's checkout is only ever read; TFactory works in its own worktrees.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


class GitError(RuntimeError):
    pass


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_OPTIONAL_LOCKS="0",  # reading must not take the user's index lock
        LC_ALL="C",
    )
    return env


def git(repo: Path, *args: str, check: bool = True, timeout: float = 120) -> str:
    proc = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def is_repository(path: Path) -> bool:
    if not path.is_dir():
        return False
    proc = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "--git-dir"],
        capture_output=True,
        text=True,
        env=_env(),
    )
    return proc.returncode == 0


def ref_problem(ref: object, what: str) -> str | None:
    """Why `ref` cannot be a branch or ref name given by a user, or None."""
    if not isinstance(ref, str) or not ref.strip():
        return f"{what} is empty"
    if ref.startswith("-"):
        return f"{what} {ref!r} starts with '-'"
    if any(c in ref for c in "\0\n\r ~^:?*[\\") or ".." in ref or ref.endswith((".", "/", ".lock")):
        return f"{what} {ref!r} is not a valid git ref name"
    return None


def resolve_commit(repo: Path, ref: str) -> str | None:
    """The commit sha `ref` names in `repo`, or None when there is no such ref."""
    proc = subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            f"{ref}^{{commit}}",
        ],
        capture_output=True,
        text=True,
        env=_env(),
    )
    sha = proc.stdout.strip()
    return sha if proc.returncode == 0 and sha else None


def merge_base(repo: Path, a: str, b: str) -> str | None:
    proc = subprocess.run(
        ["git", "-C", str(repo), "merge-base", a, b], capture_output=True, text=True, env=_env()
    )
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def diff(repo: Path, base_sha: str, head_sha: str) -> str:
    return git(repo, "diff", "--no-color", "--no-ext-diff", "-M", base_sha, head_sha, timeout=300)


def add_worktree(repo: Path, dest: Path, sha: str) -> None:
    """A detached worktree of `sha` at `dest`; the user's HEAD, index and files stay as they are."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    git(repo, "worktree", "add", "--detach", "--force", str(dest), sha, timeout=600)


def remove_worktree(repo: Path, dest: Path) -> None:
    if is_repository(repo):
        git(repo, "worktree", "remove", "--force", str(dest), check=False)
        git(repo, "worktree", "prune", check=False)
