"""The few git operations TFactory needs, run as argv lists (never a shell).

The user's checkout is only ever read; TFactory works in its own worktrees.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


class GitError(RuntimeError):
    pass


# Hooks (post-checkout runs on `worktree add`), fsmonitor commands and similar come from
# configuration a branch can influence (core.hooksPath pointing into the tree, husky
# style). TFactory never runs them: they would run on the host with its environment.
SAFE_CONFIG = (
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.fsmonitor=false",
    "-c", "protocol.allow=never",
)  # fmt: skip
_PASS_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME")


def _env() -> dict[str, str]:
    # Only what git needs: TFactory's own environment holds API keys and tokens.
    env = {k: v for k, v in os.environ.items() if k in _PASS_ENV}
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_OPTIONAL_LOCKS="0",  # reading must not take the user's index lock
        LC_ALL="C",
    )
    return env


def _run(repo: Path, args: tuple[str, ...], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", *SAFE_CONFIG, "-C", str(repo), *args],
        capture_output=True,
        env=_env(),
        timeout=timeout,
    )


def git(repo: Path, *args: str, check: bool = True, timeout: float = 120) -> str:
    proc = _run(repo, args, timeout)
    out = proc.stdout.decode("utf-8", errors="replace")
    if check and proc.returncode != 0:
        err = proc.stderr.decode("utf-8", errors="replace").strip()
        raise GitError(f"git {' '.join(args)}: {err or out.strip()}")
    return out


def is_repository(path: Path) -> bool:
    if not path.is_dir():
        return False
    return _run(path, ("rev-parse", "--git-dir"), 60).returncode == 0


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
    proc = _run(
        repo, ("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"), 60
    )
    sha = proc.stdout.decode(errors="replace").strip()
    return sha if proc.returncode == 0 and sha else None


def merge_base(repo: Path, a: str, b: str) -> str | None:
    proc = _run(repo, ("merge-base", a, b), 60)
    sha = proc.stdout.decode(errors="replace").strip()
    return sha if proc.returncode == 0 and sha else None


def diff(repo: Path, base_sha: str, head_sha: str) -> bytes:
    """The patch as git wrote it: bytes, since a file may be in any encoding."""
    proc = _run(repo, ("diff", "--no-color", "--no-ext-diff", "--no-textconv", "-M",
                       base_sha, head_sha), 300)  # fmt: skip
    if proc.returncode != 0:
        raise GitError(f"git diff: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def add_worktree(repo: Path, dest: Path, sha: str) -> None:
    """A detached worktree of `sha` at `dest`; the user's HEAD, index and files stay as they are."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    git(repo, "worktree", "add", "--detach", "--force", str(dest), sha, timeout=600)


def remove_worktree(repo: Path, dest: Path) -> None:
    # only TFactory's own worktree: no `git worktree prune`, which would also drop the
    # records of the user's worktrees that happen to be unmounted
    if is_repository(repo):
        git(repo, "worktree", "remove", "--force", str(dest), check=False)
