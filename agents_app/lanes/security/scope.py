"""What the security lanes look at: the branch's changed files, on the feature branch and
on the base, copied into folders of their own.

The tools never read the worktree itself: every file they scan is a regular file copied
through safe_fs (a link in the branch is skipped, never followed) or written from a git
blob, under the lane's own scratch folder. Files of the base are written at their
path on the branch (a renamed file's old content under its new name), so findings on
both sides are comparable.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from agents_app.spec.changes import ChangedFile, changed_lines
from tasks_app.core import git, safe_fs
from tasks_app.core.workspace import Workspace
from tasks_app.models import Task

MAX_FILE = 1_000_000


@dataclass
class Scope:
    task: Task
    repo: Path
    worktree: Path
    base_sha: str
    head_sha: str
    changed: dict[str, ChangedFile]
    work: Path
    skipped: list[str] = field(default_factory=list)  # "path: why"

    @classmethod
    def of(cls, task: Task, worktree: Path, work: Path) -> Scope:
        ws = Workspace(task.workspace_path)
        diff = (ws.context / "diff.patch").read_text(encoding="utf-8", errors="replace")
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        return cls(
            task=task,
            repo=task.project.repo,
            worktree=worktree,
            base_sha=task.base_sha,
            head_sha=task.head_sha,
            changed=changed_lines(diff),
            work=work,
        )

    def head_paths(self) -> list[str]:
        """Changed files that exist on the branch, as text."""
        return sorted(p for p, f in self.changed.items() if f.status != "deleted" and not f.binary)

    def copy_head(self, paths: list[str], dest: Path) -> list[str]:
        """Copy the branch's versions of `paths` under `dest`; returns those copied."""
        dest.mkdir(parents=True, exist_ok=True)
        copied = []
        for rel in paths:
            try:
                data = safe_fs.read_bytes(self.worktree, rel, limit=MAX_FILE)
            except safe_fs.UnsafePath as exc:
                self.skipped.append(f"{rel}: {exc}")
                continue
            except (OSError, ValueError) as exc:
                self.skipped.append(f"{rel}: not read ({exc})")
                continue
            if b"\0" in data[:8192]:
                continue  # binary
            safe_fs.write_bytes(dest, rel, data)
            copied.append(rel)
        return copied

    def copy_base(self, paths: list[str], dest: Path) -> list[str]:
        """Write the base's versions of `paths` (by their old name when renamed) under
        `dest` at their branch paths; returns those that existed on the base."""
        dest.mkdir(parents=True, exist_ok=True)
        copied = []
        for rel in paths:
            change = self.changed.get(rel)
            if change is not None and change.status == "added":
                continue
            old = (change.old_path if change is not None else None) or rel
            data = git.blob(self.repo, self.base_sha, old, limit=MAX_FILE)
            if data is None or b"\0" in data[:8192]:
                continue
            safe_fs.write_bytes(dest, rel, data)
            copied.append(rel)
        return copied
