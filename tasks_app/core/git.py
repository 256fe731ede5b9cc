"""The few git operations TFactory needs, run as argv lists (never a shell).

The user's checkout is only ever read; TFactory works in its own worktrees. git runs
with hooks and fsmonitor off, with only the few environment variables it needs, and
never with credentials in its arguments. Not through GitPython: its `Git.execute` always
starts the child's environment from a copy of os.environ (GitPython 3.2, git/cmd.py), so
TFactory's API keys and tokens would reach every git process and whatever git starts
(credential helpers, ssh, remote helpers); here the environment is built from nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit


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


def tree_files(repo: Path, sha: str) -> dict[str, str]:
    """Every file of a commit's tree: path -> git mode (100644, 100755, 120000 for a
    link, 160000 for a submodule)."""
    out = _run(repo, ("ls-tree", "-r", "-z", "--full-tree", sha), 300)
    if out.returncode != 0:
        raise GitError(f"git ls-tree {sha}: {out.stderr.decode(errors='replace').strip()}")
    files = {}
    for entry in out.stdout.split(b"\0"):
        if b"\t" in entry:
            meta, path = entry.split(b"\t", 1)
            files[path.decode("utf-8", "surrogateescape")] = meta.split()[0].decode()
    return files


def blob(repo: Path, sha: str, path: str, limit: int = 2_000_000) -> bytes | None:
    """A regular file's content at a commit, or None (missing, a link, a submodule, or
    larger than `limit`)."""
    mode = _run(repo, ("ls-tree", "-z", sha, "--", path), 60).stdout.split(b" ", 1)[0]
    if mode not in (b"100644", b"100755"):
        return None
    size = _run(repo, ("cat-file", "-s", f"{sha}:{path}"), 60)
    if size.returncode != 0 or int(size.stdout.strip() or 0) > limit:
        return None
    proc = _run(repo, ("cat-file", "blob", f"{sha}:{path}"), 120)
    return proc.stdout if proc.returncode == 0 else None


def commits_between(repo: Path, base_sha: str, head_sha: str, limit: int) -> list[str]:
    """The commits of base..head, oldest first, at most `limit` (the newest ones)."""
    out = git(repo, "rev-list", "--reverse", f"--max-count={limit}", f"{base_sha}..{head_sha}")
    return [line for line in out.splitlines() if line]


def added_lines(repo: Path, sha: str) -> dict[str, dict[int, str]]:
    """The lines a commit adds, per file (path -> {new line number: text}), against its
    first parent (or the empty tree for a root commit)."""
    proc = _run(repo, ("show", "--format=", "-U0", "--no-color", "--no-ext-diff",
                       "--no-textconv", "--no-renames", "--first-parent", sha), 300)  # fmt: skip
    if proc.returncode != 0:
        raise GitError(f"git show {sha}: {proc.stderr.decode(errors='replace').strip()}")
    files: dict[str, dict[int, str]] = {}
    current: dict[int, str] | None = None
    line_no = 0
    for raw in proc.stdout.decode("utf-8", "replace").splitlines():
        if raw.startswith("+++ "):
            name = raw[4:]
            current = None if name == "/dev/null" else files.setdefault(name.removeprefix("b/"), {})
        elif raw.startswith("@@"):
            m = re.search(r"\+(\d+)", raw)
            line_no = int(m.group(1)) if m else 0
        elif raw.startswith("+") and current is not None:
            current[line_no] = raw[1:]
            line_no += 1
    return files


def add_worktree(repo: Path, dest: Path, sha: str) -> None:
    """A detached worktree of `sha` at `dest`; the user's HEAD, index and files stay as they are."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    git(repo, "worktree", "add", "--detach", "--force", str(dest), sha, timeout=600)


def remove_worktree(repo: Path, dest: Path) -> None:
    # only TFactory's own worktree: no `git worktree prune`, which would also drop the
    # records of the user's worktrees that happen to be unmounted
    if is_repository(repo):
        git(repo, "worktree", "remove", "--force", str(dest), check=False)


# Transports TFactory may use for repositories it clones itself (TFACTORY_GIT_PROTOCOLS).
# `ext::` and friends run commands and are never allowed; `file` (file:// URLs and host
# paths) reads the host's disk, so it is only on where an operator lists it.
KNOWN_PROTOCOLS = ("https", "ssh", "git", "http", "file")
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+$")


def url_problem(url: object, protocols: tuple[str, ...] | list[str]) -> str | None:
    """Why `url` cannot be cloned by TFactory with these transports allowed, or None."""
    if not isinstance(url, str) or not url.strip():
        return "git_url is empty"
    if url.startswith("-") or any(c in url for c in "\0\n\r \t"):
        return f"git_url {url!r} is not a repository URL"
    parts = urlsplit(url)
    scheme = "ssh" if _SCP_LIKE.match(url) else parts.scheme.lower()
    if not scheme and url.startswith("/"):
        scheme = "file"
    if scheme not in KNOWN_PROTOCOLS:
        return f"git_url {url!r} uses an unsupported transport; use one of " + ", ".join(
            f"{p}://" for p in protocols
        )
    if scheme not in protocols:
        if scheme == "file":
            return (
                f"git_url {url!r} is a path on the TFactory host; local repositories are "
                "cloned only when TFACTORY_GIT_PROTOCOLS includes file (or register the "
                "project with its repo_path)"
            )
        return f"git_url {url!r}: the {scheme} transport is off here (TFACTORY_GIT_PROTOCOLS)"
    if scheme == "file" or _SCP_LIKE.match(url):
        return None
    # ssh://git@host names an account; anything else in the userinfo (a password, or an
    # https user name, where GitHub takes tokens) is a secret
    if parts.password or (parts.username and scheme in ("http", "https")):
        # it would be stored with the project and show in every git error message
        return (
            "git_url carries credentials; give the URL without them and configure a git "
            "credential helper (or an SSH key) for the user TFactory runs as"
        )
    if not parts.hostname:
        return f"git_url {url!r} has no host"
    return None


def _remote(args: tuple[str, ...], cwd: Path, protocols: Sequence[str], timeout: float) -> None:
    allow = tuple(x for p in protocols for x in ("-c", f"protocol.{p}.allow=always"))
    proc = subprocess.run(
        ["git", *SAFE_CONFIG, *allow, *args],
        cwd=cwd,
        capture_output=True,
        env=_env(),
        timeout=timeout,
    )
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", errors="replace").strip().splitlines()
        raise GitError(err[-1] if err else f"git {args[0]} failed ({proc.returncode})")


def clone_bare(url: str, dest: Path, protocols: Sequence[str], *, timeout: float = 1800) -> None:
    """A bare clone whose branches are local branches (refs/heads/*), for worktrees."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    _remote(("clone", "--bare", "--quiet", "--", url, str(dest)), dest.parent, protocols, timeout)


def fetch_all(repo: Path, protocols: Sequence[str], *, timeout: float = 1800) -> None:
    """Bring a bare clone's branches level with its origin (deleted branches go too)."""
    _remote(
        ("-C", str(repo), "fetch", "--quiet", "--prune", "origin", "+refs/heads/*:refs/heads/*"),
        repo,
        protocols,
        timeout,
    )


def branches(repo: Path) -> list[str]:
    out = git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/", timeout=60)
    return [line for line in out.splitlines() if line]


def numstat(repo: Path, base_sha: str, head_sha: str) -> list[tuple[int | None, int | None, str]]:
    """(added, deleted, path) per changed file; None counts for binary files."""
    out = git(repo, "diff", "--numstat", "-M", "--no-color", base_sha, head_sha, timeout=300)
    rows = []
    for line in out.splitlines():
        added, deleted, path = line.split("\t", 2)
        rows.append(
            (int(added) if added != "-" else None, int(deleted) if deleted != "-" else None, path)
        )
    return rows


def checked_out_at(repo: Path, branch: str) -> list[Path]:
    """The worktrees (the user's checkout among them) that have `branch` checked out."""
    out = git(repo, "worktree", "list", "--porcelain", timeout=60)
    paths, current = [], None
    for line in out.splitlines():
        if line.startswith("worktree "):
            current = Path(line[len("worktree ") :])
        elif line == f"branch refs/heads/{branch}" and current is not None:
            paths.append(current)
    return paths


def remote_url(repo: Path, name: str) -> str | None:
    """The URL `git push <name>` would push to (pushurl first), or None for no such remote."""
    for key in (f"remote.{name}.pushurl", f"remote.{name}.url"):
        proc = _run(repo, ("config", "--get", key), 60)
        value = proc.stdout.decode(errors="replace").strip()
        if proc.returncode == 0 and value:
            return value
    return None


class PushRejected(GitError):
    """The remote refused the push; the message says why (its hook's words included)."""


def push(
    repo: Path,
    url: str,
    sha: str,
    branch: str,
    protocols: Sequence[str],
    *,
    timeout: float = 600,
) -> None:
    """Push `sha` to `branch` at `url` — never forced, so the remote refuses to lose a
    commit it has that `sha` does not (a non-fast-forward). Pushing to the URL, not to a
    remote's name, runs no receive-pack command from the repository's configuration."""
    allow = tuple(x for p in protocols for x in ("-c", f"protocol.{p}.allow=always"))
    proc = subprocess.run(
        ["git", *SAFE_CONFIG, *allow, "-C", str(repo), "push", "--porcelain",
         "--", url, f"{sha}:refs/heads/{branch}"],
        capture_output=True,
        env=_env(),
        timeout=timeout,
    )  # fmt: skip
    if proc.returncode == 0:
        return
    out = proc.stdout.decode("utf-8", errors="replace")
    err = proc.stderr.decode("utf-8", errors="replace")
    # porcelain: "!<TAB>from:to<TAB>[rejected] (non-fast-forward)"; a hook's own words
    # come back on stderr as "remote: ..." lines
    refused = [line.split("\t")[-1] for line in out.splitlines() if line.startswith("!")]
    said = [
        line[len("remote:") :].strip()
        for line in err.splitlines()
        if line.startswith("remote:") and line[len("remote:") :].strip()
    ]
    if refused:
        reason = refused[0]
        if said:
            reason += ": " + " / ".join(said[:3])
        raise PushRejected(reason)
    lines = [line.strip() for line in err.splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
    raise GitError((fatal or lines or [f"git push failed ({proc.returncode})"])[0])
