"""Small projects the tests generate: a git repository with `main` and a feature branch,
handed over through the real command line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from django.core.management import CommandError, call_command

from tasks_app import services


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def write_files(root: Path, files: dict[str, str | None]) -> None:
    for rel, content in files.items():
        path = root / rel
        if content is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def make_project(
    root: Path, base: dict[str, str], feature: dict[str, str | None], branch: str = "feature/x"
) -> Path:
    """A repository whose `main` holds `base` and whose `branch` adds `feature` on top."""
    repo = root / "repo"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "dev@example.com")
    git(repo, "config", "user.name", "Dev")
    write_files(repo, base)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "checkout", "-q", "-b", branch)
    write_files(repo, feature)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "feature")
    git(repo, "checkout", "-q", "main")
    return repo


def hand_over(
    repo: Path, spec: str, *args: str, project: str = "proj", branch: str = "feature/x"
) -> tuple[int, dict, str]:
    """`manage.py tfactory_run` on the project: (exit status, report.json, stdout)."""
    import io

    out = io.StringIO()
    status = 0
    try:
        call_command(
            "tfactory_run", "--repo", str(repo), "--project", project, "--spec", "s1",
            "--branch", branch, "--base", "main", "--spec-text", spec, "--no-deliver",
            "--quiet", *args, stdout=out,
        )  # fmt: skip
    except CommandError as exc:
        status = exc.returncode
        out.write(f"\nCommandError: {exc}")
    task = services.list_tasks(project_id=project, limit=1)[0][0]
    report_path = Path(task.workspace) / "report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    return status, report, out.getvalue()
