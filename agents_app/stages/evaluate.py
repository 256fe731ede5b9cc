"""Evaluator: decides each candidate's verdict from deterministic evidence only.

- Runs: green in every run -> candidate; an assertion failure in every run -> flag (a
  possible bug on the feature branch, reported as such); errors in every run ->
  reject; mixed -> flaky, reject.
- Tests with no assertion at all check nothing -> reject.
- The mutation gate: a green test must kill a changed-line mutant the existing suite lets
  survive (or any changed-line mutant, when the suite kills them all); else it is
  trivial and rejected. When the kill matrix is missing, the test is flagged, never
  accepted (agents_app/lanes/mutation/gate.py).
- Coverage of the changed lines (and of the branches that start on them) before (the
  existing suite) and after (plus the kept tests); the smallest set of green tests that
  reaches the same changed-line coverage and kills the same mutants is kept (set
  cover); every other test gets the reason it was dropped.
"""

from __future__ import annotations

import ast
import itertools
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents_app.lanes.functional.engines import repair
from agents_app.lanes.mutation.gate import MutationGate
from agents_app.llm import review
from agents_app.models import GeneratedTest
from agents_app.pipeline.context import StageContext
from agents_app.spec.analysis import imported_modules
from tasks_app.core import lanes
from tasks_app.core.workspace import Runs, read_json, write_json, write_text

LANE = lanes.FUNCTIONAL

Element = tuple  # ("L", path, line) | ("B", path, src, dst) | ("M", mutant id)


@dataclass
class Changed:
    """The changed executable lines and branch arcs, per file (repository-relative)."""

    lines: dict[str, set[int]] = field(default_factory=dict)
    arcs: dict[str, set[tuple[int, int]]] = field(default_factory=dict)

    def elements(self) -> set[Element]:
        out: set[Element] = set()
        for path, lines in self.lines.items():
            out |= {("L", path, n) for n in lines}
        for path, arcs in self.arcs.items():
            out |= {("B", path, a, b) for a, b in arcs}
        return out


def changed_elements(plan: dict[str, Any], export: dict[str, Any], repo: str) -> Changed:
    added: dict[str, set[int]] = defaultdict(set)
    for t in plan.get("targets", []):
        added[t["path"]].update(t["changed_lines"])
    ch = Changed()
    for abs_path, info in export.get("files", {}).items():
        rel = _rel(abs_path, repo)
        if rel not in added or "statements" not in info:
            continue
        # a changed continuation line counts as its statement's first line
        first = {int(k): v for k, v in (info.get("first_lines") or {}).items()}
        touched = {first.get(n, n) for n in added[rel]}
        lines = set(info["statements"]) & touched
        branch_lines = set(info.get("branch_lines", [])) & touched
        ch.lines[rel] = lines
        ch.arcs[rel] = {
            (a, b)
            for a, b in (tuple(x) for x in info.get("arcs_possible", []))
            if a in branch_lines
        }
    return ch


def _rel(path: str, repo: str) -> str:
    prefix = repo.rstrip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else path


def covered_by_context(
    export: dict[str, Any], repo: str, changed: Changed
) -> dict[str, set[Element]]:
    """context name -> the changed elements it covered."""
    out: dict[str, set[Element]] = defaultdict(set)
    for abs_path, info in export.get("files", {}).items():
        rel = _rel(abs_path, repo)
        lines = changed.lines.get(rel, set())
        arcs = changed.arcs.get(rel, set())
        for ctx_name, cov in info.get("contexts", {}).items():
            hit = {("L", rel, n) for n in cov.get("lines", []) if n in lines}
            hit |= {
                ("B", rel, a, b)
                for a, b in (tuple(x) for x in cov.get("arcs", []))
                if (a, b) in arcs
            }
            out[ctx_name] |= hit
    return out


def pct(covered: int, total: int) -> float | None:
    return round(100.0 * covered / total, 2) if total else None


def coverage_figures(elements: set[Element], changed: Changed) -> dict[str, Any]:
    total_lines = sum(len(v) for v in changed.lines.values())
    total_arcs = sum(len(v) for v in changed.arcs.values())
    lines = sum(1 for e in elements if e[0] == "L")
    arcs = sum(1 for e in elements if e[0] == "B")
    return {
        "line_pct": pct(lines, total_lines),
        "branch_pct": pct(arcs, total_arcs),
        "lines_covered": lines,
        "branches_covered": arcs,
    }


@dataclass
class Outcome:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    xfailed: int = 0
    assertions: int = 0  # failures that were assertion failures in the test body
    limits: list[str] = field(default_factory=list)  # sandbox limits a crashed run hit
    missing: int = 0
    failures: list[str] = field(default_factory=list)
    exc_types: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)  # per run: passed / failed / ...


def collect_outcomes(runs: list[dict[str, Any]], nodeid_for: dict[str, str]) -> dict[str, Outcome]:
    """test_id -> Outcome across the candidate runs."""
    outcomes: dict[str, Outcome] = {tid: Outcome() for tid in nodeid_for}
    for i, run in enumerate(runs):
        by_node = {t["nodeid"]: t for t in run.get("tests", [])}
        collect_errors = {e["nodeid"]: e["error"] for e in run.get("collect_errors", [])}
        for tid, nodeid in nodeid_for.items():
            o = outcomes[tid]
            rec = by_node.get(nodeid)
            label = f"run {i + 1} ({run.get('order', '?')})"
            if rec is None:
                o.missing += 1
                o.runs.append("missing")
                file_node = nodeid.split("::")[0]
                err = collect_errors.get(file_node)
                if err:
                    last = err.strip().splitlines()[-1] if err.strip() else err
                    o.failures.append(f"{label}: could not be collected: {last[:300]}")
                    o.exc_types.append("CollectionError")
                elif run.get("timed_out"):
                    o.failures.append(f"{label}: the run hit its time limit before this test")
                    o.exc_types.append("Timeout")
                else:
                    o.failures.append(f"{label}: not reported")
                    o.exc_types.append("Missing")
                continue
            outcome = rec.get("outcome")
            o.runs.append(outcome)
            if outcome == "passed":
                o.passed += 1
            elif outcome in ("skipped", "xfailed"):
                o.skipped += 1
                o.xfailed += outcome == "xfailed"
            else:
                o.failed += 1
                o.assertions += bool(rec.get("assertion")) and rec.get("phase") == "call"
                exc = rec.get("exc_type") or "Error"
                if rec.get("phase") and rec.get("phase") != "call":
                    exc = f"{exc} (in {rec['phase']})"
                o.exc_types.append(exc)
                o.failures.append(f"{label}: {(rec.get('message') or exc)[:300]}")
                if rec.get("limit_hit"):
                    o.limits.append(str(rec["limit_hit"]))
    return outcomes


def has_assertion(code: str) -> bool:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name in ("raises", "warns", "approx") or name.startswith("assert"):
                return True
    return False


def minimise(
    green: dict[str, set[Element]], baseline: set[Element], code_len: dict[str, int]
) -> tuple[list[tuple[str, set[Element]]], set[Element]]:
    """The fewest tests that together reach all the coverage the green tests add beyond
    the baseline, each with the elements it contributes (in selection order).

    Greedy set cover (most new elements first; ties to the shorter test), then a reverse
    pass that drops any kept test whose contribution the other kept tests already reach,
    then an exhaustive search for a smaller cover (bounded in time; for the few dozen
    tests a change yields it finishes, so the set is the smallest, not just irredundant).
    """
    target = set().union(*green.values()) - baseline if green else set()
    remaining = set(target)
    order: list[str] = []
    pool = dict(green)
    while remaining and pool:
        best = max(
            pool,
            key=lambda t: (len(pool[t] & remaining), -code_len.get(t, 0), _neg(t)),
        )
        if not pool[best] & remaining:
            break
        order.append(best)
        remaining -= pool[best]
        del pool[best]
    for tid in reversed(list(order)):
        others = set().union(*(green[o] for o in order if o != tid)) if len(order) > 1 else set()
        if target <= others | baseline:
            order.remove(tid)
    order = _exact_cover(green, target, order, code_len) or order
    kept: list[tuple[str, set[Element]]] = []
    covered = set(baseline)
    for tid in order:
        kept.append((tid, green[tid] & target - covered))
        covered |= green[tid]
    return kept, target


def _exact_cover(
    green: dict[str, set[Element]],
    target: set[Element],
    found: list[str],
    code_len: dict[str, int],
    budget_s: float = 2.0,
) -> list[str] | None:
    """A cover smaller than `found`, by exhaustive search over bitmasks, if one exists
    and the search fits in `budget_s`; None otherwise (then `found` stands)."""
    if len(found) <= 1:
        return None
    bit = {e: 1 << i for i, e in enumerate(sorted(target, key=repr))}
    full = (1 << len(bit)) - 1
    masks: dict[str, int] = {}
    for tid, elems in green.items():
        m = 0
        for e in elems & target:
            m |= bit[e]
        if m:
            masks[tid] = m
    # a test whose coverage another test's includes is never needed in a smallest cover
    pool = sorted(masks, key=lambda t: (-masks[t].bit_count(), code_len.get(t, 0), t))
    useful = [
        t for i, t in enumerate(pool)
        if not any(masks[t] | masks[o] == masks[o] for o in pool[:i])
    ]  # fmt: skip
    deadline = time.monotonic() + budget_s
    for size in range(1, len(found)):
        for combo in itertools.combinations(useful, size):
            m = 0
            for t in combo:
                m |= masks[t]
            if m == full:
                return list(combo)
            if time.monotonic() > deadline:
                return None
    return None


def _neg(test_id: str) -> tuple:
    # deterministic tie-break: lexicographically smallest id wins under max()
    return tuple(-ord(c) for c in test_id)


def describe_elements(elements: set[Element], limit: int = 12) -> str:
    """Changed lines and branches (mutant elements are described by the gate)."""
    lines: dict[str, list[int]] = defaultdict(list)
    branches = 0
    for e in elements:
        if e[0] == "L":
            lines[e[1]].append(e[2])
        elif e[0] == "B":
            branches += 1
    parts = []
    for path in sorted(lines):
        nums = sorted(lines[path])
        shown = ",".join(str(n) for n in nums[:limit]) + ("…" if len(nums) > limit else "")
        parts.append(f"{path}:{shown}")
    text = "; ".join(parts) if parts else "no lines"
    return text + (f" and {branches} branch(es)" if branches else "")


def run(ctx: StageContext) -> str | None:
    """Judge the candidates; in model mode, returns "generating" when another feedback
    round is due (the pipeline then goes back to generation)."""
    task = ctx.task
    ws = ctx.ws
    plan = read_json(ws.test_plan)
    if (ws.runs / Runs.SETUP).exists():
        return _setup_failed(ctx, plan, read_json(ws.runs / Runs.SETUP))
    generation = (
        read_json(ws.runs / Runs.GENERATION) if (ws.runs / Runs.GENERATION).exists() else {}
    )
    lint_flags: dict[str, list[str]] = (generation.get("model") or {}).get("flags", {})
    crit_text = {c["id"]: c["text"] for c in plan.get("criteria", [])}
    index = read_json(ws.runs / Runs.INDEX)
    repo = index["scratch_repo"]
    baseline_run = read_json(ws.runs / Runs.BASELINE)
    cand_runs = [read_json(ws.root / p) for p in index["candidate_runs"]]

    export_for_changes = (
        (cand_runs[0].get("coverage") if cand_runs else baseline_run.get("coverage"))
        or baseline_run.get("coverage")
        or {"files": {}}
    )
    changed = changed_elements(plan, export_for_changes, repo)
    base_cov = covered_by_context(baseline_run.get("coverage") or {}, repo, changed)
    baseline = set().union(*base_cov.values()) if base_cov else set()

    tests = list(GeneratedTest.objects.filter(task=task, lane=LANE))
    cand_dir = index["candidate_dir"]
    nodeid_for = {t.test_id: f"{cand_dir}/{Path(t.file).name}::{t.name}" for t in tests}
    outcomes = collect_outcomes(cand_runs, nodeid_for)
    n_runs = len(cand_runs)

    cand_cov = covered_by_context(
        (cand_runs[0].get("coverage") if cand_runs else {}) or {}, repo, changed
    )
    # lines run while a test file was imported (module bodies, def lines) belong to
    # every test whose file imports that module
    module_files = {t["module"]: t["path"] for t in plan.get("targets", [])}
    import_time = cand_cov.get("", set())
    file_imports: dict[str, set[str]] = {}
    for t in tests:
        if t.file not in file_imports:
            file_imports[t.file] = imported_modules((ws.root / t.file).read_text())

    def elements_of(t: GeneratedTest) -> set[Element]:
        own = own_elements(t)
        for mod in file_imports.get(t.file, set()):
            if path := module_files.get(mod):
                own |= {e for e in import_time if e[1] == path}
        return own

    def own_elements(t: GeneratedTest) -> set[Element]:
        """What ran while the test itself ran (not while its file was imported)."""
        return set(cand_cov.get(nodeid_for[t.test_id], set()))

    coverage_problem = _coverage_problem(cand_runs[0]) if cand_runs else None
    if coverage_problem:
        ctx.emit.warn(f"candidate coverage is unknown: {coverage_problem}")
    suite = baseline_run.get("state") or {}
    broken = suite.get("status") == "broken"
    if broken:
        # a suite that never ran covers nothing *known*: the before figures are unknown
        baseline_problem: str | None = (
            "the existing suite could not be run: "
            + str(suite.get("first_error") or "").strip().splitlines()[-1][:300]
        )
    else:
        baseline_problem = _coverage_problem(baseline_run) if baseline_run.get("tests") else None
    if baseline_problem:
        ctx.emit.warn(f"the existing suite's coverage is unknown: {baseline_problem}")

    verdicts: dict[str, tuple[str, list[str]]] = {}
    green: dict[str, set[Element]] = {}
    elements: dict[str, set[Element]] = {}
    for t in tests:
        o = outcomes[t.test_id]
        elements[t.test_id] = elements_of(t)
        runs_text = f"{o.passed}/{n_runs} runs passed"
        if n_runs and o.passed == n_runs:
            if not has_assertion(t.code):
                verdicts[t.test_id] = (
                    "reject",
                    [runs_text, "checks nothing: no assert, pytest.raises or assert* call"],
                )
            elif lint_flags.get(t.test_id):
                verdicts[t.test_id] = (
                    "flag",
                    [runs_text, *lint_flags[t.test_id], "a guard flagged it: review it"],
                )
            elif coverage_problem:
                # unknown is a flag, never an accept
                verdicts[t.test_id] = (
                    "flag",
                    [runs_text, f"coverage could not be measured ({coverage_problem}); review it"],
                )
            else:
                green[t.test_id] = elements[t.test_id]
        elif n_runs and o.failed == n_runs and o.assertions == n_runs:
            verdicts[t.test_id] = (
                "flag",
                [
                    f"fails on the feature branch in {o.failed}/{n_runs} runs with an assertion "
                    "failure: a possible bug in the change, or a wrong expectation — review it",
                    o.failures[0],
                    *[f"criterion {c}: {crit_text[c].strip()}" for c in t.criterion_ids
                      if t.engine == "llm" and c in crit_text],
                ],
            )  # fmt: skip
        elif n_runs and o.failed + o.missing == n_runs and o.passed == 0:
            kinds = sorted(set(o.exc_types))
            reason = _limit_reason(o) or (
                f"errors in every run ({', '.join(kinds)}): the test is broken"
            )
            verdicts[t.test_id] = ("reject", [reason, o.failures[0]])
        elif n_runs and o.xfailed == n_runs:
            verdicts[t.test_id] = (
                "reject",
                [
                    "marked xfail by the engine: the code raised an exception the engine did not "
                    "expect for these inputs; it pins no behaviour"
                ],
            )
        elif n_runs and o.skipped == n_runs:
            verdicts[t.test_id] = ("reject", ["skipped in every run"])
        elif not n_runs:
            verdicts[t.test_id] = ("reject", ["was not run"])
        else:
            detail = ", ".join(f"run {i + 1}: {r}" for i, r in enumerate(o.runs))
            reasons = [f"flaky: {runs_text} ({detail}); order and hash seed differ per run"]
            if o.failures:
                reasons.append(o.failures[0])
            verdicts[t.test_id] = ("reject", reasons)

    gate = MutationGate.load(ctx.ws.runs, nodeid_for, before_unknown=baseline_problem)
    if gate.note:
        ctx.emit(f"mutation gate: {gate.note}")
    for tid in list(green):
        problem = gate.check(tid)
        if problem is not None:
            verdict, why = problem
            verdicts[tid] = (verdict, [f"passed {n_runs}/{n_runs} runs", why])
            del green[tid]
        else:
            green[tid] = green[tid] | gate.elements(tid)
    baseline_all = baseline | gate.baseline_elements()

    code_len = {t.test_id: len(t.code) for t in tests}
    kept, reached = minimise(green, baseline_all, code_len)
    kept_ids = {tid for tid, _ in kept}
    gains = dict(kept)
    for tid, elems in green.items():
        if tid in kept_ids:
            gain = gains[tid]
            reasons = [f"passed {n_runs}/{n_runs} runs (three orders, three hash seeds)"]
            if any(e[0] != "M" for e in gain):
                reasons.append(f"adds coverage of changed code: {describe_elements(gain)}")
            reasons.append(gate.kill_reason(tid, gain))
            verdicts[tid] = ("accept", [r for r in reasons if r])
        elif not (elems - baseline_all):
            verdicts[tid] = (
                "reject",
                [
                    f"passed {n_runs}/{n_runs} runs",
                    "adds nothing beyond the existing suite: no changed-line coverage and no "
                    "mutant it alone kills",
                ],
            )
        else:
            covering = [k for k, g in kept if g & elems][:3]
            verdicts[tid] = (
                "reject",
                [
                    f"passed {n_runs}/{n_runs} runs",
                    "redundant: the changed lines it covers and the mutants it kills are "
                    "already covered and killed by kept tests "
                    + ", ".join(c.split("::")[-1] for c in covering),
                ],
            )

    targets = plan.get("targets", [])
    for t in tests:
        verdict, reasons = verdicts[t.test_id]
        o = outcomes[t.test_id]
        gain = gains.get(t.test_id, set())
        t.verdict = verdict
        t.reasons = reasons
        t.runs_passed = o.passed
        t.runs_failed = o.failed + o.missing
        t.lines_added = sum(1 for e in gain if e[0] == "L")
        t.branches_added = sum(1 for e in gain if e[0] == "B")
        t.mutants_killed = gate.killed_count(t.test_id)
        # the code a test is about is the code it runs, not what importing its file ran
        t.target, hit = _targets_hit(own_elements(t), targets)
        if t.engine != "llm" or not t.criterion_ids:
            t.criterion_ids = hit  # a model's test keeps the criterion it was written for
    GeneratedTest.objects.bulk_update(
        tests,
        [
            "verdict",
            "reasons",
            "runs_passed",
            "runs_failed",
            "lines_added",
            "branches_added",
            "mutants_killed",
            "target",
            "criterion_ids",
        ],
    )

    after = baseline_all | set().union(*(g for _, g in kept)) if kept else set(baseline_all)
    summary = {
        "changed_lines": sum(len(v) for v in changed.lines.values()),
        "changed_branches": sum(len(v) for v in changed.arcs.values()),
        "before": coverage_figures(baseline, changed)
        if not baseline_problem
        else {"line_pct": None, "branch_pct": None, "unknown": baseline_problem},
        "after": coverage_figures(after, changed),
        "reachable_by_candidates": coverage_figures(baseline | reached, changed),
        "uncovered_after": describe_elements(changed.elements() - after, limit=40),
        "files": {
            path: {
                "changed_lines": sorted(changed.lines[path]),
                "covered_before": sorted(e[2] for e in baseline if e[0] == "L" and e[1] == path),
                "covered_after": sorted(e[2] for e in after if e[0] == "L" and e[1] == path),
            }
            for path in sorted(changed.lines)
        },
    }
    write_json(ws.runs / Runs.COVERAGE, summary)
    _write_accepted(ws.root, tests)
    mutation_summary = gate.write_reports(ctx, [nodeid_for[tid] for tid in kept_ids])

    counts = defaultdict(int)
    for t in tests:
        counts[t.verdict] += 1
    before, after_f = summary["before"]["line_pct"], summary["after"]["line_pct"]
    text = (
        f"{counts['accept']} accepted, {counts['reject']} rejected, {counts['flag']} flagged; "
        f"changed-line coverage {_fmt(before)} -> {_fmt(after_f)}"
    )
    ctx.emit(text)
    if task.mode != "offline":
        again = review.feedback_round(ctx, plan, generation, summary, mutation_summary)
        if again:
            ctx.set_lane(LANE, "running", f"{text}; feedback round {again} queued")
            return "generating"
        review.judge(ctx, [t for t in tests if t.engine == "llm"], crit_text)
    if broken:
        text = f"{text}; {baseline_problem}, so the 'before' figures are unknown"
    ctx.set_lane(
        LANE,
        "degraded" if broken else "done",
        text,
        accepted=counts["accept"],
        rejected=counts["reject"],
        flagged=counts["flag"],
    )
    return None


def _setup_failed(ctx: StageContext, plan: dict[str, Any], setup: dict[str, Any]) -> None:
    """The project could not be set up: nothing ran, so every coverage figure is unknown
    (the changed lines are counted from the plan)."""
    unknown = {"line_pct": None, "branch_pct": None, "unknown": setup["sentence"]}
    changed = {t["path"]: set(t.get("changed_lines") or []) for t in plan.get("targets", [])}
    write_json(
        ctx.ws.runs / Runs.COVERAGE,
        {
            "changed_lines": sum(len(v) for v in changed.values()),
            "changed_branches": None,
            "before": unknown,
            "after": unknown,
            "uncovered_after": None,
            "files": {},
        },
    )
    ctx.set_lane(LANE, "degraded", setup["sentence"], accepted=0, rejected=0, flagged=0)


_LIMIT_WORDS = {
    "memory": "hit the sandbox's memory limit",
    "pids": "hit the sandbox's process limit",
    "file_size": "hit the sandbox's file-size limit",
    "wall_time": "hit the sandbox's time limit",
}


def _limit_reason(o: Outcome) -> str | None:
    """When a test failed because it ran into a sandbox limit, say which."""
    for limit in o.limits:
        if limit in _LIMIT_WORDS:
            return f"{_LIMIT_WORDS[limit]} in every run (the run went on without it)"
    kinds = set(o.exc_types)
    text = " ".join(o.failures)
    # pytest-timeout fails a test with "Failed: Timeout (>Ns) from pytest-timeout"
    if "Timeout" in kinds or "Timeout (>" in text:
        return "exceeded the per-test time limit in every run"
    if "MemoryError" in kinds:
        return f"{_LIMIT_WORDS['memory']} in every run (MemoryError)"
    if kinds & {"BlockingIOError"} or "Resource temporarily unavailable" in text:
        return f"{_LIMIT_WORDS['pids']} in every run (fork failed)"
    if "File too large" in text:
        return f"{_LIMIT_WORDS['file_size']} in every run"
    if "Crashed" in kinds:
        return "took the test process down in every run (the run went on without it)"
    return None


def _coverage_problem(run: dict[str, Any]) -> str | None:
    cov = run.get("coverage")
    if not cov:
        return "no coverage data"
    if cov.get("error"):
        return str(cov["error"])[:300]
    if run.get("coverage_active") is False:
        return "coverage was not active while the tests ran (does a project plugin own it?)"
    return None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def _targets_hit(elems: set[Element], targets: list[dict]) -> tuple[str, list[str]]:
    hits: dict[str, int] = defaultdict(int)
    crits: set[str] = set()
    for t in targets:
        if t["kind"] in ("function", "method"):
            lo, hi = t["lineno"], t["end_lineno"]
            n = sum(1 for e in elems if e[0] == "L" and e[1] == t["path"] and lo <= e[2] <= hi)
        else:  # a class or module: only its own changed lines, not its methods'
            mine = set(t["changed_lines"])
            n = sum(1 for e in elems if e[0] == "L" and e[1] == t["path"] and e[2] in mine)
        if n and t["kind"] != "module":
            hits[t["target"]] = n
            crits.update(t.get("criteria", []))
    if not hits:
        return "", []
    primary = max(sorted(hits), key=lambda k: hits[k])
    return primary, sorted(crits)


def _write_accepted(root: Path, tests: list[GeneratedTest]) -> None:
    """The accepted tests, file by file, ready to commit: tests/functional/accepted/."""
    by_file: dict[str, set[str]] = defaultdict(set)
    for t in tests:
        if t.verdict == "accept":
            by_file[t.file].add(t.name)
    out = root / "tests" / LANE / "accepted"
    if out.exists():
        for old in out.glob("*.py"):
            old.unlink()
    for rel, names in by_file.items():
        source = (root / rel).read_text()
        write_text(out / Path(rel).name, repair.keep_only(source, names))
