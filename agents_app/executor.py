"""Executor: runs the existing suite and the candidates in the sandbox.

In a writable scratch copy of the worktree:
- the existing suite once, under coverage, for the "before" figures;
- the candidates N times (default 3): forward order under coverage with one coverage
  context per test, then reverse order, then a seeded shuffle, each with its own
  PYTHONHASHSEED, so order and hash-seed dependence show up as flakiness.
Raw results land in runs/ as JSON; the evaluator judges them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from django.conf import settings

from agents_app.models import GeneratedTest
from agents_app.pipeline import StageContext, StageError
from agents_app.runtime import TaskRuntime, copy_tree, import_roots
from tasks_app.workspace import read_json, write_json

CANDIDATE_DIR = "tfactory_candidates"
ORDERS = ("forward", "reverse", "shuffle:{seed}")


def _changed_py_files(ctx: StageContext) -> list[str]:
    plan = read_json(ctx.ws.test_plan)
    return sorted({t["path"] for t in plan.get("targets", [])})


def _coverage_rc(path: Path, include: list[Path]) -> None:
    lines = ["[run]", "branch = True", "parallel = False", "include ="]
    lines += [f"    {p}" for p in include]
    path.write_text("\n".join(lines) + "\n")


def _pytest_argv(rt: TaskRuntime, paths: list[str], results: Path, cov: Path | None) -> list[str]:
    python = str(rt.project_env.python)
    argv = [python]
    if cov is not None:
        argv += ["-m", "coverage", "run", f"--rcfile={cov}.rc", f"--data-file={cov}", "-m"]
    else:
        argv += ["-m"]
    argv += [
        "pytest",
        "-p",
        "tfactory_pytest_plugin",
        "-p",
        "no:cacheprovider",
        "-q",
        "--no-header",
        "-rN",
        f"--timeout={settings.TFACTORY_TEST_TIMEOUT_S}",
        *paths,
    ]
    return argv


def run_pytest(
    ctx: StageContext,
    rt: TaskRuntime,
    repo: Path,
    paths: list[str],
    label: str,
    *,
    order: str = "forward",
    hash_seed: str = "0",
    coverage_files: list[Path] | None = None,
    timeout_s: float = 900,
) -> dict[str, Any]:
    """One pytest run in the sandbox; returns the plugin's results (+ coverage export)."""
    out = rt.scratch / "results"
    results = out / f"{label}.json"
    results.unlink(missing_ok=True)
    cov = out / f"{label}.coverage" if coverage_files is not None else None
    if cov is not None:
        _coverage_rc(Path(f"{cov}.rc"), coverage_files)
        cov.unlink(missing_ok=True)
    env = rt.env(
        pythonpath=rt.roots_in(repo),
        TFACTORY_ORDER=order,
        TFACTORY_RESULTS=str(results),
        PYTHONHASHSEED=hash_seed,
    )
    argv = _pytest_argv(rt, paths, results, cov)
    res = rt.run(argv, workdir=repo, timeout_s=timeout_s, env=env)
    if res.returncode == 4 and "unrecognized arguments" in res.stderr + res.stdout:
        # the project's addopts name a plugin we do not have (e.g. --cov): run without them
        ctx.emit.warn(f"{label}: the project's pytest addopts need missing plugins; ignoring them")
        argv.insert(argv.index("-q"), "-o")
        argv.insert(argv.index("-q"), "addopts=")
        res = rt.run(argv, workdir=repo, timeout_s=timeout_s, env=env)
    ctx.check_cancelled()
    data: dict[str, Any] = {"label": label, "order": order, "hash_seed": hash_seed}
    data.update(
        returncode=res.returncode,
        timed_out=res.timed_out,
        limit_hit=res.limit_hit,
        duration_s=round(res.duration_s, 3),
        output_tail="\n".join((res.stdout + res.stderr).strip().splitlines()[-40:]),
    )
    if results.exists():
        try:
            data.update(json.loads(results.read_text()))
        except ValueError:
            data["error"] = "the results file was not valid JSON"
    else:
        data["error"] = "pytest hit the time limit" if res.timed_out else "pytest wrote no results"
        data.setdefault("tests", [])
    if cov is not None:
        data["coverage"] = export_coverage(rt, repo, cov, coverage_files or [])
    return data


def export_coverage(rt: TaskRuntime, repo: Path, cov: Path, files: list[Path]) -> dict[str, Any]:
    """Per-context lines and arcs of `files`, exported as JSON inside the sandbox."""
    export = Path(f"{cov}.json")
    export.unlink(missing_ok=True)
    exp = rt.run(
        [rt.project_env.python, "-m", "tfactory_covexport", cov, export, *files],
        workdir=repo,
        timeout_s=300,
        env=rt.env(pythonpath=rt.roots_in(repo)),
    )
    if exp.returncode == 0 and export.exists():
        return json.loads(export.read_text())
    return {"files": {}, "error": (exp.stderr or exp.stdout)[-2000:] or "export failed"}


def existing_test_paths(repo: Path, analysis: dict[str, Any]) -> list[str]:
    dirs = [d for d in analysis.get("test_dirs") or [] if (repo / d).exists()]
    return dirs or []


def run(ctx: StageContext) -> None:
    from agents_app.generators.functional import build_runtime

    task = ctx.task
    rt = build_runtime(ctx)
    repo = rt.scratch / "repo"
    copy_tree(rt.worktree, repo)
    (rt.scratch / "results").mkdir(exist_ok=True)
    changed = [repo / p for p in _changed_py_files(ctx)]
    analysis = read_json(ctx.ws.context / "project_analysis.json")

    # the existing suite, for the "before" coverage
    existing = existing_test_paths(repo, analysis)
    if not changed:
        ctx.emit.warn("no changed Python code: there is nothing to measure")
        baseline = {"label": "baseline", "tests": [], "duration_s": 0.0, "coverage": {"files": {}}}
    elif existing:
        ctx.emit(f"running the existing suite ({', '.join(existing)}) under coverage")
        baseline = run_pytest(ctx, rt, repo, existing, "baseline", coverage_files=changed)
        counts = _count(baseline)
        ctx.emit(
            f"existing suite: {counts['passed']} passed, {counts['failed']} failed, "
            f"{counts['error']} errors in {baseline['duration_s']:.1f}s"
        )
    else:
        ctx.emit.warn("the project has no test folder; 'before' coverage is zero")
        baseline = {"label": "baseline", "tests": [], "duration_s": 0.0}
        baseline["coverage"] = export_coverage(
            rt, repo, rt.scratch / "results" / "baseline.coverage", changed
        )
    write_json(ctx.ws.runs / "baseline.json", baseline)

    # candidates, N times in different orders
    tests = list(GeneratedTest.objects.filter(task=task))
    files = sorted({t.file for t in tests})
    cand_dir = repo / CANDIDATE_DIR
    if cand_dir.exists():
        shutil.rmtree(cand_dir)
    cand_dir.mkdir()
    for rel in files:
        shutil.copyfile(ctx.ws.root / rel, cand_dir / Path(rel).name)
    runs = []
    n_runs = int(task.options.get("eval_runs", settings.TFACTORY_EVAL_RUNS))
    if not tests:
        ctx.emit.warn("no candidate tests to run")
    for i in range(n_runs if tests else 0):
        order = ORDERS[i % len(ORDERS)].format(seed=task.pk * 7919 + i)
        label = f"candidates-{i + 1}"
        ctx.emit(f"candidate run {i + 1}/{n_runs}: {len(tests)} test(s), order {order}")
        data = run_pytest(
            ctx,
            rt,
            repo,
            [f"{CANDIDATE_DIR}/{Path(f).name}" for f in files],
            label,
            order=order,
            hash_seed=str(1000 + i),
            coverage_files=changed if i == 0 else None,
        )
        data["files"] = {f"{CANDIDATE_DIR}/{Path(f).name}": f for f in files}
        counts = _count(data)
        ctx.emit(
            f"run {i + 1}: {counts['passed']} passed, {counts['failed']} failed, "
            f"{counts['error']} errors, {counts['skipped']} skipped/xfailed "
            f"in {data['duration_s']:.1f}s" + (f" ({data['error']})" if data.get("error") else "")
        )
        write_json(ctx.ws.runs / f"{label}.json", data)
        runs.append(label)
        if data.get("limit_hit") == "wall_time" and not data.get("tests"):
            raise StageError(
                f"candidate run {i + 1} hit the sandbox time limit before reporting any result"
            )
    write_json(
        ctx.ws.runs / "index.json",
        {
            "baseline": "runs/baseline.json",
            "candidate_runs": [f"runs/{r}.json" for r in runs],
            "changed_files": _changed_py_files(ctx),
            "scratch_repo": str(repo),
            "candidate_dir": CANDIDATE_DIR,
            "import_roots": import_roots(task),
        },
    )


def _count(data: dict[str, Any]) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    for t in data.get("tests", []):
        key = t.get("outcome", "error")
        key = "skipped" if key == "xfailed" else key
        counts[key if key in counts else "error"] += 1
    return counts
