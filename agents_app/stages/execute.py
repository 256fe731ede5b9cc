"""Executor: runs the existing suite and the candidates in the sandbox.

In a writable scratch copy of the worktree:
- the existing suite once, under coverage, for the "before" figures;
- the candidates N times (default 3): forward order under coverage with one coverage
  context per test, then reverse order, then a seeded shuffle, each with its own
  PYTHONHASHSEED, so order and hash-seed dependence show up as flakiness.
Raw results land in runs/ as JSON; the evaluator judges them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shlex
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings

from agents_app.env.plan import PlanError, setup_plan
from agents_app.env.runtime import (
    TaskRuntime,
    build_runtime,
    copy_tree,
    import_roots,
    package_root,
    setup_also,
)
from agents_app.lanes import functional, security
from agents_app.lanes.mutation import lane as mutation_lane
from agents_app.models import GeneratedTest
from agents_app.pipeline.context import Cancelled, StageContext, StageError
from agents_app.sandbox import Mount
from agents_app.sandbox.base import RUNNER_SIDE
from tasks_app.core import safe_fs
from tasks_app.core.redaction import redact
from tasks_app.core.workspace import Runs, Workspace, read_json, write_json

log = logging.getLogger(__name__)

CANDIDATE_DIR = "tfactory_candidates"
ORDERS = ("forward", "reverse", "shuffle:{seed}")
# Plugins that would take coverage away from us (pytest-cov starts its own collector),
# spread tests over processes (xdist) or reorder them on their own (randomly).
BLOCKED_PLUGINS = ("cov", "xdist", "randomly", "cacheprovider")


# Options in a project's addopts that would corrupt the measurement (another coverage
# collector, tests spread over processes or reordered, a run that stops early or reruns
# failures): dropped; with a value when the option takes one.
DROPPED_OPTIONS = {
    "-n": True, "--numprocesses": True, "--dist": True, "--maxprocesses": True,
    "--maxfail": True, "--reruns": True, "--reruns-delay": True, "--randomly-seed": True,
    "-x": False, "--exitfirst": False, "--lf": False, "--last-failed": False, "--ff": False,
    "--failed-first": False, "--sw": False, "--stepwise": False, "--looponfail": False,
    "-f": False, "--randomly-dont-reorganize": False, "--no-cov": False,
    "--cov-fail-under": True, "--cov-report": True, "--cov-config": True,
    "--cov-context": True,
}  # fmt: skip
DROPPED_PLUGINS = ("cov", "pytest_cov", "xdist", "xdist.plugin", "randomly", "rerunfailures")


def filter_addopts(addopts: str) -> tuple[str, list[str]]:
    """The project's addopts without what would corrupt the measurement: (kept, dropped)."""
    try:
        tokens = shlex.split(addopts)
    except ValueError:
        tokens = addopts.split()
    kept: list[str] = []
    dropped: list[str] = []
    i = 0
    while i < len(tokens):
        option = tokens[i]
        name = option.split("=", 1)[0]
        takes_value = DROPPED_OPTIONS.get(name)
        plugin = name == "-p" and i + 1 < len(tokens) and tokens[i + 1] in DROPPED_PLUGINS
        if takes_value is not None:
            step = 2 if takes_value and "=" not in option and i + 1 < len(tokens) else 1
        elif option.startswith(("--cov", "--no-cov")) or plugin:
            step = 2 if plugin or (option == "--cov" and _value_follows(tokens, i)) else 1
        elif (option.startswith("-n") and option[2:].isdigit()) or option == "-nauto":
            step = 1
        else:
            kept.append(option)
            i += 1
            continue
        dropped += tokens[i : i + step]
        i += step
    return shlex.join(kept), dropped


def _value_follows(tokens: list[str], i: int) -> bool:
    return i + 1 < len(tokens) and not tokens[i + 1].startswith("-")


def suite_options(analysis: dict[str, Any]) -> tuple[list[str], dict[str, str], list[str]]:
    """How the project runs its tests, as options and environment for every pytest run:
    its addopts (less what would corrupt the measurement), unittest's file names for a
    unittest-only suite, the settings module of a Django project. Returns (options, env,
    the addopts dropped)."""
    ini = analysis.get("pytest_ini") or {}
    options: list[str] = []
    dropped: list[str] = []
    if analysis.get("package_root", ".") != "." and ini.get("file"):
        # a monorepo's package: its own configuration, node ids still from the root
        options += ["-c", str(ini["file"]), "--rootdir", "."]
    if ini.get("addopts"):
        kept, dropped = filter_addopts(str(ini["addopts"]))
        options += ["-o", f"addopts={kept}"]
    if analysis.get("test_framework") == "unittest" and not ini:
        # collect as unittest discovers: its file names, TestCase classes only (a helper
        # class or function named Test…/test_… is not a test to it)
        options += ["-o", "python_files=test*.py *_test.py *_tests.py"]
        options += ["-o", "python_classes=", "-o", "python_functions="]
    env = {}
    if analysis.get("django_settings") and "django" in (analysis.get("frameworks") or []):
        env["DJANGO_SETTINGS_MODULE"] = str(analysis["django_settings"])
    # .tfactory.yml's tests: more options, plain values, and values of TFactory's own
    # environment its operator lets projects have (TFACTORY_PASS_ENV)
    tests = (analysis.get("config") or {}).get("tests") or {}
    options += [str(a) for a in tests.get("args") or []]
    env.update({str(k): str(v) for k, v in (tests.get("env") or {}).items()})
    allowed = set(settings.TFACTORY_PASS_ENV)
    for name in tests.get("pass_env") or []:
        if name in allowed and name in os.environ:
            env[name] = os.environ[name]
    return options, env, dropped


def _changed_py_files(plan: dict[str, Any]) -> list[str]:
    return sorted({t["path"] for t in plan.get("targets", [])})


def _pytest_argv(
    rt: TaskRuntime, paths: list[str], out: Path, rc: Path | None, options: Sequence[str] = ()
) -> list[str]:
    argv = [str(rt.project_env.python)]
    if rc is not None:
        argv += ["-m", "coverage", "run", f"--rcfile={rc}", f"--data-file={out / 'coverage'}"]
    argv += ["-m", "pytest", "-p", "tfactory_pytest_plugin"]
    for plugin in BLOCKED_PLUGINS:
        argv += ["-p", f"no:{plugin}"]
    argv += [
        "-q",
        "--no-header",
        "-rN",
        f"--timeout={settings.TFACTORY_TEST_TIMEOUT_S}",
        *options,
        *paths,
    ]
    return argv


def _read_json(root: Path, name: str) -> Any:
    """JSON a sandboxed run wrote; read without following links it may have planted."""
    return json.loads(safe_fs.read_text(root, name))


MAX_CULPRITS = 5


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
    options: Sequence[str] = (),
    extra_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One pytest run in the sandbox; returns the plugin's results (+ coverage export).
    `options` and `extra_env` are how the project runs its suite (suite_options).

    When a test takes the whole process down (it exhausted memory or processes, or
    crashed the interpreter), the progress log names it: it is recorded as `crashed`
    with the limit it hit, and the run is repeated without it, so the others still get
    a verdict.
    """
    rc = None
    if coverage_files is not None:
        ctl = rt.ctl_dir(label)
        rc = ctl / "coveragerc"
        rc.write_text(
            "\n".join(
                ["[run]", "branch = True", "include ="] + [f"    {p}" for p in coverage_files]
            )
            + "\n"
        )
    data: dict[str, Any] = {"label": label, "order": order, "hash_seed": hash_seed}
    deselect: list[str] = []
    crashed: list[dict[str, Any]] = []
    no_addopts = False
    started = time.monotonic()
    while True:
        out = rt.out_dir(label)
        env = rt.env(
            pythonpath=rt.roots_in(repo),
            TFACTORY_ORDER=order,
            TFACTORY_RESULTS=str(out / "results.json"),
            TFACTORY_PROGRESS=str(out / "progress.jsonl"),
            PYTHONHASHSEED=hash_seed,
            **(extra_env or {}),
        )
        # without the project's addopts at all when they still name a plugin we keep out
        run_options = [*options, "-o", "addopts="] if no_addopts else list(options)
        argv = _pytest_argv(rt, paths, out, rc, run_options)
        argv += [f"--deselect={n}" for n in deselect]
        mounts = [Mount(repo, writable=True), Mount(out, writable=True)]
        if rc is not None:
            mounts.append(Mount(rc.parent))
        remaining = max(timeout_s - (time.monotonic() - started), 30)
        res = rt.run(argv, workdir=repo, timeout_s=remaining, env=env, mounts=mounts)
        ctx.check_cancelled()
        if (
            not no_addopts
            and res.returncode == 4
            and "unrecognized arguments" in (res.stderr + res.stdout)
        ):
            # the project's addopts name a plugin we keep out (e.g. --cov): run without them
            ctx.emit.warn(
                f"{label}: the project's pytest addopts need plugins TFactory turns off; "
                "running without the project's addopts"
            )
            no_addopts = True
            continue
        results, error = _results(out, res)
        if results is not None or res.timed_out:
            break
        culprit = _culprit(out)
        if culprit is None or len(deselect) >= MAX_CULPRITS:
            break
        # only a limit that kills a process can explain its death (a pids limit makes
        # fork fail, it kills nothing; it may have been hit by an earlier test)
        killers = {"memory", "file_size"} & set(rt.sandbox.exact_limits)
        cause = res.limit_hit if res.limit_hit in killers else None
        why = cause or (
            f"signal {-res.returncode}" if (res.returncode or 0) < 0 else f"exit {res.returncode}"
        )
        ctx.emit.warn(
            f"{label}: {culprit} took the test process down ({why}); rerunning without it"
        )
        crashed.append(
            {
                "nodeid": culprit,
                "outcome": "crashed",
                "phase": "call",
                "limit_hit": cause,
                "exc_type": "Crashed",
                "message": f"the test process died while this test ran ({why})",
            }
        )
        deselect.append(culprit)
    data.update(
        no_addopts=no_addopts,
        returncode=res.returncode,
        timed_out=res.timed_out,
        limit_hit=res.limit_hit,
        duration_s=round(time.monotonic() - started, 3),
        output_tail=redact("\n".join((res.stdout + res.stderr).strip().splitlines()[-40:])),
    )
    if results is not None:
        data.update(
            {
                k: results[k]
                for k in ("tests", "collect_errors", "exitstatus", "coverage_active")
                if k in results
            }
        )
    else:
        data["error"] = error
    data["tests"] = list(data.get("tests", [])) + crashed
    if rc is not None:
        data["coverage"] = export_coverage(rt, repo, out, coverage_files or [])
    return data


def _results(out: Path, res: Any) -> tuple[dict[str, Any] | None, str | None]:
    try:
        results = _read_json(out, "results.json")
    except FileNotFoundError:
        if res.timed_out:
            return None, "pytest hit the time limit"
        return (
            None,
            f"pytest wrote no results (exit {res.returncode}, {res.limit_hit or 'no limit hit'})",
        )
    except (OSError, ValueError) as exc:
        return None, f"the results file could not be read: {exc}"
    if not isinstance(results, dict):
        return None, "the results file could not be read: not an object"
    return results, None


def _culprit(out: Path) -> str | None:
    """The test that started and never ended, from the run's progress log."""
    try:
        text = safe_fs.read_text(out, "progress.jsonl", limit=20_000_000)
    except OSError:
        return None
    open_tests: list[str] = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict) or not isinstance(event.get("nodeid"), str):
            continue
        if event.get("event") == "start":
            open_tests.append(event["nodeid"])
        elif event.get("event") == "end" and event["nodeid"] in open_tests:
            open_tests.remove(event["nodeid"])
    return open_tests[-1] if open_tests else None


def export_coverage(rt: TaskRuntime, repo: Path, out: Path, files: list[Path]) -> dict[str, Any]:
    """Per-context lines and arcs of `files`, exported as JSON inside the sandbox."""
    exp = rt.run(
        [rt.project_env.python, "-m", "tfactory_covexport", out / "coverage",
         out / "coverage.json", *files],
        workdir=repo,
        timeout_s=300,
        env=rt.env(pythonpath=rt.roots_in(repo)),
        mounts=[Mount(repo), Mount(out, writable=True)],
    )  # fmt: skip
    if exp.returncode == 0:
        try:
            data = _read_json(out, "coverage.json")
            if isinstance(data, dict) and isinstance(data.get("files"), dict):
                return data
        except (OSError, ValueError) as exc:
            return {"files": {}, "error": f"the coverage export could not be read: {exc}"}
    return {"files": {}, "error": redact((exp.stderr or exp.stdout)[-2000:]) or "export failed"}


# 1: what makes a cached run of the existing suite the same run
BASELINE_RECIPE = "1"


def baseline_key(
    task: Any,
    rt: TaskRuntime,
    paths: list[str],
    changed_files: list[str],
    options: list[str],
    suite_env: dict[str, str],
) -> str:
    """What the existing suite's run depends on: the commit, the environment, the suite,
    the files measured, how it is run, and TFactory's own helpers in the sandbox."""
    helpers = hashlib.sha256()
    for name in ("tfactory_pytest_plugin.py", "tfactory_covexport.py"):
        helpers.update((RUNNER_SIDE / name).read_bytes())
    parts = {
        "recipe": BASELINE_RECIPE,
        "head": task.head_sha,
        "env": getattr(rt.project_env, "key", ""),
        "sandbox": rt.sandbox.name,
        "paths": paths,
        "changed": changed_files,
        "options": options,
        "suite_env": suite_env,
        "timeout": settings.TFACTORY_TEST_TIMEOUT_S,
        "helpers": helpers.hexdigest(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _baseline_file(key: str) -> Path:
    return Path(settings.TFACTORY_CACHE_DIR) / "baselines" / f"{key}.json"


def cached_baseline(key: str) -> dict[str, Any] | None:
    """An earlier run of the same suite on the same commit (a lane rerun, a feedback round,
    a later task), with its coverage keyed by repository-relative paths."""
    try:
        data = read_json(_baseline_file(key))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("key") != key:
        return None
    data["reused"] = f"measured {data.get('measured_at', 'earlier')}"
    return data


def keep_baseline(baseline: dict[str, Any], repo: Path) -> None:
    """Cache a run whose figures are real (ok or failing): coverage paths made relative,
    so another task's copy of the repository finds them."""
    if (baseline.get("state") or {}).get("status") not in ("ok", "failing"):
        return
    prefix = str(repo).rstrip("/") + "/"
    data = json.loads(json.dumps(baseline))
    files = (data.get("coverage") or {}).get("files") or {}
    data.setdefault("coverage", {})["files"] = {
        (k[len(prefix) :] if k.startswith(prefix) else k): v for k, v in files.items()
    }
    data["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    write_json(_baseline_file(baseline["key"]), data)


def setup_failure(ws: Workspace) -> dict[str, Any] | None:
    """runs/setup.json when the generating stage could not set the project up."""
    path = ws.runs / Runs.SETUP
    return read_json(path) if path.exists() else None


def existing_test_paths(repo: Path, analysis: dict[str, Any]) -> list[str]:
    """What the existing suite is: .tfactory.yml's tests.paths, else the test folders
    the analysis found (pytest's testpaths among them)."""
    configured = ((analysis.get("config") or {}).get("tests") or {}).get("paths")
    wanted = configured or analysis.get("test_dirs") or []
    dirs = [d for d in wanted if (Path(repo) / d).exists()]
    return dirs or []


def run(ctx: StageContext) -> str | None:
    task = ctx.task
    rerun = ctx.option("rerun_lane", "")
    if rerun in security.LANES:
        # that lane alone: the candidates' runs and verdicts stand
        security.run_lanes(ctx, only=rerun)
        return "triaging"
    if not functional.enabled(ctx):
        if not rerun:
            security.run_lanes(ctx)
        ctx.set_lane(
            mutation_lane.LANE, "skipped", "no generated tests (the functional lane is off)"
        )
        return "triaging"
    if setup := setup_failure(ctx.ws):
        # nothing of the project can run: the security lanes need none of it
        if not rerun:
            security.run_lanes(ctx)
        paths = existing_test_paths(
            ctx.task.worktree_path, read_json(ctx.ws.context / "project_analysis.json")
        )
        baseline = {"label": "baseline", "tests": [], "duration_s": 0.0, "error": setup["sentence"]}
        baseline["state"] = suite_state(baseline, paths or ["(the project's tests)"])
        write_json(ctx.ws.runs / Runs.BASELINE, baseline)
        ctx.set_lane(mutation_lane.LANE, "skipped", setup["sentence"])
        return None
    rt = build_runtime(ctx)
    generation = read_json(ctx.ws.runs / Runs.GENERATION) if (
        ctx.ws.runs / Runs.GENERATION
    ).exists() else {}  # fmt: skip
    feedback_round = int(generation.get("round") or 1) > 1
    if not rerun and not feedback_round:
        # first: they are quick and do not depend on the tests; a rerun of the functional
        # or the mutation lane, or a feedback round, leaves their results as they were
        security.run_lanes(ctx, installed=getattr(rt.project_env, "installed", None))
    tests = list(GeneratedTest.objects.filter(task=task))
    files = sorted({t.file for t in tests})
    repo, cand_dir = fresh_repo(ctx, rt, files)
    plan = read_json(ctx.ws.test_plan)
    changed_files = _changed_py_files(plan)
    changed = [repo / p for p in changed_files]
    analysis = read_json(ctx.ws.context / "project_analysis.json")

    # the existing suite, for the "before" coverage, run as the project runs it
    existing = existing_test_paths(repo, analysis)
    options, suite_env, dropped = suite_options(analysis)
    if dropped:
        ctx.emit(
            f"the project's pytest addopts without {shlex.join(dropped)} (they would "
            "change what is measured)"
        )
    baseline = measure_suite(ctx, rt, repo, existing, changed_files, options, suite_env)
    for _ in range(MAX_GROUPS_ADDED):
        group, module = needed_group(ctx, baseline)
        if group is None:
            break
        # the suite imports what only another of the project's groups declares (a docs
        # group's package, say): that group too, in a new environment, and measure again
        ctx.emit(f"the suite imports {module}, which only {group} declares; installing it too")
        write_json(ctx.ws.runs / Runs.SETUP_ALSO, [*setup_also(ctx.ws), group])
        rt = build_runtime(ctx)
        repo, cand_dir = fresh_repo(ctx, rt, files)
        baseline = measure_suite(ctx, rt, repo, existing, changed_files, options, suite_env)
    changed = [repo / p for p in changed_files]

    # candidates, N times in different orders
    runs: list[str] = []
    cand_data: list[dict[str, Any]] = []
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
            [f"{cand_dir}/{Path(f).name}" for f in files],
            label,
            order=order,
            hash_seed=str(1000 + i),
            coverage_files=changed if i == 0 else None,
            options=options,
            extra_env=suite_env,
        )
        data["files"] = {f"{cand_dir}/{Path(f).name}": f for f in files}
        counts = _count(data)
        ctx.emit(
            f"run {i + 1}: {counts['passed']} passed, {counts['failed']} failed, "
            f"{counts['error']} errors, {counts['skipped']} skipped/xfailed "
            f"in {data['duration_s']:.1f}s" + (f" ({data['error']})" if data.get("error") else "")
        )
        write_json(ctx.ws.runs / f"{label}.json", data)
        runs.append(label)
        cand_data.append(data)
        if data.get("limit_hit") == "wall_time" and not data.get("tests"):
            raise StageError(
                f"candidate run {i + 1} hit the sandbox time limit before reporting any result"
            )
    no_addopts = any(r.get("no_addopts") for r in [baseline, *cand_data])
    write_json(
        ctx.ws.runs / Runs.INDEX,
        {
            "baseline": "runs/baseline.json",
            "candidate_runs": [f"runs/{r}.json" for r in runs],
            "changed_files": changed_files,
            "scratch_repo": str(repo),
            "candidate_dir": cand_dir,
            "import_roots": import_roots(task),
            "no_addopts": no_addopts,
        },
    )
    pytest_args = [*options, *(["-o", "addopts="] if no_addopts else [])]
    run_mutation_lane(
        ctx, rt, plan, tests, files, existing, baseline, cand_data, pytest_args, suite_env
    )
    return None


def run_mutation_lane(
    ctx: StageContext,
    rt: TaskRuntime,
    plan: dict[str, Any],
    tests: list[GeneratedTest],
    files: list[str],
    existing: list[str],
    baseline: dict[str, Any],
    cand_runs: list[dict[str, Any]],
    pytest_args: list[str],
    suite_env: dict[str, str] | None = None,
) -> None:
    """The kill matrix of the changed lines' mutants, in a fresh copy of the repository
    (the runs above may have written into theirs). A failure here fails this lane only:
    the evaluator then flags what it would have accepted."""
    (ctx.ws.runs / Runs.MUTATION).unlink(missing_ok=True)
    if not mutation_lane.enabled(ctx):
        ctx.set_lane(mutation_lane.LANE, "skipped", "switched off for this task")
        return
    if not plan.get("targets"):
        ctx.set_lane(mutation_lane.LANE, "skipped", "no changed Python code to mutate")
        return
    try:
        repo, cand_dir = fresh_repo(ctx, rt, files)
        nodeids = {f"{cand_dir}/{Path(t.file).name}::{t.name}": t.test_id for t in tests}
        data = mutation_lane.run(
            ctx,
            rt,
            repo,
            plan=plan,
            baseline=baseline,
            candidate_runs=cand_runs,
            candidates=nodeids,
            test_paths=existing + [f"{cand_dir}/{Path(f).name}" for f in files],
            pytest_args=pytest_args,
            suite_env=suite_env,
        )
    except Cancelled:
        raise
    except Exception as exc:  # this lane failing must not sink the others
        log.exception("the mutation lane of task %s crashed", ctx.task.pk)
        error = f"{type(exc).__name__}: {exc}"
        write_json(ctx.ws.runs / Runs.MUTATION, {"status": "failed", "error": error})
        ctx.set_lane(mutation_lane.LANE, "failed", f"crashed: {redact(error)[:300]}")
        return
    if data["status"] == "failed":
        ctx.emit.warn(f"mutation: {data['error']}")
        ctx.set_lane(mutation_lane.LANE, "failed", redact(data["error"])[:300])
        return
    counts: dict[str, int] = {}
    for r in data["results"].values():
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    text = ", ".join(f"{n} {st}" for st, n in sorted(counts.items())) or "no mutants"
    ctx.emit(f"mutation: {len(data['mutants'])} mutant(s) in {data['duration_s']:.1f}s: {text}")
    ctx.set_lane(mutation_lane.LANE, "done", text)


MAX_GROUPS_ADDED = 3


def measure_suite(
    ctx: StageContext,
    rt: TaskRuntime,
    repo: Path,
    existing: list[str],
    changed_files: list[str],
    options: list[str],
    suite_env: dict[str, str],
) -> dict[str, Any]:
    """The existing suite's run under coverage of the changed files (or an earlier run of
    the same suite on the same commit), with its state; written to runs/baseline.json."""
    task = ctx.task
    changed = [repo / p for p in changed_files]
    if not changed:
        ctx.emit.warn("no changed Python code: there is nothing to measure")
        baseline = {"label": "baseline", "tests": [], "duration_s": 0.0, "coverage": {"files": {}}}
    elif existing:
        key = baseline_key(task, rt, existing, changed_files, options, suite_env)
        cached = cached_baseline(key)
        if cached is not None:
            # the same commit, environment and suite: its per-test coverage is known
            ctx.emit(f"the existing suite's run on this commit is reused ({cached['reused']})")
            baseline = cached
        else:
            ctx.emit(f"running the existing suite ({', '.join(existing)}) under coverage")
            baseline = run_pytest(
                ctx, rt, repo, existing, "baseline", coverage_files=changed, options=options,
                extra_env=suite_env,
            )  # fmt: skip
            baseline["key"] = key
        counts = _count(baseline)
        ctx.emit(
            f"existing suite: {counts['passed']} passed, {counts['failed']} failed, "
            f"{counts['error']} errors in {baseline['duration_s']:.1f}s"
        )
    else:
        ctx.emit.warn("the project has no test folder; 'before' coverage is zero")
        baseline = {"label": "baseline", "tests": [], "duration_s": 0.0}
        baseline["coverage"] = export_coverage(rt, repo, rt.out_dir("baseline"), changed)
    baseline["state"] = suite_state(baseline, existing if changed else [])
    # how long the suite's run took, and whether an earlier run on this commit was reused
    baseline["state"].update(duration_s=baseline.get("duration_s"), reused="reused" in baseline)
    if baseline["state"]["status"] == "broken":
        ctx.emit.warn(
            "the existing suite could not be run, so the 'before' figures are unknown: "
            + baseline["state"]["first_error"].strip().splitlines()[-1][:300]
        )
    elif baseline["state"]["status"] == "failing":
        ctx.emit.warn(
            f"the existing suite fails on the feature branch: "
            f"{', '.join(baseline['state']['failing_tests'][:5])}"
        )
    write_json(ctx.ws.runs / Runs.BASELINE, baseline)
    if baseline.get("key") and "reused" not in baseline:
        keep_baseline(baseline, repo)
    return baseline


def needed_group(ctx: StageContext, baseline: dict[str, Any]) -> tuple[str | None, str]:
    """(the origin of the project's other dependency group that declares the module the
    suite could not import, the module), when the suite is broken by just that."""
    state = baseline.get("state") or {}
    if state.get("status") != "broken":
        return None, ""
    found = re.search(r"No module named '([\w.]+)'", state.get("first_error") or "")
    if not found:
        return None, ""
    module = found.group(1)
    try:
        plan = setup_plan(ctx.task.worktree_path, package_root(ctx.task), setup_also(ctx.ws))
    except PlanError:
        return None, module
    group = plan.provider_of(module)
    if group is None or group.origin in setup_also(ctx.ws):
        return None, module
    return group.origin, module


def fresh_repo(ctx: StageContext, rt: TaskRuntime, files: list[str]) -> tuple[Path, str]:
    """A fresh writable copy of the worktree with the candidate files in a folder of
    their own; nothing an earlier run wrote survives. Returns (repo, that folder)."""
    repo = rt.scratch / "repo"
    # the candidates go in before any project code has run in it
    copy_tree(rt.worktree, repo)
    cand_dir = _free_name(repo, CANDIDATE_DIR)
    for rel in files:
        safe_fs.write_text(repo, f"{cand_dir}/{Path(rel).name}", (ctx.ws.root / rel).read_text())
    # the sandbox's user owns the copy: a suite that rewrites its fixture files can
    rt.sandbox.prepare_writable(repo)
    return repo, cand_dir


def _free_name(repo: Path, base: str) -> str:
    """A top-level folder name the repository does not use (links included)."""
    name, n = base, 1
    while os.path.lexists(repo / name):
        n += 1
        name = f"{base}_{n}"
    return name


MAX_FIRST_ERROR = 4000
BROKEN_EXIT = {2: "interrupted", 3: "internal error", 4: "usage error"}


def suite_state(run: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """report.json's `baseline`: `ok`, `failing` (tests fail on the feature branch: counts
    and names) or `broken` (the suite could not be collected or run at all, with the first
    error verbatim, redacted) — so a suite that never ran never reads as 0% covered."""
    counts = _count(run)
    state: dict[str, Any] = {
        "status": "ok",
        "paths": paths,
        "collected": len(run.get("tests") or []),
        "passed": counts["passed"],
        "failed": counts["failed"],
        "errors": counts["error"],
        "skipped": counts["skipped"],
        "first_error": None,
        "failing_tests": [],
    }
    if not paths:
        return state  # no test folder: nothing to collect, and 0% before is the truth
    tail = str(run.get("output_tail") or "")
    first_error = None
    if run.get("error"):
        first_error = f"{run['error']}\n{tail}"
    elif run.get("collect_errors"):
        error = run["collect_errors"][0]
        first_error = f"{error.get('nodeid') or 'collection'}: {error.get('error') or ''}"
    elif run.get("exitstatus") in BROKEN_EXIT:
        first_error = f"pytest stopped ({BROKEN_EXIT[run['exitstatus']]}):\n{tail}"
    elif not state["collected"]:
        first_error = f"pytest collected no tests from {', '.join(paths)}:\n{tail}"
    if first_error is not None:
        state["status"] = "broken"
        state["first_error"] = redact(first_error.strip())[-MAX_FIRST_ERROR:]
    elif counts["failed"] or counts["error"]:
        state["status"] = "failing"
        state["failing_tests"] = [
            t["nodeid"] for t in run.get("tests") or [] if t.get("outcome") in FAILING
        ][:50]
    return state


FAILING = ("failed", "error", "crashed", "xpass-strict")


def _count(data: dict[str, Any]) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    for t in data.get("tests", []):
        key = t.get("outcome", "error")
        key = "skipped" if key == "xfailed" else key
        counts[key if key in counts else "error"] += 1
    return counts
