"""The generating stage: candidate tests for the plan's targets.

Offline, the engines run over each changed module (agents_app/lanes/functional/offline.py);
with a model configured, the model's generator writes tests per criterion
(agents_app/lanes/functional/model.py), and the engines too when asked. In a feedback
round only the model runs, for what is still uncovered or alive. Candidates are recorded
as GeneratedTest rows with verdict "pending"; the evaluator decides.
"""

from __future__ import annotations

import shutil

from django.conf import settings

from agents_app.env.runtime import SetupFailed, build_runtime
from agents_app.lanes.functional import LANE, enabled
from agents_app.lanes.functional import model as model_gen
from agents_app.lanes.functional.offline import run_engines
from agents_app.llm.session import LLMError, TaskModel
from agents_app.models import GeneratedTest
from agents_app.pipeline.context import StageContext, StageError
from tasks_app.core.workspace import Runs, Workspace, read_json, write_json


def run(ctx: StageContext) -> None:
    """Offline engines, or the model's generator (plus the engines when asked), over the
    plan; in a feedback round, only the model, for what is still uncovered or alive."""
    task = ctx.task
    if not enabled(ctx):
        GeneratedTest.objects.filter(task=task, lane=LANE).delete()
        shutil.rmtree(ctx.ws.tests / LANE, ignore_errors=True)
        ctx.set_lane(LANE, "skipped", "switched off for this task")
        return
    feedback = take_feedback(ctx.ws)
    ctx.set_lane(LANE, "running", f"feedback round {feedback['round']}" if feedback else None)
    plan = read_json(ctx.ws.test_plan)
    out_dir = ctx.ws.tests / LANE
    record: dict = {"lane": LANE, "mode": task.mode, "round": 1, "engines": []}
    if feedback:
        record = read_json(ctx.ws.runs / Runs.GENERATION)
        record["round"] = feedback["round"]
    else:
        # a rerun starts from a clean slate for this lane
        GeneratedTest.objects.filter(task=task, lane=LANE).delete()
        shutil.rmtree(out_dir, ignore_errors=True)
        for stale in ctx.ws.runs.glob("*.json"):
            stale.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)

    if not plan.get("targets"):
        ctx.emit.warn("no changed Python symbols to generate tests for")
        write_json(ctx.ws.runs / Runs.GENERATION, record)
        return

    try:
        rt = build_runtime(ctx)
    except SetupFailed as exc:
        # not a crash: the security lanes still run, and the report says what failed
        setup = exc.record()
        write_json(ctx.ws.runs / Runs.SETUP, setup)
        write_json(ctx.ws.runs / Runs.GENERATION, {**record, "setup": setup})
        ctx.emit.warn(setup["sentence"])
        ctx.set_lane(LANE, "degraded", setup["sentence"])
        return
    total = 0
    try:
        model = TaskModel.for_task(task)
    except LLMError as exc:
        raise StageError(str(exc)) from exc
    if model is not None:
        subtasks = (
            model_gen.feedback_subtasks(plan, feedback)
            if feedback
            else model_gen.subtasks_from_plan(plan)
        )
        ctx.emit(
            f"{task.mode}: {len(subtasks)} subtask(s)"
            + (f" (feedback round {feedback['round']})" if feedback else "")
        )
        outcomes = model_gen.Generator(ctx, rt, model).run(subtasks)
        ctx.check_cancelled()
        n, flags = model_gen.store(ctx, out_dir, outcomes, record["round"])
        total += n
        section = record.setdefault("model", {"subtasks": [], "flags": {}, "partial": None})
        section["subtasks"] += [dict(o.record(), round=record["round"]) for o in outcomes]
        section["flags"].update(flags)
        stopped = next((o.stopped for o in outcomes if o.stopped), "")
        if stopped and not section["partial"]:
            section["partial"] = stopped
        section["usage"] = model.usage()
    if not feedback and (
        model is None or task.options.get("with_engines", settings.TFACTORY_LLM_WITH_ENGINES)
    ):
        engine_runs, n = run_engines(ctx, rt, plan, out_dir)
        record["engines"] = engine_runs
        total += n
    write_json(ctx.ws.runs / Runs.GENERATION, record)
    ctx.emit(f"{total} candidate test(s) generated")


def take_feedback(ws: Workspace) -> dict | None:
    """The evaluator's request for another round, consumed: a rerun never sees it."""
    path = ws.runs / Runs.FEEDBACK
    if not path.exists():
        return None
    data = read_json(path)
    path.unlink()
    return data
