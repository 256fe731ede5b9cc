#!/usr/bin/env python3
"""Turn a bundled example project into a git repository with a feature branch.

An example lives in ``examples/<name>/``:

- ``base/``           the whole tree of the ``main`` branch
- ``feature/``        an overlay: the files the feature branch adds or changes
- ``spec/<spec_id>/`` the AIFactory-style spec of the feature (spec.md, plans)

The script commits ``base/`` on ``main``, branches ``feature/<slug>`` off it (the slug is
the spec id without its number: ``001-discount-codes`` -> ``discount-codes``), copies the
overlay and commits it, then checks ``main`` out again. Author, committer and dates are
fixed, and the user's global git configuration is ignored, so the commit SHAs are the
same on every machine. With ``--aifactory-root`` the spec folder is also copied to
``<root>/<project_id>/specs/<spec_id>/``, where AIFactory keeps its specs.

On success it prints one JSON object on stdout:
{"repo", "base_ref", "branch", "spec_id", "project_id", "spec_dir", "base_sha", "head_sha"}.
``spec_dir`` is the copied spec folder, or the example's own one without ``--aifactory-root``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parent
DEFAULT_EXAMPLE = "billable"
BASE_REF = "main"

AUTHOR_NAME = "Billable Dev"
AUTHOR_EMAIL = "dev@billable.example"
BASE_DATE = "2025-01-06T09:00:00+00:00"
FEATURE_DATE = "2025-01-08T16:30:00+00:00"
PLANTED_DATE = "2025-01-09T11:00:00+00:00"

SLUG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
IGNORED = shutil.ignore_patterns(
    "__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache", ".coverage", "*.egg-info"
)


class ExampleError(Exception):
    """A problem the user can fix; printed without a traceback."""


def _is_slug(value: str) -> bool:
    return bool(SLUG_RE.match(value)) and ".." not in value


def _git_env(date: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            # Ignore ~/.gitconfig and /etc/gitconfig: hooks, signing or templates there
            # would change the commits (or fail them on a machine without keys).
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": AUTHOR_NAME,
            "GIT_AUTHOR_EMAIL": AUTHOR_EMAIL,
            "GIT_AUTHOR_DATE": date,
            "GIT_COMMITTER_NAME": AUTHOR_NAME,
            "GIT_COMMITTER_EMAIL": AUTHOR_EMAIL,
            "GIT_COMMITTER_DATE": date,
        }
    )
    return env


def _git(repo: Path, *args: str, date: str = BASE_DATE) -> str:
    try:
        result = subprocess.run(
            ["git", "-C", str(repo), *args],
            env=_git_env(date),
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        raise ExampleError("git is not installed or not on PATH") from None
    if result.returncode != 0:
        raise ExampleError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def _find_spec(example_dir: Path, spec_id: str | None) -> Path:
    spec_root = example_dir / "spec"
    candidates = sorted(p for p in spec_root.iterdir() if p.is_dir()) if spec_root.is_dir() else []
    if spec_id is not None:
        chosen = spec_root / spec_id
        if chosen not in candidates:
            raise ExampleError(f"no spec {spec_id!r} in {spec_root}")
        return chosen
    if len(candidates) != 1:
        names = ", ".join(p.name for p in candidates) or "none"
        raise ExampleError(
            f"expected one spec folder in {spec_root} (found: {names}); use --spec-id"
        )
    return candidates[0]


def _check_destination(dest: Path) -> None:
    if dest.exists() and not dest.is_dir():
        raise ExampleError(f"destination {dest} exists and is not a directory")
    if dest.is_dir() and any(dest.iterdir()):
        raise ExampleError(
            f"destination {dest} is not empty; pass a new or empty directory "
            "(the script never overwrites an existing repository)"
        )


def _commit_all(repo: Path, message: str, date: str) -> str:
    _git(repo, "add", "--all", date=date)
    _git(repo, "commit", "--quiet", "--no-verify", "--message", message, date=date)
    return _git(repo, "rev-parse", "HEAD", date=date)


def build(
    example: str,
    dest: Path,
    *,
    spec_id: str | None = None,
    project_id: str | None = None,
    aifactory_root: Path | None = None,
    planted: bool = False,
) -> dict:
    """Build the example repository at ``dest`` and return what the script prints."""
    example_dir = EXAMPLES_DIR / example
    base_dir, overlay_dir = example_dir / "base", example_dir / "feature"
    if not _is_slug(example) or not base_dir.is_dir() or not overlay_dir.is_dir():
        raise ExampleError(
            f"{example!r} is not an example: expected {example_dir}/base and /feature"
        )
    spec_dir = _find_spec(example_dir, spec_id)
    spec_id = spec_dir.name
    project_id = project_id or example
    if not _is_slug(project_id):
        raise ExampleError(
            f"project id must be a slug (letters, digits, . _ -), got {project_id!r}"
        )
    slug = re.sub(r"^\d+-", "", spec_id)
    branch = f"feature/{slug}"

    dest = dest.expanduser().resolve()
    _check_destination(dest)
    dest.mkdir(parents=True, exist_ok=True)

    _git(dest, "init", "--quiet")
    _git(dest, "symbolic-ref", "HEAD", f"refs/heads/{BASE_REF}")
    # Per-repository identity, so later commits in this repository (and its worktrees)
    # work on a machine where git was never configured.
    _git(dest, "config", "user.name", AUTHOR_NAME)
    _git(dest, "config", "user.email", AUTHOR_EMAIL)

    shutil.copytree(base_dir, dest, dirs_exist_ok=True, ignore=IGNORED)
    base_sha = _commit_all(dest, f"Import {example}", BASE_DATE)

    _git(dest, "checkout", "--quiet", "-b", branch, date=FEATURE_DATE)
    shutil.copytree(overlay_dir, dest, dirs_exist_ok=True, ignore=IGNORED)
    title = (spec_dir / "spec.md").read_text(encoding="utf-8").splitlines()[0]
    title = title.removeprefix("#").strip().removeprefix("Specification:").strip()
    head_sha = _commit_all(dest, f"{title}\n\nSpec: {spec_id}", FEATURE_DATE)
    _git(dest, "checkout", "--quiet", BASE_REF)

    spec_out = _copy_spec(spec_dir, aifactory_root, project_id)
    extra = {}
    if planted:
        extra["planted"] = _planted_branch(example_dir, dest, aifactory_root, project_id)

    return {
        "repo": str(dest),
        "base_ref": BASE_REF,
        "branch": branch,
        "spec_id": spec_id,
        "project_id": project_id,
        "spec_dir": str(spec_out),
        "base_sha": base_sha,
        "head_sha": head_sha,
        **extra,
    }


def _copy_spec(spec_dir: Path, aifactory_root: Path | None, project_id: str) -> Path:
    if aifactory_root is None:
        return spec_dir
    spec_out = aifactory_root.expanduser().resolve() / project_id / "specs" / spec_dir.name
    shutil.copytree(spec_dir, spec_out, dirs_exist_ok=True, ignore=IGNORED)
    return spec_out


def _planted_branch(
    example_dir: Path, dest: Path, aifactory_root: Path | None, project_id: str
) -> dict[str, str]:
    """The example's second feature branch, off main, with planted security problems
    (``<example>/planted/``: ``files/`` over main, and its spec)."""
    planted = example_dir / "planted"
    if not (planted / "files").is_dir():
        raise ExampleError(f"{example_dir.name!r} has no planted branch ({planted}/files)")
    spec_dir = _find_spec(planted, None)
    slug = re.sub(r"^\d+-", "", spec_dir.name)
    branch = f"feature/{slug}"
    _git(dest, "checkout", "--quiet", "-b", branch, BASE_REF, date=PLANTED_DATE)
    shutil.copytree(planted / "files", dest, dirs_exist_ok=True, ignore=IGNORED)
    title = (spec_dir / "spec.md").read_text(encoding="utf-8").splitlines()[0]
    title = title.removeprefix("#").strip().removeprefix("Specification:").strip()
    head_sha = _commit_all(dest, f"{title}\n\nSpec: {spec_dir.name}", PLANTED_DATE)
    _git(dest, "checkout", "--quiet", BASE_REF)
    return {
        "branch": branch,
        "spec_id": spec_dir.name,
        "spec_dir": str(_copy_spec(spec_dir, aifactory_root, project_id)),
        "head_sha": head_sha,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Create a git repository (main + feature branch) from a bundled example "
        "and print its coordinates as JSON.",
    )
    parser.add_argument("dest", type=Path, help="where to create the repository (new or empty)")
    parser.add_argument(
        "--example",
        default=DEFAULT_EXAMPLE,
        help=f"example folder name (default: {DEFAULT_EXAMPLE})",
    )
    parser.add_argument("--spec-id", help="spec folder to use when the example has several")
    parser.add_argument(
        "--aifactory-root",
        type=Path,
        help="also copy the spec to DIR/<project_id>/specs/<spec_id>/, like AIFactory stores it",
    )
    parser.add_argument("--project-id", help="project id (default: the example name)")
    parser.add_argument(
        "--planted",
        action="store_true",
        help="also build the example's branch with planted security problems "
        '(<example>/planted/), reported under "planted"',
    )
    args = parser.parse_args(argv)
    try:
        result = build(
            args.example,
            args.dest,
            spec_id=args.spec_id,
            project_id=args.project_id,
            aifactory_root=args.aifactory_root,
            planted=args.planted,
        )
    except ExampleError as exc:
        print(f"make_example_repo: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
