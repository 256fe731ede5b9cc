"""What every sandboxed step of a task shares: mounts, environment, scratch space.

The worktree is mounted read-only. The task's scratch folder itself is host-only:
sandboxed runs get writable access only to `home/`, to the executor's `repo/` copy
and to a fresh, empty output folder per run (`out/<label>-<n>/`); control files the
host writes for a run live in `ctl/`, mounted read-only. Whatever a run leaves in a
writable folder (including symlinks planted to trick the host) is read back only
through safe_fs. Nothing from TFactory's own environment is passed in.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from agents_app.env.languages import tools_for
from agents_app.env.project import ProjectEnvCancelled, ProjectEnvError, ensure_project_env
from agents_app.env.tools import ensure_tool_env
from agents_app.pipeline.context import Cancelled, StageContext, StageError
from agents_app.sandbox import Mount, RunResult, SandboxError
from agents_app.sandbox.base import RUNNER_SIDE
from tasks_app.core import git, safe_fs
from tasks_app.core.redaction import redact
from tasks_app.core.workspace import (
    Runs,
    Workspace,
    read_json,
    scratch_root,
    worktrees_root,
    write_json,
)
from tasks_app.models import Task

BOOT = RUNNER_SIDE / "boot"


def ensure_worktree(task: Task) -> Path:
    """The task's detached worktree at head_sha, recreated if it was released."""
    path = Path(task.worktree) if task.worktree else None
    if path and (path / ".git").exists():
        return path
    path = worktrees_root() / f"task-{task.pk}"
    if path.exists():
        git.remove_worktree(task.project.repo, path)
        shutil.rmtree(path, ignore_errors=True)
    git.add_worktree(task.project.repo, path, task.head_sha)
    Task.objects.filter(pk=task.pk).update(worktree=str(path))
    task.worktree = str(path)
    return path


SCRATCH_MOUNTS = ("home", "out", "ctl", "repo")


def clear_dir(path: Path) -> None:
    """Empty a folder but keep it (a Docker container may have it bind-mounted)."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
        path.mkdir()
        return
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)  # removes links inside without following them
            else:
                os.unlink(entry.path)


def task_scratch(task: Task, sandbox: Any = None) -> Path:
    """The task's scratch folder with empty home/, out/, ctl/ and repo/: nothing a
    previous stage's sandboxed code left in a writable folder survives into this one.
    The folders themselves stay, so a task's container keeps seeing them."""
    path = scratch_root() / f"task-{task.pk}"
    path.mkdir(parents=True, exist_ok=True)
    for sub in SCRATCH_MOUNTS:
        (path / sub).mkdir(exist_ok=True)
        clear_dir(path / sub)
    (path / "home" / "tmp").mkdir()
    if sandbox is not None:
        for sub in ("home", "out", "repo"):
            sandbox.prepare_writable(path / sub)
    return path


def instance_id() -> str:
    """Tells this TFactory installation's sandbox sessions from another's on one daemon
    (a test database and a dev server both have a task 1)."""
    home = str(Path(settings.TFACTORY_HOME).resolve())
    return hashlib.sha256(home.encode()).hexdigest()[:8]


def session_key(task_id: int) -> str:
    return f"{instance_id()}-task-{task_id}"


def task_of_session(key: str) -> int | None:
    """The task id of one of this installation's session keys, else None."""
    prefix = f"{instance_id()}-task-"
    if not key.startswith(prefix) or not key[len(prefix) :].isdigit():
        return None
    return int(key[len(prefix) :])


def release_scratch(task: Task) -> None:
    shutil.rmtree(scratch_root() / f"task-{task.pk}", ignore_errors=True)


def setup_also(ws: Workspace) -> list[str]:
    """The project's other dependency groups its suite turned out to need (by origin)."""
    path = ws.runs / Runs.SETUP_ALSO
    return list(read_json(path)) if path.exists() else []


def package_root(task: Task) -> str:
    """The folder of the package under test (a monorepo's sub-project), from the analysis."""
    analysis_file = Path(task.workspace) / "context" / "project_analysis.json"
    if analysis_file.exists():
        return str(read_json(analysis_file).get("package_root") or ".")
    return "."


def import_roots(task: Task) -> list[str]:
    analysis_file = Path(task.workspace) / "context" / "project_analysis.json"
    roots = ["."]
    if analysis_file.exists():
        roots = read_json(analysis_file).get("import_roots") or ["."]
    return roots


@dataclass
class ToolEnvRef:
    """A tool's venv as a run sees it, and what must be mounted for it."""

    name: str
    path: Path
    mounts: list[Mount]

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


@dataclass
class TaskRuntime:
    """Runs commands for one task in its sandbox session, with the standard mounts.

    One session per task: the Docker backend keeps a single container for all of the
    task's runs, so the mounts are fixed when the session opens; a run's own output
    and control folders live inside them (out/ and ctl/).
    """

    task: Task
    sandbox: Any
    worktree: Path
    scratch: Path
    project_env: Any = None
    cancel: Any = None
    _session: Any = None
    _tools: dict[str, ToolEnvRef] = field(default_factory=dict)

    @property
    def runner_side(self) -> Path:
        return self.sandbox.builtin_runner_side() or RUNNER_SIDE

    @property
    def boot(self) -> Path:
        return self.runner_side / "boot"

    def roots_in(self, base: Path) -> list[Path]:
        return [(base / r).resolve() for r in import_roots(self.task)]

    def tool(self, name: str, emit: Any = None) -> ToolEnvRef:
        """The tool's venv: the sandbox's own (Docker image) or TFactory's host venv."""
        if name not in self._tools:
            builtin = self.sandbox.builtin_tool(name)
            if builtin is not None:
                self._tools[name] = ToolEnvRef(name, Path(builtin), [])
            else:
                env = ensure_tool_env(name, emit=emit or (lambda m: None))
                self._tools[name] = ToolEnvRef(name, env.path, [Mount(env.path)])
        return self._tools[name]

    def out_dir(self, label: str) -> Path:
        """A new, empty folder for one run's output. The name is unpredictable, so an
        earlier run cannot prepare it; mkdir fails if anything is there already."""
        path = self.scratch / "out" / f"{_slug(label)}-{uuid.uuid4().hex[:12]}"
        path.mkdir()
        self.sandbox.prepare_writable(path)
        return path

    def ctl_dir(self, label: str) -> Path:
        """A new folder for files the host prepares for a run; read-only in the sandbox."""
        path = self.scratch / "ctl" / f"{_slug(label)}-{uuid.uuid4().hex[:12]}"
        path.mkdir()
        return path

    def mounts(self) -> list[Mount]:
        mounts = [
            Mount(self.worktree, writable=False),
            Mount(self.scratch / "home", writable=True),
            Mount(self.scratch / "out", writable=True),
            Mount(self.scratch / "ctl", writable=False),
            Mount(self.scratch / "repo", writable=True),
        ]
        if self.sandbox.builtin_runner_side() is None:
            mounts.append(Mount(RUNNER_SIDE, writable=False))
        if self.project_env is not None:
            mounts.append(Mount(Path(self.project_env.path), writable=False))
            if getattr(self.project_env, "python_prefix", None):
                # another of the host's Pythons (bubblewrap): its installation, read-only
                mounts.append(Mount(Path(self.project_env.python_prefix), writable=False))
        for name in tools_for("python").tool_envs:
            if name in self._tools:  # the tools this stage resolved before its first run
                mounts += self._tools[name].mounts
        return mounts

    @property
    def session(self) -> Any:
        if self._session is None:
            self._session = self.sandbox.session(
                session_key(self.task.pk),
                mounts=self.mounts(),
                labels={"org.tfactory.project": self.task.project_id},
            )
        return self._session

    def env(self, pythonpath: Sequence[Path] = (), **extra: str) -> dict[str, str]:
        env = {
            "HOME": str(self.scratch / "home"),
            "TMPDIR": str(self.scratch / "home" / "tmp"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": ":".join(str(p) for p in [*pythonpath, self.runner_side]),
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
    ) -> RunResult:
        return self.session.run(
            [str(a) for a in argv],
            workdir=workdir,
            env=env,
            timeout_s=timeout_s,
            cancel=self.cancel,
            extra_mounts=list(mounts),
        )


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in label)[:80]


def copy_tree(src: Path, dest: Path) -> None:
    """A writable copy of the worktree, without its .git pointer file, into `dest`
    (emptied first, kept as the same folder)."""
    dest.mkdir(parents=True, exist_ok=True)
    clear_dir(dest)
    shutil.copytree(
        src, dest, symlinks=True, ignore=shutil.ignore_patterns(".git"), dirs_exist_ok=True
    )


def engine_budget(task: Task) -> int:
    return int(task.options.get("engine_budget_s", settings.TFACTORY_ENGINE_BUDGET_S))


class SetupFailed(StageError):
    """The project could not be set up (a dependency would not install). Not a crash: the
    task goes on without tests of its own, and every face says the figures are unknown."""

    def __init__(self, message: str, *, package: str | None = None, reason: str | None = None):
        super().__init__(message)
        self.package = package
        self.reason = reason

    def record(self) -> dict[str, Any]:
        """runs/setup.json: what failed, in one sentence, and pip's words."""
        if self.package:
            what = f": pip could not install {self.package} ({self.reason})"
        else:
            what = f": {self.reason}" if self.reason else ""
        return {
            "status": "failed",
            "package": self.package,
            "reason": self.reason,
            "sentence": f"the project could not be set up{what}",
            "error": redact(str(self))[-4000:],
        }


def build_runtime(ctx: StageContext) -> TaskRuntime:
    """Worktree, scratch, sandbox and the project's cached environment for a stage."""
    task = ctx.task
    worktree = ensure_worktree(task)
    try:
        sandbox = ctx.sandbox
    except SandboxError as exc:
        raise StageError(str(exc)) from exc
    if task.sandbox != sandbox.describe():
        task.sandbox = sandbox.describe()
        Task.objects.filter(pk=task.pk).update(sandbox=task.sandbox)
    rt = TaskRuntime(
        task=task,
        sandbox=sandbox,
        worktree=worktree,
        scratch=task_scratch(task, sandbox),
        cancel=ctx.cancel,
    )
    try:
        rt.project_env = ensure_project_env(
            worktree,
            sandbox,
            Path(settings.TFACTORY_CACHE_DIR),
            emit=ctx.emit,
            project=task.project_id,
            cancel=ctx.cancel,
            root=package_root(task),
            also=setup_also(ctx.ws),
        )
    except ProjectEnvCancelled as exc:
        raise Cancelled() from exc
    except ProjectEnvError as exc:
        raise SetupFailed(
            f"the project's dependencies could not be installed: {exc}",
            package=exc.package,
            reason=exc.reason,
        ) from exc
    laid = overlay_generated(worktree, rt.project_env.generated)
    if laid:
        ctx.emit(f"laid the build's generated file(s) over the worktree: {', '.join(laid)}")
    record_setup(ctx.ws.context / "project_analysis.json", rt.project_env.setup)
    return rt


def overlay_generated(worktree: Path, generated: dict[str, str]) -> list[str]:
    """Write the files the project's build generates (a version module from git) into
    TFactory's own worktree, where the checkout lacks them: tests import the checkout,
    and would fail on `import pkg._version` otherwise. Never over a file the branch has,
    never through a link, never into a folder the branch does not have."""
    laid = []
    for rel, text in sorted(generated.items()):
        parent = str(Path(rel).parent)
        try:
            if safe_fs.is_regular_file(worktree, rel) or (worktree / rel).is_symlink():
                continue
            safe_fs.list_files(worktree, parent)  # the folder exists and is no link
            safe_fs.write_text(worktree, rel, text)
        except OSError:
            continue
        laid.append(rel)
    return laid


def record_setup(analysis_file: Path, setup: dict[str, Any]) -> None:
    """project_analysis.json's `setup`: what was installed from where, with which Python,
    and what was skipped and why."""
    if not setup or not analysis_file.exists():
        return
    data = read_json(analysis_file)
    if data.get("setup") != setup:
        data["setup"] = setup
        write_json(analysis_file, data)
