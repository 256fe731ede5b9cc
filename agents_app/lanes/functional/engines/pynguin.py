"""Pynguin: search-based generation (DynaMOSA) restricted to the changed line ranges."""

from __future__ import annotations

import time

from agents_app.env.runtime import TaskRuntime, ToolEnvRef
from agents_app.lanes.functional.engines import EngineJob, EngineOutput, tail
from agents_app.sandbox import Mount
from tasks_app.core import safe_fs

NAME = "pynguin"
SEED = 20260528  # fixed: the same change yields the same tests


def generate(rt: TaskRuntime, tool: ToolEnvRef, job: EngineJob) -> EngineOutput:
    out_dir = rt.out_dir(f"{NAME}-{job.module}")
    ranges = [f"{a}-{b}" if a != b else str(a) for a, b in job.line_ranges]
    argv = [
        tool.python, "-m", "pynguin",
        "--project-path", job.import_root,
        "--module-name", job.module,
        "--output-path", out_dir / "tests",
        "--report-dir", out_dir / "report",
        "--maximum-search-time", str(job.budget_s),
        "--maximum_mutation_time", str(max(10, job.budget_s // 3)),
        "--seed", str(SEED),
        "--no-rich",
    ]  # fmt: skip
    if ranges:
        argv += ["--only-cover-line-ranges", *ranges]
    env = rt.env(
        pythonpath=[rt.boot, *rt.roots_in(rt.worktree)],
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
        mounts=[*tool.mounts, Mount(out_dir, writable=True)],
    )
    duration = time.monotonic() - started
    log = tail(result.stderr + "\n" + result.stdout)
    # the output folder was writable by the engine: read it without following links
    try:
        files = [f for f in safe_fs.list_files(out_dir, "tests") if f.startswith("test_")]
        source = safe_fs.read_text(out_dir, f"tests/{files[0]}", limit=5_000_000) if files else None
    except FileNotFoundError:
        source = None
    except OSError as exc:
        return EngineOutput(
            NAME, job.module, None, duration, log, error=f"unreadable output: {exc}"
        )
    if source is None:
        why = "timed out" if result.timed_out else f"exited with {result.returncode}"
        if result.returncode == 0:
            why = "wrote no tests"
        return EngineOutput(NAME, job.module, None, duration, log, error=f"pynguin {why}")
    return EngineOutput(NAME, job.module, source, duration, log)
