"""Functional lane generator, offline: the registry's engines over each changed module.

Candidates are written under the task's tests/functional/ (one file per module and
engine) and recorded as GeneratedTest rows with verdict "pending"; the evaluator
decides. Engines run inside the sandbox with the project's environment.
"""

from __future__ import annotations

import shutil
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.conf import settings
from django.db import connection

from agents_app import registry, safe_fs
from agents_app.engines import EngineJob, line_ranges, repair
from agents_app.models import GeneratedTest
from agents_app.pipeline import Cancelled, StageContext, StageError
from agents_app.project_env import ProjectEnvCancelled, ProjectEnvError, ensure_project_env
from agents_app.runtime import TaskRuntime, engine_budget, ensure_worktree, task_scratch
from agents_app.sandbox import SandboxError
from agents_app.toolenvs import ToolEnvError
from tasks_app.models import Task
from tasks_app.workspace import read_json, write_json

LANE = "functional"


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
        )
    except ProjectEnvCancelled as exc:
        raise Cancelled() from exc
    except ProjectEnvError as exc:
        raise StageError(f"the project's dependencies could not be installed: {exc}") from exc
    return rt


def jobs_from_plan(plan: dict, worktree: Path, roots: list[str], budget: int) -> list[EngineJob]:
    by_module: dict[str, dict] = defaultdict(
        lambda: {"qualnames": [], "classes": set(), "lines": set(), "path": ""}
    )
    for t in plan.get("targets", []):
        entry = by_module[t["module"]]
        entry["path"] = t["path"]
        entry["qualnames"].append(t["qualname"])
        if t["kind"] == "class":
            entry["classes"].add(t["qualname"])
        entry["lines"].update(t["changed_lines"])
    jobs = []
    for module, entry in sorted(by_module.items()):
        if all(q == "<module>" for q in entry["qualnames"]):
            # only module-level lines changed (imports, constants): importing the
            # module covers them; there is no callable to search tests for
            continue
        root = _root_for(entry["path"], module, worktree, roots)
        jobs.append(
            EngineJob(
                module=module,
                path=entry["path"],
                qualnames=tuple(entry["qualnames"]),
                classes=frozenset(entry["classes"]),
                line_ranges=line_ranges(entry["lines"]),
                import_root=root,
                budget_s=budget,
            )
        )
    return jobs


def _root_for(path: str, module: str, worktree: Path, roots: list[str]) -> Path:
    for r in roots:
        base = (worktree / r).resolve()
        candidate = base / Path(*module.split("."))
        if (worktree / path).resolve() in (candidate.with_suffix(".py"), candidate / "__init__.py"):
            return base
    return (worktree / roots[0]).resolve()


def enabled(ctx: StageContext) -> bool:
    return ctx.option("rerun_lane", "") == LANE or bool(ctx.option(LANE, True))


def run(ctx: StageContext) -> None:
    """Offline engines, or the model's generator (plus the engines when asked), over the
    plan; in a feedback round, only the model, for what is still uncovered or alive."""
    from agents_app.generators import model as model_gen
    from agents_app.llm.session import TaskModel

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
        record = read_json(ctx.ws.runs / "generation.json")
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
        write_json(ctx.ws.runs / "generation.json", record)
        return

    rt = build_runtime(ctx)
    total = 0
    try:
        model = TaskModel.for_task(task)
    except model_gen.LLMError as exc:
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
    write_json(ctx.ws.runs / "generation.json", record)
    ctx.emit(f"{total} candidate test(s) generated")


FEEDBACK = "feedback.json"


def take_feedback(ws) -> dict | None:
    """The evaluator's request for another round, consumed: a rerun never sees it."""
    path = ws.runs / FEEDBACK
    if not path.exists():
        return None
    data = read_json(path)
    path.unlink()
    return data


def run_engines(
    ctx: StageContext, rt: TaskRuntime, plan: dict, out_dir: Path
) -> tuple[list[dict], int]:
    """The registry's offline engines over each changed module, in parallel."""
    task = ctx.task
    tools = registry.tools_for("python")
    from agents_app.runtime import import_roots

    budget = engine_budget(task)
    lane_budget = int(task.options.get("lane_budget_s", settings.TFACTORY_LANE_BUDGET_S))
    jobs = jobs_from_plan(plan, rt.worktree, import_roots(task), budget)
    deadline = time.monotonic() + lane_budget
    engine_runs: list[dict] = []
    work: list[tuple[str, object, object, EngineJob]] = []
    for engine_name in tools.functional_engines:
        try:
            tool = rt.tool(engine_name, emit=ctx.emit)
        except ToolEnvError as exc:
            ctx.emit.warn(f"{engine_name} is unavailable: {exc}")
            engine_runs.append({"engine": engine_name, "error": str(exc)})
            continue
        work += [(engine_name, registry.engine(engine_name), tool, job) for job in jobs]

    def generate(item: tuple[str, object, object, EngineJob]):
        engine_name, engine, tool, job = item
        try:
            remaining = int(deadline - time.monotonic())
            if ctx.cancel.is_set():
                return None
            if remaining < 5:
                ctx.emit.warn(f"lane budget spent; {engine_name} skipped {job.module}")
                return None
            job_budget = min(job.budget_s, remaining)
            ctx.emit(f"{engine_name}: generating tests for {job.module} ({job_budget}s budget)")
            return engine.generate(rt, tool, _with_budget(job, job_budget))
        finally:
            connection.close()  # this thread's own connection

    # engine runs are independent sandboxed processes: run as many at once as there
    # are cores to spare; results are stored in a fixed order, so output is stable
    workers = max(1, min(settings.TFACTORY_ENGINE_WORKERS, len(work)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="engine") as pool:
        outputs = list(pool.map(generate, work))
    ctx.check_cancelled()
    total = 0
    for (engine_name, _, _, job), out in zip(work, outputs, strict=True):
        if out is None:
            engine_runs.append(
                {"engine": engine_name, "module": job.module, "error": "lane budget spent"}
            )
            continue
        record = {
            "engine": engine_name,
            "module": job.module,
            "duration_s": round(out.duration_s, 2),
            "error": out.error,
            "notes": list(out.notes),
        }
        engine_runs.append(record)
        if out.source is None:
            ctx.emit.warn(f"{engine_name} on {job.module}: {out.error}; {out.log_tail[-500:]}")
            continue
        n = _store(ctx, out_dir, engine_name, job, out.source, record)
        total += n
        ctx.emit(f"{engine_name}: {n} candidate test(s) for {job.module} in {out.duration_s:.0f}s")
    return engine_runs, total


def _with_budget(job: EngineJob, budget: int) -> EngineJob:
    from dataclasses import replace

    return replace(job, budget_s=budget)


def _store(
    ctx: StageContext, out_dir: Path, engine: str, job: EngineJob, source: str, record: dict
) -> int:
    try:
        module_source = safe_fs.read_text(ctx.task.worktree_path, job.path, limit=5_000_000)
    except OSError as exc:
        record["error"] = f"cannot read {job.path}: {exc}"
        return 0
    try:
        fixed = repair.prepare(source, job.module, module_source)
    except SyntaxError as exc:
        record["error"] = f"output is not valid Python: {exc}"
        ctx.emit.warn(f"{engine} on {job.module}: {record['error']}")
        return 0
    record["notes"] += fixed.notes
    for note in fixed.notes:
        ctx.emit(f"{engine} on {job.module}: {note}")
    filename = f"test_{job.module.replace('.', '_')}_{engine}.py"
    n = 1
    while (out_dir / filename).exists():  # pkg.a_b and pkg.a.b both give test_pkg_a_b_…
        n += 1
        filename = f"test_{job.module.replace('.', '_')}_{n}_{engine}.py"
    header = (
        f"# Generated by TFactory ({engine}, offline) for {job.module}.\n"
        "# Regression tests: they pin the feature branch's current behaviour.\n"
    )
    path = out_dir / filename
    path.write_text(header + fixed.source)
    rel = ctx.ws.rel(path)
    rows = [
        GeneratedTest(
            task=ctx.task,
            test_id=f"{rel}::{name}",
            lane=LANE,
            engine=engine,
            file=rel,
            name=name,
            target="",
            code=code,
        )
        for name, code in repair.test_functions(header + fixed.source)
    ]
    GeneratedTest.objects.bulk_create(rows)
    record["file"] = rel
    record["tests"] = len(rows)
    return len(rows)
