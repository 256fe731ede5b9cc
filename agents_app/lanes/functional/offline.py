"""The offline engines (Pynguin, CrossHair: the language table's) over each changed module.

Candidates are written under the task's tests/functional/ (one file per module and
engine) and recorded as GeneratedTest rows with verdict "pending"; the evaluator
decides. Engines run inside the sandbox with the project's environment.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.conf import settings
from django.db import connection

from agents_app.env import languages
from agents_app.env.runtime import TaskRuntime, engine_budget, import_roots
from agents_app.env.tools import ToolEnvError
from agents_app.lanes.functional import LANE
from agents_app.lanes.functional.engines import (
    EngineJob,
    EngineOutput,
    crosshair,
    line_ranges,
    pynguin,
    repair,
)
from agents_app.models import GeneratedTest
from agents_app.pipeline.context import Cancelled, StageContext
from agents_app.sandbox import SandboxError
from tasks_app.core import safe_fs
from tasks_app.core.redaction import redact

log = logging.getLogger(__name__)

# the engines the language table names, by name: each has NAME and
# generate(runtime, tool_env, job)
ENGINES = {"pynguin": pynguin, "crosshair": crosshair}


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


def run_engines(
    ctx: StageContext, rt: TaskRuntime, plan: dict, out_dir: Path
) -> tuple[list[dict], int]:
    """The registry's offline engines over each changed module, in parallel."""
    task = ctx.task
    tools = languages.tools_for("python")

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
        work += [(engine_name, ENGINES[engine_name], tool, job) for job in jobs]

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
            started = time.monotonic()
            try:
                return engine.generate(rt, tool, _with_budget(job, job_budget))
            except (Cancelled, SandboxError):  # the sandbox itself failing fails the stage
                raise
            except Exception as exc:  # one engine failing must not sink the others
                log.exception("%s crashed on %s", engine_name, job.module)
                return EngineOutput(
                    engine=engine_name,
                    module=job.module,
                    source=None,
                    duration_s=time.monotonic() - started,
                    error=f"the engine crashed: {redact(f'{type(exc).__name__}: {exc}')[:300]}",
                )
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
