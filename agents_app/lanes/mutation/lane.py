"""The mutation lane's run: mutants of the changed lines, their covering tests, the
kill matrix from the sandbox, written to runs/mutation.json for the evaluator.

It runs in the running stage, after the candidate runs, because it needs what they
measured: per-test coverage contexts (which test runs which changed line) and which
tests pass. The tests it uses are the existing suite's passing tests and the candidates
that passed every run; existing tests go first in each mutant's list, so a mutant that
hangs a candidate still says what the existing suite did.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.conf import settings

from agents_app.lanes.mutation.operators import Mutant, MutationSyntaxError, find_mutants
from agents_app.pipeline.context import StageContext
from agents_app.sandbox import Mount, SandboxError
from agents_app.spec.analysis import imported_modules
from tasks_app.core import lanes, safe_fs
from tasks_app.core.redaction import redact
from tasks_app.core.workspace import Runs, write_json

LANE = lanes.MUTATION
STATUSES = (
    "Killed",
    "Survived",
    "NoCoverage",
    "Timeout",
    "RuntimeError",
    "CompileError",
    "Ignored",
)


def enabled(ctx: StageContext) -> bool:
    if ctx.option("rerun_lane", "") == LANE:
        return True  # asked for by name
    # no generated tests, nothing to judge
    return bool(ctx.option("mutation", settings.TFACTORY_MUTATION)) and bool(
        ctx.option("functional", True)
    )


def changed_lines(plan: dict[str, Any]) -> dict[str, set[int]]:
    out: dict[str, set[int]] = defaultdict(set)
    for t in plan.get("targets", []):
        out[t["path"]].update(t["changed_lines"])
    return dict(out)


def modules_of(plan: dict[str, Any]) -> dict[str, str]:
    return {t["path"]: t["module"] for t in plan.get("targets", [])}


def generate(
    root: Path, lines: dict[str, set[int]], limit: int
) -> tuple[list[Mutant], dict[str, bytes], list[str]]:
    """The mutants of every changed file (the first `limit` run; the rest are Ignored),
    the sources they were made from, and the files that could not be parsed."""
    mutants: list[Mutant] = []
    sources: dict[str, bytes] = {}
    problems: list[str] = []
    for path in sorted(lines):
        source = safe_fs.read_bytes(root, path)
        try:
            found = find_mutants(path, source, lines[path])
        except MutationSyntaxError as exc:
            problems.append(str(exc))
            continue
        sources[path] = source
        mutants.extend(found)
    runnable = 0
    out = []
    for m in mutants:
        if not m.ignored:
            runnable += 1
            if runnable > limit:
                m = replace(m, ignored=f"over the limit of {limit} mutants per task")
        out.append(m)
    return out, sources, problems


class Coverage:
    """Which test ran which line, from the coverage exports of the executor's runs."""

    def __init__(self, exports: Iterable[dict[str, Any]], repo: str):
        self.by_line: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
        self.first: dict[str, dict[int, int]] = defaultdict(dict)
        prefix = repo.rstrip("/") + "/"
        for export in exports:
            for abs_path, info in (export or {}).get("files", {}).items():
                rel = abs_path[len(prefix) :] if abs_path.startswith(prefix) else abs_path
                for k, v in (info.get("first_lines") or {}).items():
                    self.first[rel][int(k)] = int(v)
                for ctx_name, cov in (info.get("contexts") or {}).items():
                    for n in cov.get("lines", []):
                        self.by_line[rel][n].add(ctx_name)

    def contexts(self, path: str, first: int, last: int) -> set[str]:
        out: set[str] = set()
        for n in range(first, last + 1):
            out |= self.by_line[path].get(self.first[path].get(n, n), set())
        return out

    def anywhere(self, path: str) -> set[str]:
        return set().union(*self.by_line[path].values()) if self.by_line.get(path) else set()


def select_tests(
    mutants: list[Mutant],
    cov: Coverage,
    eligible: list[str],
    importers: dict[str, set[str]],
) -> list[tuple[Mutant, list[str]]]:
    """Each mutant with the tests to run against it, in `eligible`'s order.

    A function-scope mutant on a line that ran while the tests were being imported
    (a decorator's body, a function a module calls at import) becomes module-scope: only
    a fresh import shows its effect. A module-scope mutant gets every test that ran any
    line of its file, and every test in a file that imports its module.
    """
    order = {t: i for i, t in enumerate(eligible)}
    out = []
    for m in mutants:
        ctxs = cov.contexts(m.path, m.line, m.end_line)
        if m.scope == "function" and "" in ctxs:
            m = replace(m, scope="module", qualname="", firstlineno=0)
        if m.scope == "function":
            chosen = ctxs
        else:
            chosen = cov.anywhere(m.path) | importers.get(m.path, set())
        tests = sorted((t for t in chosen if t in order), key=order.__getitem__)
        out.append((m, tests))
    return out


def importers_of(
    modules: dict[str, str], test_sources: dict[str, str], nodeids: list[str]
) -> dict[str, set[str]]:
    """path -> the tests whose file imports that path's module by name (`import a.b`,
    `from a.b import x`, `from a import b`). A test that reaches the module through a
    package only is found by coverage instead, when it runs any line of it."""
    imports = {f: imported_modules(src) for f, src in test_sources.items()}
    out: dict[str, set[str]] = defaultdict(set)
    for path, module in modules.items():
        for nodeid in nodeids:
            if module in imports.get(nodeid.split("::", 1)[0], set()):
                out[path].add(nodeid)
    return out


def run(
    ctx: StageContext,
    rt: Any,
    repo: Path,
    *,
    plan: dict[str, Any],
    baseline: dict[str, Any],
    candidate_runs: list[dict[str, Any]],
    candidates: dict[str, str],
    test_paths: list[str],
    pytest_args: list[str],
    suite_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run the lane; writes runs/mutation.json and returns it.

    candidates: nodeid -> test_id of every candidate; test_paths: what pytest collects.
    """
    started = time.monotonic()
    ctx.set_lane(LANE, "running")
    lines = changed_lines(plan)
    limit = int(ctx.option("mutation_max_mutants", settings.TFACTORY_MUTATION_MAX_MUTANTS))
    mutants, sources, problems = generate(rt.worktree, lines, limit)
    for p in problems:
        ctx.emit.warn(f"mutation: cannot parse {p}")
    existing = _green(baseline)
    cand_green = _green_everywhere(candidate_runs, candidates)
    eligible = existing + cand_green
    exports = [baseline.get("coverage")] + [r.get("coverage") for r in candidate_runs[:1]]
    cov = Coverage(exports, str(repo))
    test_sources = {}
    for nodeid in eligible:
        f = nodeid.split("::", 1)[0]
        if f not in test_sources:
            try:
                test_sources[f] = safe_fs.read_text(repo, f)
            except (OSError, ValueError):
                test_sources[f] = ""
    selected = select_tests(
        mutants, cov, eligible, importers_of(modules_of(plan), test_sources, eligible)
    )
    data: dict[str, Any] = {
        "status": "done",
        "error": None,
        "existing": existing,
        "candidates": {n: candidates[n] for n in cand_green},
        "problems": problems,
        "sources": {p: s.decode("utf-8", "replace") for p, s in sources.items()},
        "mutants": [{**m.as_dict(), "tests": tests} for m, tests in selected],
    }
    if not mutants:
        ctx.emit("mutation: the changed lines hold no mutable code")
        data["results"] = {}
        return _finish(ctx, data, started)
    to_run = [d for d in data["mutants"] if not d["ignored"]]
    ctx.emit(
        f"mutation: {len(mutants)} mutant(s) of the changed lines "
        f"({len(to_run)} to run, {len(mutants) - len(to_run)} ignored), against "
        f"{len(existing)} existing and {len(cand_green)} candidate test(s)"
    )
    if not any(d["tests"] for d in to_run):
        # no passing test runs any changed line: nothing to start a test process for
        data["results"] = {
            d["id"]: {
                "status": "Ignored" if d["ignored"] else "NoCoverage",
                "statusReason": d["ignored"] or "no passing test runs this line",
                "killedBy": [],
                "coveredBy": [],
            }
            for d in data["mutants"]
        }
        return _finish(ctx, data, started)
    durations = _durations([baseline, *candidate_runs[:1]])
    results, error, extra = _run_in_sandbox(
        ctx, rt, repo, data, sources, test_paths, pytest_args, durations, suite_env or {}
    )
    data.update(extra)
    data["results"] = results
    if error:
        data["status"] = "failed"
        data["error"] = error
    return _finish(ctx, data, started)


def _finish(ctx: StageContext, data: dict[str, Any], started: float) -> dict[str, Any]:
    data["duration_s"] = round(time.monotonic() - started, 3)
    write_json(ctx.ws.runs / Runs.MUTATION, data)
    return data


def _green(run: dict[str, Any]) -> list[str]:
    return [t["nodeid"] for t in run.get("tests", []) if t.get("outcome") == "passed"]


def _green_everywhere(runs: list[dict[str, Any]], candidates: dict[str, str]) -> list[str]:
    if not runs:
        return []
    passed = [set(_green(r)) for r in runs]
    return [n for n in candidates if all(n in p for p in passed)]


def _run_in_sandbox(
    ctx: StageContext,
    rt: Any,
    repo: Path,
    data: dict[str, Any],
    sources: dict[str, bytes],
    test_paths: list[str],
    pytest_args: list[str],
    durations: dict[str, float],
    suite_env: dict[str, str],
) -> tuple[dict[str, Any], str | None, dict[str, Any]]:
    budget = float(ctx.option("mutation_budget_s", settings.TFACTORY_MUTATION_BUDGET_S))
    wanted = {t for m in data["mutants"] for t in m["tests"]}
    dry_timeout = 3 * sum(durations.get(t, 1.0) for t in wanted) + 60
    job = build_job(
        data["mutants"],
        sources,
        test_paths=test_paths,
        pytest_args=pytest_args,
        workers=int(ctx.option("mutation_workers", settings.TFACTORY_MUTATION_WORKERS)),
        budget_s=budget,
        dry_run_timeout_s=dry_timeout,
        durations={t: durations[t] for t in wanted if t in durations},
    )
    ctl = rt.ctl_dir("mutation")
    (ctl / "job.json").write_text(json.dumps(job))
    out = rt.out_dir("mutation")
    argv = [rt.project_env.python, "-m", "tfactory_mutrun", ctl / "job.json", out]
    env = rt.env(pythonpath=rt.roots_in(repo), PYTHONHASHSEED="0", **suite_env)
    mounts = [Mount(repo, writable=True), Mount(out, writable=True), Mount(ctl)]
    watcher = _Progress(ctx, out, total=sum(1 for m in data["mutants"] if not m["ignored"]))
    watcher.start()
    try:
        res = rt.run(
            argv,
            workdir=repo,
            timeout_s=budget + dry_timeout + 120,
            env=env,
            mounts=mounts,
        )
    except SandboxError as exc:
        return {}, f"the sandbox failed: {exc}", {}
    finally:
        watcher.stop()
    ctx.check_cancelled()
    try:
        raw = json.loads(safe_fs.read_text(out, "results.json", limit=200_000_000))
    except (OSError, ValueError) as exc:
        tail = redact("\n".join((res.stdout + res.stderr).strip().splitlines()[-15:]))
        why = "it hit the time limit" if res.timed_out else f"exit {res.returncode}"
        return {}, f"the mutation run wrote no results ({why}; {exc}): {tail}", {}
    results = _validated(raw, data["mutants"])
    extra = {
        "dry_run": _dry(raw.get("dry_run")),
        "runner_errors": [redact(str(e))[:2000] for e in raw.get("errors", [])][:10],
        "timing": raw.get("timing") if isinstance(raw.get("timing"), dict) else {},
    }
    error = None
    if raw.get("errors") and not any(r["status"] != "RuntimeError" for r in results.values()):
        error = "the mutation run failed: " + extra["runner_errors"][0][-500:]
    return results, error, extra


def build_job(
    mutants: list[dict[str, Any]],
    sources: dict[str, bytes],
    *,
    test_paths: list[str],
    pytest_args: list[str],
    workers: int,
    budget_s: float,
    dry_run_timeout_s: float,
    timeout_factor: float | None = None,
    timeout_s: float | None = None,
    durations: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The runner's job (runner_side/tfactory_mutrun.py reads it). `durations`: seconds
    per test as already measured; with them the runner's dry run overlaps the mutants."""
    return {
        "durations": durations or {},
        "files": {p: {"sha256": hashlib.sha256(s).hexdigest()} for p, s in sources.items()},
        "test_paths": test_paths,
        "pytest_args": pytest_args,
        "workers": max(1, workers),
        "budget_s": budget_s,
        "dry_run_timeout_s": dry_run_timeout_s,
        "timeout_factor": timeout_factor or settings.TFACTORY_MUTATION_TIMEOUT_FACTOR,
        "timeout_s": timeout_s or settings.TFACTORY_MUTATION_TIMEOUT_S,
        "mutants": [
            {
                "id": m["id"],
                "file": m["path"],
                "start": m["start"],
                "length": m["length"],
                "replacement": m["replacement"],
                "scope": m["scope"],
                "qualname": m["qualname"],
                "firstlineno": m["firstlineno"],
                "ignored": m["ignored"],
                "tests": m["tests"],
            }
            for m in mutants
        ],
    }


def _durations(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds per test as the executor's runs measured them."""
    return {
        t["nodeid"]: float(t.get("duration") or 0.0) for run in runs for t in run.get("tests", [])
    }


def _validated(raw: dict[str, Any], mutants: list[dict[str, Any]]) -> dict[str, Any]:
    """The runner's per-mutant results, trusted only as far as they fit the job: known
    ids, known statuses, test ids from the mutant's own list."""
    got = raw.get("mutants") if isinstance(raw.get("mutants"), dict) else {}
    out: dict[str, Any] = {}
    for m in mutants:
        r = got.get(m["id"])
        allowed = set(m["tests"])
        if not isinstance(r, dict) or r.get("status") not in STATUSES:
            out[m["id"]] = {
                "status": "Ignored" if m["ignored"] else "RuntimeError",
                "statusReason": m["ignored"] or "the runner reported nothing for this mutant",
                "killedBy": [],
                "coveredBy": [],
            }
            continue

        entry = {
            "status": r["status"],
            "statusReason": redact(str(r.get("statusReason") or ""))[:1000],
            "killedBy": _names(r.get("killedBy"), allowed),
            "coveredBy": _names(r.get("coveredBy"), allowed),
            "testsCompleted": int(r.get("testsCompleted") or 0),
        }
        if isinstance(r.get("duration"), (int, float)):
            entry["duration"] = float(r["duration"])
        for key in ("timedOutIn", "crashedIn"):
            if r.get(key) in allowed:
                entry[key] = r[key]
        out[m["id"]] = entry
    return out


def _names(value: Any, allowed: set[str]) -> list[str]:
    return [t for t in value if t in allowed] if isinstance(value, list) else []


def _dry(dry: Any) -> dict[str, Any]:
    if not isinstance(dry, dict):
        return {}
    tests = dry.get("tests") if isinstance(dry.get("tests"), dict) else {}
    return {
        "tests": {
            str(k): {"outcome": str(v.get("outcome")), "duration": float(v.get("duration") or 0)}
            for k, v in tests.items()
            if isinstance(v, dict)
        },
        "not_collected": [str(x) for x in dry.get("not_collected", [])][:200],
        "collect_s": float(dry.get("collect_s") or 0.0),
    }


class _Progress(threading.Thread):
    """Says how far the mutation run is, every so often, from its progress file."""

    def __init__(self, ctx: StageContext, out: Path, total: int, every_s: float = 15.0):
        super().__init__(name="mutation-progress", daemon=True)
        self.ctx, self.out, self.total, self.every_s = ctx, out, total, every_s
        self.stopped = threading.Event()

    def run(self) -> None:
        last = -1
        try:
            while not self.stopped.wait(self.every_s):
                counts = self.counts()
                done = sum(counts.values())
                if done != last and done:
                    last = done
                    detail = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
                    self.ctx.emit(f"mutation: {done}/{self.total} mutants tested ({detail})")
        finally:
            from django.db import connection

            connection.close()

    def counts(self) -> dict[str, int]:
        try:
            text = safe_fs.read_text(self.out, "progress.jsonl", limit=50_000_000)
        except (OSError, ValueError):
            return {}
        counts: dict[str, int] = defaultdict(int)
        for line in text.splitlines():
            try:
                counts[str(json.loads(line).get("status"))] += 1
            except (ValueError, AttributeError):
                continue
        return dict(counts)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)
