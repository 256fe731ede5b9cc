"""The security lanes — SAST, dependencies, secrets — run by the running stage.

Each lane is one function over the branch's changes (a Scope) returning a LaneResult;
`run_lanes` runs the enabled ones in turn, each failing on its own (a crashed lane is
`failed` with its reason, the others still run), and writes each result to
findings/raw/<lane>.json. The triager merges them into the task's findings. A lane
rerun runs that lane alone; the others' results stay as they were.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

from agents_app.env.runtime import ensure_worktree
from agents_app.lanes.security import deps, sast, secrets
from agents_app.lanes.security.scope import Scope
from agents_app.lanes.security.tools import LaneResult
from agents_app.pipeline.context import Cancelled, StageContext
from tasks_app.core.lanes import SECURITY_LANES, lanes_of
from tasks_app.core.redaction import redact
from tasks_app.core.workspace import Workspace, scratch_root, write_json

log = logging.getLogger(__name__)

LANES = SECURITY_LANES


def raw_path(ws: Workspace, lane: str) -> Path:
    return ws.findings / "raw" / f"{lane}.json"


def enabled(ctx: StageContext, lane: str) -> bool:
    return lane in lanes_of(ctx.task.options)


def _runner(lane: str) -> Callable[..., LaneResult]:
    return {sast.LANE: sast.run, deps.LANE: deps.run, secrets.LANE: secrets.run}[lane]


def run_lanes(
    ctx: StageContext, *, only: str | None = None, installed: list[str] | None = None
) -> None:
    task = ctx.task
    worktree = ensure_worktree(task)
    for lane in LANES:
        if only is not None and lane != only:
            continue
        path = raw_path(ctx.ws, lane)
        if not enabled(ctx, lane):
            path.unlink(missing_ok=True)
            ctx.set_lane(lane, "skipped", "switched off for this task")
            continue
        ctx.check_cancelled()
        ctx.set_lane(lane, "running")
        work = scratch_root() / f"task-{task.pk}-security" / lane
        try:
            scope = Scope.of(task, worktree, work)
            runner = _runner(lane)
            result = (
                runner(scope, ctx.emit, installed) if lane == deps.LANE else runner(scope, ctx.emit)
            )
        except Cancelled:
            raise
        except Exception as exc:  # one lane crashing must not sink the others
            log.exception("the %s lane of task %s crashed", lane, task.pk)
            result = LaneResult(
                lane, "failed", f"crashed: {redact(f'{type(exc).__name__}: {exc}')[:300]}"
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, result.to_json())
        for note in result.notes[:20]:
            ctx.emit.warn(f"{lane}: {redact(note)[:500]}")
        ctx.set_lane(lane, result.status, redact(result.summary), findings=len(result.findings))


def load_results(ws: Workspace) -> dict[str, LaneResult]:
    """The lanes' results on disk (a lane that never ran has none)."""
    out = {}
    for lane in LANES:
        path = raw_path(ws, lane)
        try:
            out[lane] = LaneResult.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out
