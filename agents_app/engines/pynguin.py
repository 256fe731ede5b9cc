"""Pynguin: search-based generation (DynaMOSA) restricted to the changed line ranges."""

from __future__ import annotations

import time

from agents_app.engines import EngineJob, EngineOutput, tail
from agents_app.runtime import BOOT, TaskRuntime
from agents_app.sandbox import Mount
from agents_app.toolenvs import ToolEnv

NAME = "pynguin"
SEED = 20260528  # fixed: the same change yields the same tests


def generate(rt: TaskRuntime, tool: ToolEnv, job: EngineJob) -> EngineOutput:
    out_dir = rt.scratch / "engines" / NAME / job.module
    report_dir = out_dir / "report"
    report_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("test_*.py"):
        old.unlink()
    ranges = [f"{a}-{b}" if a != b else str(a) for a, b in job.line_ranges]
    argv = [
        tool.python,
        "-m",
        "pynguin",
        "--project-path",
        job.import_root,
        "--module-name",
        job.module,
        "--output-path",
        out_dir,
        "--report-dir",
        report_dir,
        "--maximum-search-time",
        str(job.budget_s),
        "--maximum_mutation_time",
        str(max(10, job.budget_s // 3)),
        "--seed",
        str(SEED),
        "--no-rich",
    ]
    if ranges:
        argv += ["--only-cover-line-ranges", *ranges]
    env = rt.env(
        pythonpath=[BOOT, *rt.roots_in(rt.worktree)],
        PYNGUIN_DANGER_AWARE="1",
        TFACTORY_EXTRA_SITE=str(rt.project_env.site_packages) if rt.project_env else "",
    )
    started = time.monotonic()
    # search time plus assertion generation and start-up; killed at the limit
    result = rt.run(
        argv,
        workdir=out_dir,
        timeout_s=job.budget_s * 3 + 90,
        env=env,
        mounts=[Mount(tool.path)],
    )
    duration = time.monotonic() - started
    files = sorted(out_dir.glob("test_*.py"))
    log = tail(result.stderr + "\n" + result.stdout)
    if not files:
        why = "timed out" if result.timed_out else f"exited with {result.returncode}"
        if result.returncode == 0:
            why = "wrote no tests"
        return EngineOutput(NAME, job.module, None, duration, log, error=f"pynguin {why}")
    return EngineOutput(NAME, job.module, files[0].read_text(), duration, log)
