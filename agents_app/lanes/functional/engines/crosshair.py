"""CrossHair `cover`: symbolic execution that writes a pytest per opcode path it covers."""

from __future__ import annotations

import ast
import time

from agents_app.env.runtime import TaskRuntime, ToolEnvRef
from agents_app.lanes.functional.engines import EngineJob, EngineOutput, tail
from agents_app.sandbox import Mount

NAME = "crosshair"


def generate(rt: TaskRuntime, tool: ToolEnvRef, job: EngineJob) -> EngineOutput:
    targets = []
    for q in job.qualnames:
        if q == "<module>":
            continue
        # a class whose body changed (fields, class attributes) is exercised through
        # its constructor; naming the class itself makes CrossHair cover every
        # generated dunder (__eq__, __hash__, __setattr__ …) for nothing
        name = f"{job.module}.{q}.__init__" if q in job.classes else f"{job.module}.{q}"
        if name not in targets:
            targets.append(name)
    if not targets:
        return EngineOutput(NAME, job.module, None, 0.0, error="no function or method to cover")
    per_target = max(5.0, min(30.0, job.budget_s / len(targets)))
    work = rt.out_dir(f"{NAME}-{job.module}")
    env = rt.env(
        pythonpath=[rt.boot, *rt.roots_in(rt.worktree)],
        TFACTORY_EXTRA_SITE=str(rt.project_env.site_packages) if rt.project_env else "",
    )
    started = time.monotonic()
    outputs: list[str] = []
    problems: list[str] = []
    notes: list[str] = []
    # one run per target: a target CrossHair cannot load must not cost the others
    for target in targets:
        if time.monotonic() - started > job.budget_s * 2:
            problems.append(f"{target}: skipped, the module's budget is spent")
            continue
        result = rt.run(
            [
                tool.python,
                "-m",
                "crosshair",
                "cover",
                target,
                "--example_output_format=pytest",
                f"--per_condition_timeout={per_target:.0f}",
            ],
            workdir=work,
            timeout_s=per_target * 2 + 30,
            env=env,
            mounts=[*tool.mounts, Mount(work, writable=True)],
        )
        if "def test_" in result.stdout:
            outputs.append(result.stdout)
            if result.timed_out:
                notes.append(f"{target}: hit its time limit; kept the tests it had written")
        else:
            why = "timed out" if result.timed_out else f"exited with {result.returncode}"
            if result.returncode == 0:
                why = "found no examples"
            last = tail(result.stderr, 1)
            problems.append(f"{target}: {why}" + (f" ({last})" if last else ""))
        if rt.cancel is not None and rt.cancel.is_set():
            break
    duration = time.monotonic() - started
    log = "\n".join(problems)
    if not outputs:
        return EngineOutput(NAME, job.module, None, duration, log, error="crosshair wrote no tests")
    notes += problems
    return EngineOutput(NAME, job.module, merge(outputs), duration, log, notes=notes)


def merge(sources: list[str]) -> str:
    """One pytest module from several: the imports once, at the top, then the tests."""
    imports: list[str] = []
    body: list[str] = []
    for src in sources:
        try:
            tree = ast.parse(src)
        except SyntaxError:
            body.append(src)
            continue
        for node in tree.body:
            seg = ast.get_source_segment(src, node) or ""
            if isinstance(node, ast.Import | ast.ImportFrom):
                if seg not in imports:
                    imports.append(seg)
            else:
                body.append(seg)
    return "\n".join(imports) + "\n\n\n" + "\n\n\n".join(body) + "\n"
