"""The task's folder on disk, in the layout of DESIGN.md.

$TFACTORY_HOME/workspaces/{project_id}/specs/{spec_id}/
    task.md  test_plan.json  report.md  report.json
    context/  source.json aifactory_spec.md aifactory_plan.json requirements.json
              diff.patch project_analysis.json
    tests/functional/   generated candidates
    findings/           lane findings
    runs/               raw results of every sandboxed run (JSON)
    logs/               one log per stage
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings


class Runs:
    """The names of the files in runs/: what each stage leaves for the next ones."""

    SETUP = "setup.json"  # the project's set-up, when it failed (generator)
    SETUP_ALSO = "setup_also.json"  # other groups the suite needs after all (executor)
    BASELINE = "baseline.json"  # the existing suite's run under coverage (executor)
    INDEX = "index.json"  # which runs the executor made (executor)
    GENERATION = "generation.json"  # what each engine or model subtask produced (generator)
    FEEDBACK = "feedback.json"  # the evaluator's request for another round (model mode)
    COVERAGE = "coverage.json"  # changed-line coverage before and after (evaluator)
    MUTATION = "mutation.json"  # the kill matrix (mutation lane)
    MUTATION_SUMMARY = "mutation_summary.json"  # the mutation gate's figures (evaluator)
    JUDGE = "judge.json"  # the model judge's relevance ratings
    SUMMARY = "summary.json"  # the model's summary of the report (triager)
    DELIVERY = "delivery.json"  # what delivery did, step by step


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def for_spec(cls, project_id: str, spec_id: str) -> Workspace:
        return cls(workspaces_root() / project_id / "specs" / spec_id)

    @property
    def context(self) -> Path:
        return self.root / "context"

    @property
    def tests(self) -> Path:
        return self.root / "tests"

    @property
    def findings(self) -> Path:
        return self.root / "findings"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def task_md(self) -> Path:
        return self.root / "task.md"

    @property
    def test_plan(self) -> Path:
        return self.root / "test_plan.json"

    @property
    def report_md(self) -> Path:
        return self.root / "report.md"

    @property
    def report_json(self) -> Path:
        return self.root / "report.json"

    def create(self) -> None:
        for sub in (self.context, self.tests / "functional", self.findings, self.runs, self.logs):
            sub.mkdir(parents=True, exist_ok=True)

    def rel(self, path: Path) -> str:
        """A path relative to the task's folder, as report.json wants it."""
        return Path(path).resolve().relative_to(self.root.resolve()).as_posix()


def workspaces_root() -> Path:
    return Path(settings.TFACTORY_HOME) / "workspaces"


def worktrees_root() -> Path:
    return Path(settings.TFACTORY_HOME) / "worktrees"


def scratch_root() -> Path:
    return Path(settings.TFACTORY_HOME) / "scratch"


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically: readers never see a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    os.replace(tmp, path)


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def snapshot(src: Path | None, dest: Path, text: str | None = None) -> None:
    """Copy a spec file into context/ and make the copy read-only."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if text is not None:
        dest.write_text(text)
    else:
        assert src is not None
        shutil.copyfile(src, dest)
    dest.chmod(0o444)


def archive_previous(ws: Workspace, previous_task_id: int | None) -> Path | None:
    """Move an earlier run's folder aside so a new run starts clean and nothing is lost."""
    if not ws.root.exists():
        return None
    project_dir = ws.root.parent.parent
    label = f"task-{previous_task_id}" if previous_task_id else "unknown"
    dest = project_dir / "archive" / ws.root.name / label
    n = 1
    while dest.exists():
        n += 1
        dest = dest.with_name(f"{label}-{n}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    # read-only snapshots must stay movable: rename does not need write permission on them
    ws.root.rename(dest)
    return dest
