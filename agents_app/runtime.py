"""What every sandboxed step of a task shares: mounts, environment, scratch space.

The worktree is mounted read-only. The task's scratch folder itself is host-only:
sandboxed runs get writable access only to `home/`, to the executor's `repo/` copy
and to a fresh, empty output folder per run (`out/<label>-<n>/`); control files the
host writes for a run live in `ctl/`, mounted read-only. Whatever a run leaves in a
writable folder (including symlinks planted to trick the host) is read back only
through safe_fs. Nothing from TFactory's own environment is passed in.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from agents_app.sandbox import Mount, RunResult
from tasks_app import git
from tasks_app.models import Task
from tasks_app.workspace import read_json, scratch_root

RUNNER_SIDE = Path(__file__).resolve().parent / "runner_side"
BOOT = RUNNER_SIDE / "boot"


def ensure_worktree(task: Task) -> Path:
    """The task's detached worktree at head_sha, recreated if it was released."""
    path = Path(task.worktree) if task.worktree else None
    if path and (path / ".git").exists():
        return path
    from tasks_app.workspace import worktrees_root

    path = worktrees_root() / f"task-{task.pk}"
    if path.exists():
        git.remove_worktree(task.project.repo, path)
        shutil.rmtree(path, ignore_errors=True)
    git.add_worktree(task.project.repo, path, task.head_sha)
    Task.objects.filter(pk=task.pk).update(worktree=str(path))
    task.worktree = str(path)
    return path


def task_scratch(task: Task) -> Path:
    """The task's scratch folder with a fresh home/: nothing a previous stage's
    sandboxed code left in a writable folder survives into this stage."""
    path = scratch_root() / f"task-{task.pk}"
    path.mkdir(parents=True, exist_ok=True)
    for sub in ("home", "out", "ctl"):
        # rmtree removes links without following them
        shutil.rmtree(path / sub, ignore_errors=True)
        (path / sub).mkdir()
    (path / "home" / "tmp").mkdir()
    return path


def release_scratch(task: Task) -> None:
    shutil.rmtree(scratch_root() / f"task-{task.pk}", ignore_errors=True)


def import_roots(task: Task) -> list[str]:
    analysis_file = Path(task.workspace) / "context" / "project_analysis.json"
    roots = ["."]
    if analysis_file.exists():
        roots = read_json(analysis_file).get("import_roots") or ["."]
    return roots


_counter = itertools.count(1)


@dataclass
class TaskRuntime:
    """Runs commands for one task in its sandbox with the standard mounts and env."""

    task: Task
    sandbox: Any
    worktree: Path
    scratch: Path
    project_env: Any = None
    cancel: Any = None
    extra_mounts: list[Mount] = field(default_factory=list)

    def roots_in(self, base: Path) -> list[Path]:
        return [(base / r).resolve() for r in import_roots(self.task)]

    def out_dir(self, label: str) -> Path:
        """A new, empty folder for one run's output, mounted writable for that run."""
        path = self.scratch / "out" / f"{_slug(label)}-{next(_counter)}"
        path.mkdir()
        return path

    def ctl_dir(self, label: str) -> Path:
        """A new folder for files the host prepares for a run; mounted read-only."""
        path = self.scratch / "ctl" / f"{_slug(label)}-{next(_counter)}"
        path.mkdir()
        return path

    def mounts(self, extra: Sequence[Mount] = ()) -> list[Mount]:
        mounts = [
            Mount(self.worktree, writable=False),
            Mount(self.scratch / "home", writable=True),
            Mount(RUNNER_SIDE, writable=False),
        ]
        if self.project_env is not None:
            mounts.append(Mount(Path(self.project_env.path), writable=False))
        return mounts + list(self.extra_mounts) + list(extra)

    def env(self, pythonpath: Sequence[Path] = (), **extra: str) -> dict[str, str]:
        env = {
            "HOME": str(self.scratch / "home"),
            "TMPDIR": str(self.scratch / "home" / "tmp"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": ":".join(str(p) for p in [*pythonpath, RUNNER_SIDE]),
        }
        env.update(extra)
        return env

    def run(
        self,
        argv: Sequence[str],
        *,
        workdir: Path,
        timeout_s: float,
        env: dict[str, str],
        mounts: Sequence[Mount] = (),
        network: bool = False,
    ) -> RunResult:
        return self.sandbox.run(
            [str(a) for a in argv],
            mounts=self.mounts(mounts),
            workdir=workdir,
            env=env,
            timeout_s=timeout_s,
            network=network,
            cancel=self.cancel,
        )


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in label)[:80]


def copy_tree(src: Path, dest: Path) -> None:
    """A writable copy of the worktree, without its .git pointer file."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest, symlinks=True, ignore=shutil.ignore_patterns(".git"))


def engine_budget(task: Task) -> int:
    return int(task.options.get("engine_budget_s", settings.TFACTORY_ENGINE_BUDGET_S))
