"""Functional lane generator, model-driven: one conversation per subtask.

A subtask is one acceptance criterion with the changed code linked to it (or, for changed
code no criterion names, one module). The generator agent sees only the allow-listed
context (agents_app/llm/context.py) and answers with a `submit_tests` call. Before any
candidate runs, the guards check it: syntax, flake lint, tautology and spec fidelity on
the AST, then the pre-flight in the sandbox (every import, attribute and method resolved
against the real project). A rejected candidate goes back to its generator with the exact
reasons, within a replan budget per subtask and one for the whole task; when the budget
is spent, the test functions no guard rejected are kept and the rest are recorded with
their reasons.

A spent token/cost budget or a model endpoint that keeps failing ends generation with
what is in hand: the result is partial and says why; the task goes on.
"""

from __future__ import annotations

import ast
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

from agents_app.env.runtime import TaskRuntime, import_roots
from agents_app.guards import GuardFinding, preflight, rejects, static_findings
from agents_app.lanes.functional.engines import repair
from agents_app.llm.agents import (
    SUBMIT_TESTS,
    AgentError,
    prompt,
    rejection_turns,
    submitted_source,
)
from agents_app.llm.context import Sources, subtask_context
from agents_app.llm.session import BudgetExhausted, LLMError, TaskModel
from agents_app.models import GeneratedTest
from agents_app.pipeline.context import StageContext
from tasks_app.core import lanes
from tasks_app.core.workspace import read_json

LANE = lanes.FUNCTIONAL
ENGINE = "llm"
MAX_TARGETS = 8  # per subtask: more code than this is more than one test module's worth


@dataclass
class Subtask:
    id: str
    criterion: dict[str, str] | None  # {"id", "text"}
    targets: list[dict[str, Any]]
    intents: list[str] = field(default_factory=list)
    feedback: str = ""


@dataclass
class Outcome:
    subtask: Subtask
    source: str | None = None
    attempts: int = 0
    rejections: list[dict[str, Any]] = field(default_factory=list)
    dropped: dict[str, list[str]] = field(default_factory=dict)  # test -> reasons
    flags: dict[str, list[str]] = field(default_factory=dict)  # test -> flag findings
    stopped: str = ""  # why generation stopped early (budget, endpoint)

    def record(self) -> dict[str, Any]:
        s = self.subtask
        return {
            "id": s.id,
            "criterion": s.criterion["id"] if s.criterion else None,
            "targets": [t["target"] for t in s.targets],
            "attempts": self.attempts,
            "tests": [n for n, _ in repair.test_functions(self.source)] if self.source else [],
            "rejections": self.rejections,
            "dropped": self.dropped,
            "stopped": self.stopped or None,
        }


def subtasks_from_plan(plan: dict[str, Any]) -> list[Subtask]:
    by_id = {t["target"]: t for t in plan.get("targets", [])}
    callables = [t for t in plan.get("targets", []) if t["kind"] != "module"]
    out: list[Subtask] = []
    for phase in plan.get("phases", []):
        crit = phase.get("criterion")
        targets = [by_id[st["target"]] for st in phase["subtasks"] if st["target"] in by_id]
        if crit:
            # a criterion nothing was linked to still gets its tests, over all changed code
            chosen = [t for t in targets if t["kind"] != "module"] or callables
            if chosen:
                out.append(
                    Subtask(
                        id=phase["id"],
                        criterion={"id": crit["id"], "text": crit["text"]},
                        targets=chosen[:MAX_TARGETS],
                        intents=list(phase.get("intents") or []),
                    )
                )
            continue
        by_module: dict[str, list[dict[str, Any]]] = {}
        for t in targets:
            if t["kind"] != "module":
                by_module.setdefault(t["module"], []).append(t)
        for module, ts in sorted(by_module.items()):
            out.append(
                Subtask(id=f"{phase['id']}-{module}", criterion=None, targets=ts[:MAX_TARGETS])
            )
    return out


class Replans:
    """The task-wide replan budget, shared by the subtasks' threads."""

    def __init__(self, left: int):
        self.left = left
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True


def _test_spans(source: str) -> dict[str, tuple[int, int]]:
    spans = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            start = min([d.lineno for d in node.decorator_list] + [node.lineno])
            spans[node.name] = (start, node.end_lineno or node.lineno)
    return spans


def _owner(finding: GuardFinding, spans: dict[str, tuple[int, int]]) -> str:
    """The test function a finding is about; "" when it is about the whole module."""
    if finding.test:
        return finding.test
    if finding.line is not None:
        for name, (a, b) in spans.items():
            if a <= finding.line <= b:
                return name
    return ""


def salvage(source: str, findings: list[GuardFinding]) -> tuple[str | None, dict[str, list[str]]]:
    """The module with only the test functions no rejecting finding is about, and the
    dropped ones with their reasons. None when a finding rejects the whole module."""
    spans = _test_spans(source)
    dropped: dict[str, list[str]] = {}
    for f in rejects(findings):
        owner = _owner(f, spans)
        if not owner.startswith("test"):
            # an import, a helper or module state: every test depends on it
            return None, {"<module>": [f.message]}
        dropped.setdefault(owner, []).append(f.message)
    keep = {n for n in spans if n.startswith("test") and n not in dropped}
    return (repair.keep_only(source, keep) if keep else None), dropped


class Generator:
    """Runs the subtasks' conversations, in parallel, against one guard."""

    def __init__(self, ctx: StageContext, rt: TaskRuntime, model: TaskModel):
        self.ctx = ctx
        self.rt = rt
        self.model = model
        self.sources = Sources(rt.worktree, import_roots(ctx.task))
        self.replans = Replans(settings.TFACTORY_LLM_REPLANS_PER_TASK)
        self.stop_reason = ""
        self._stop_lock = threading.Lock()
        analysis = ctx.ws.context / "project_analysis.json"
        self.declared = (
            read_json(analysis).get("declared_dependencies") or []
            if analysis.exists()
            else preflight.declared_dependencies(rt.worktree)
        )
        self.preflight_problem = ""

    def guard(self, source: str, criterion: str) -> list[GuardFinding]:
        found = static_findings(source, criterion)
        if rejects(found):
            return found
        try:
            found += preflight.check_many(
                self.rt, self.rt.worktree, {"candidate": source}, declared_deps=self.declared
            ).get("candidate", [])
        except preflight.PreflightError as exc:
            # cannot verify here; the candidate runs show what does not resolve
            if not self.preflight_problem:
                self.preflight_problem = str(exc)
                self.ctx.emit.warn(f"pre-flight could not run: {exc}")
        return found

    def _stop(self, reason: str) -> None:
        with self._stop_lock:
            if not self.stop_reason:
                self.stop_reason = reason
                self.ctx.emit.warn(f"model generation stopped: {reason}; keeping what is in hand")

    def converse(self, sub: Subtask) -> Outcome:
        out = Outcome(sub)
        criterion = sub.criterion["text"] if sub.criterion else ""
        intents = list(sub.intents)
        messages: list[dict[str, Any]] = [
            {
                "role": "user",
                "content": subtask_context(
                    self.sources, sub.targets, sub.criterion, intents, sub.feedback
                ),
            }
        ]
        last: tuple[str, list[GuardFinding]] | None = None
        per_subtask = settings.TFACTORY_LLM_REPLANS_PER_SUBTASK
        while True:
            if self.ctx.cancel.is_set():
                return out
            if self.stop_reason:
                out.stopped = self.stop_reason
                break
            try:
                reply = self.model.complete(
                    "gen_functional",
                    system=prompt("gen_functional"),
                    messages=messages,
                    tools=[SUBMIT_TESTS],
                    max_tokens=settings.TFACTORY_LLM_MAX_OUTPUT_TOKENS,
                )
            except (BudgetExhausted, LLMError) as exc:
                self._stop(str(exc))
                out.stopped = str(exc)
                break
            out.attempts += 1  # an answer to judge
            findings: list[GuardFinding] = []
            try:
                source = submitted_source(reply)
                findings = self.guard(source, criterion)
                if not rejects(findings) and not repair.test_functions(source):
                    raise AgentError(
                        "the module has no top-level `def test_...` functions; write plain "
                        "pytest test functions"
                    )
                problem = ""
            except AgentError as exc:
                source, problem = None, str(exc)
            bad = rejects(findings)
            if not problem and not bad:
                out.source = repair.unique_test_names(source).source
                spans = _test_spans(source)
                for f in findings:  # flags: kept, but never accepted without a person
                    out.flags.setdefault(_owner(f, spans) or "<module>", []).append(f.message)
                break
            reasons = [problem] if problem else [f.message for f in bad]
            out.rejections.append(
                {
                    "attempt": out.attempts,
                    "reasons": reasons,
                    "findings": [f.as_dict() for f in bad],
                }
            )
            self.ctx.emit.warn(
                f"{sub.id}: attempt {out.attempts} rejected: " + "; ".join(reasons)[:1500]
            )
            if source is not None and not any(f.rule == "PF001" for f in bad):
                last = (source, findings)
            if out.attempts > per_subtask or not self.replans.take():
                break
            messages += rejection_turns(
                reply,
                "Rejected:\n"
                + "\n".join(f"- {r}" for r in reasons)
                + "\nFix these and submit the whole module again with `submit_tests`.",
            )
        if out.source is None and last is not None:
            kept, dropped = salvage(*last)
            out.dropped = dropped
            if kept is not None:
                out.source = repair.unique_test_names(kept).source
                self.ctx.emit(
                    f"{sub.id}: replan budget spent; kept the tests no guard rejected, "
                    f"dropped {', '.join(sorted(dropped))}"
                )
        return out

    def run(self, subtasks: list[Subtask]) -> list[Outcome]:
        def one(sub: Subtask) -> Outcome:
            try:
                return self.converse(sub)
            finally:
                connection.close()  # this thread's own connection

        workers = max(1, min(settings.TFACTORY_LLM_CONCURRENCY, len(subtasks)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llm") as pool:
            return list(pool.map(one, subtasks))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()[:60] or "subtask"


def store(
    ctx: StageContext, out_dir: Path, outcomes: list[Outcome], round_no: int
) -> tuple[int, dict[str, list[str]]]:
    """Write each subtask's module and its GeneratedTest rows; returns the number of
    tests and the flag findings by test id."""
    total = 0
    flags: dict[str, list[str]] = {}
    for out in outcomes:
        if out.source is None:
            continue
        sub = out.subtask
        suffix = f"_r{round_no}" if round_no > 1 else ""
        filename = f"test_{_slug(sub.id)}_{ENGINE}{suffix}.py"
        n = 1
        while (out_dir / filename).exists():
            n += 1
            filename = f"test_{_slug(sub.id)}_{n}_{ENGINE}{suffix}.py"
        about = (
            f"{sub.criterion['id']}: {sub.criterion['text'].strip().splitlines()[0][:100]}"
            if sub.criterion
            else "changed code no criterion names: " + ", ".join(t["target"] for t in sub.targets)
        )
        header = f"# Generated by TFactory ({ctx.task.mode}) for {about}\n"
        path = out_dir / filename
        path.write_text(header + out.source)
        rel = ctx.ws.rel(path)
        rows = []
        for name, code in repair.test_functions(header + out.source):
            test_id = f"{rel}::{name}"
            rows.append(
                GeneratedTest(
                    task=ctx.task,
                    test_id=test_id,
                    lane=LANE,
                    engine=ENGINE,
                    file=rel,
                    name=name,
                    target=sub.targets[0]["target"] if sub.targets else "",
                    criterion_ids=[sub.criterion["id"]] if sub.criterion else [],
                    code=code,
                )
            )
            mine = out.flags.get(name, []) + out.flags.get("<module>", [])
            if mine:
                flags[test_id] = mine
        GeneratedTest.objects.bulk_create(rows)
        total += len(rows)
        ctx.emit(f"{sub.id}: {len(rows)} candidate test(s) after {out.attempts} attempt(s)")
    return total, flags


def feedback_subtasks(plan: dict[str, Any], feedback: dict[str, Any]) -> list[Subtask]:
    """One subtask per feedback item: its targets, its criterion, what is still open."""
    by_id = {t["target"]: t for t in plan.get("targets", [])}
    crits = {c["id"]: c for c in plan.get("criteria", [])}
    out = []
    for i, item in enumerate(feedback.get("items", [])):
        crit = crits.get(item.get("criterion") or "")
        targets = [by_id[t] for t in item.get("targets", []) if t in by_id]
        if not targets:
            continue
        out.append(
            Subtask(
                id=f"round{feedback['round']}-{crit['id'] if crit else 'unlinked'}-{i + 1}",
                criterion={"id": crit["id"], "text": crit["text"]} if crit else None,
                targets=targets[:MAX_TARGETS],
                feedback=item.get("text", ""),
            )
        )
    return out
