"""What the model does after the deterministic verdicts: feedback rounds, the relevance
judge and the triage summary. None of it changes a verdict.

- feedback_round: changed lines no accepted test runs, and mutants no accepted test
  kills, go back to the generator for another (bounded) round;
- judge: rates each model test's relevance to its criterion, several votes, the median
  counts; it is recorded beside the verdict, never instead of it;
- summarise: a few sentences for the top of the report, from the measured figures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings

from agents_app.llm.agents import (
    RATE_TESTS,
    SUBMIT_PLAN,
    AgentError,
    median_rating,
    prompt,
    read_plan,
    read_ratings,
    rejection_turns,
)
from agents_app.llm.context import Sources, plan_context
from agents_app.llm.session import BudgetExhausted, LLMError, TaskModel
from agents_app.models import GeneratedTest
from agents_app.pipeline.context import StageContext
from tasks_app.core import safe_fs
from tasks_app.core.workspace import Runs, write_json

MAX_LINES_SHOWN = 25
MAX_MUTANTS_SHOWN = 15


def feedback_round(
    ctx: StageContext,
    plan: dict[str, Any],
    generation: dict[str, Any],
    coverage: dict[str, Any],
    mutation: dict[str, Any],
) -> int | None:
    """Queue another generation round when changed code is still uncovered or mutants
    still survive and rounds are left; returns the new round's number."""
    rounds = int(ctx.option("feedback_rounds", settings.TFACTORY_LLM_FEEDBACK_ROUNDS))
    round_no = int(generation.get("round", 1))
    if round_no > rounds:
        return None
    if (generation.get("model") or {}).get("partial"):
        ctx.emit("no feedback round: generation already stopped early")
        return None
    uncovered = {
        path: sorted(set(info["changed_lines"]) - set(info["covered_after"]))
        for path, info in (coverage.get("files") or {}).items()
    }
    survivors = mutation.get("survivors") or []
    crit_text = {c["id"]: c["text"] for c in plan.get("criteria", [])}
    groups: dict[str | None, dict[str, Any]] = {}
    n_lines = n_mutants = 0
    for t in plan.get("targets", []):
        if t["kind"] == "module":
            continue
        lo, hi = t["lineno"], t["end_lineno"]
        lines = [n for n in uncovered.get(t["path"], []) if lo <= n <= hi]
        alive = [m for m in survivors if m["file"] == t["path"] and lo <= m["line"] <= hi]
        if not lines and not alive:
            continue
        n_lines += len(lines)
        n_mutants += len(alive)
        cid = next((c for c in t.get("criteria", []) if c in crit_text), None)
        group = groups.setdefault(cid, {"criterion": cid, "targets": [], "parts": []})
        group["targets"].append(t["target"])
        group["parts"].append(_describe(ctx, t, lines, alive))
    if not groups:
        return None
    items = [
        {
            "criterion": g["criterion"],
            "targets": g["targets"],
            "text": (
                f"Feedback from round {round_no}: the tests kept so far leave this open.\n\n"
                + "\n\n".join(g["parts"])
                + "\n\nWrite NEW tests (new names) that run those lines and would fail on "
                "those mutants, still asserting only what the criterion states."
            ),
        }
        for g in groups.values()
    ]
    write_json(ctx.ws.runs / Runs.FEEDBACK, {"round": round_no + 1, "items": items})
    ctx.emit(
        f"feedback round {round_no + 1}: {n_lines} uncovered changed line(s) and {n_mutants} "
        f"surviving mutant(s) go back to the generator"
    )
    return round_no + 1


def _describe(ctx: StageContext, target: dict[str, Any], lines: list[int], alive: list) -> str:
    try:
        text = safe_fs.read_text(ctx.task.worktree_path, target["path"], limit=5_000_000)
        source = text.splitlines()
    except (OSError, ValueError):
        source = []
    out = [f"`{target['module']}.{target['qualname']}`:"]
    if lines:
        out.append("Changed lines no kept test runs:")
        for n in lines[:MAX_LINES_SHOWN]:
            code = source[n - 1].strip() if 0 < n <= len(source) else ""
            out.append(f"- line {n}: `{code}`")
    if alive:
        out.append("Mutants no kept test kills (the code still passes every test when changed so):")
        for m in alive[:MAX_MUTANTS_SHOWN]:
            out.append(f"- line {m['line']}: `{m['original']}` -> `{m['replacement']}`")
    return "\n".join(out)


def judge(ctx: StageContext, tests: list[GeneratedTest], crit_text: dict[str, str]) -> None:
    """Rate the relevance of the model's accepted and flagged tests to their criterion."""
    votes_wanted = max(1, settings.TFACTORY_LLM_JUDGE_VOTES)
    by_crit: dict[str, list[GeneratedTest]] = {}
    for t in tests:
        if t.verdict in ("accept", "flag") and t.criterion_ids and t.criterion_ids[0] in crit_text:
            by_crit.setdefault(t.criterion_ids[0], []).append(t)
    if not by_crit:
        return
    try:
        model = TaskModel.for_task(ctx.task)
    except LLMError as exc:
        ctx.emit.warn(f"judge skipped: {exc}")
        return
    if model is None:
        return
    results: dict[str, Any] = {}
    stopped = ""
    for cid, group in sorted(by_crit.items()):
        labels = {f"{Path(t.file).stem}::{t.name}": t for t in group}
        listing = "\n\n".join(
            f"### {label}\n```python\n{t.code}\n```" for label, t in labels.items()
        )
        content = f"Criterion {cid}:\n{crit_text[cid].strip()}\n\nTests:\n\n{listing}"
        votes: dict[str, list[tuple[int, str]]] = {label: [] for label in labels}
        for i in range(votes_wanted):
            if stopped:
                break
            try:
                reply = model.complete(
                    "evaluator",
                    system=prompt("evaluator"),
                    messages=[{"role": "user", "content": content}],
                    tools=[RATE_TESTS],
                    max_tokens=2000,
                )
            except (BudgetExhausted, LLMError) as exc:
                stopped = str(exc)
                ctx.emit.warn(f"judge stopped: {stopped}")
                break
            try:
                ratings = read_ratings(reply, set(labels))
            except AgentError as exc:
                ctx.emit.warn(f"judge vote {i + 1} on {cid} unusable: {exc}")
                continue
            for label, vote in ratings.items():
                votes[label].append(vote)
        for label, t in labels.items():
            if not votes[label]:
                continue
            score, reason = median_rating(votes[label])
            results[t.test_id] = {
                "criterion": cid,
                "relevance": score,
                "votes": [v for v, _ in votes[label]],
                "reason": reason,
            }
            t.reasons = [
                *t.reasons,
                f"judge: relevance {score}/3 to {cid} (median of {len(votes[label])} "
                f"vote(s); it never changes the verdict): {reason}".rstrip(": "),
            ]
    GeneratedTest.objects.bulk_update([t for t in tests if t.test_id in results], ["reasons"])
    write_json(ctx.ws.runs / Runs.JUDGE, {"tests": results, "stopped": stopped or None})
    if results:
        ctx.emit(f"judge: rated {len(results)} test(s) for relevance")


def summarise(task: Any, report: dict[str, Any]) -> str | None:
    """The model's short summary of a finished report, or None (offline, out of budget,
    endpoint down: the report is complete without it)."""
    try:
        model = TaskModel.for_task(task)
    except LLMError:
        return None
    if model is None or model.exhausted():
        return None
    facts = {
        "criteria": [
            {"id": c["id"], "status": c["status"], "text": c["text"][:400]}
            for c in report["criteria"]
        ],
        "possible_bugs": [
            {"test": t["test_id"].split("/")[-1], "reasons": t["reasons"][:3]}
            for t in report["tests"]
            if t["verdict"] == "flag"
        ][:10],
        "tests": {
            v: sum(1 for t in report["tests"] if t["verdict"] == v)
            for v in ("accept", "reject", "flag")
        },
        "coverage": report.get("coverage"),
        "mutation": {k: (report.get("mutation") or {}).get(k) for k in ("before", "after")},
        "lanes": {k: v.get("status") for k, v in report["lanes"].items()},
        "partial": report.get("partial"),
    }
    try:
        reply = model.complete(
            "triager",
            system=prompt("triager"),
            messages=[{"role": "user", "content": json.dumps(facts, indent=1)[:30_000]}],
            max_tokens=600,
        )
    except (BudgetExhausted, LLMError):
        return None
    text = (reply.text or "").strip()
    return text[:2000] or None


def refine_plan(ctx: StageContext, plan: dict[str, Any], worktree: Path, roots: list[str]) -> None:
    """The planner agent's criterion -> targets and intents mapping, merged into the
    deterministic plan (links from the text stay; the model may add targets and gives
    intents). Any failure leaves the deterministic plan as it is, with a note."""
    if not plan.get("criteria") or not plan.get("targets"):
        return
    notes: list[str] = []
    plan["planner"] = {"mode": ctx.task.mode, "notes": notes}
    try:
        model = TaskModel.for_task(ctx.task)
    except LLMError as exc:
        notes.append(f"the model planner did not run: {exc}")
        return
    if model is None:
        return
    criteria = {c["id"] for c in plan["criteria"]}
    targets = {t["target"] for t in plan["targets"]}
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": plan_context(Sources(worktree, roots), plan)}
    ]
    mapping = None
    for attempt in (1, 2):
        try:
            reply = model.complete(
                "planner",
                system=prompt("planner"),
                messages=messages,
                tools=[SUBMIT_PLAN],
                max_tokens=settings.TFACTORY_LLM_MAX_OUTPUT_TOKENS,
            )
        except (BudgetExhausted, LLMError) as exc:
            notes.append(f"the model planner stopped: {exc}; the plan links criteria from text")
            break
        try:
            mapping, dropped = read_plan(reply, criteria, targets)
            notes += dropped
            break
        except AgentError as exc:
            notes.append(f"planner answer {attempt} unusable: {exc}")
            messages += rejection_turns(reply, f"{exc}. Call `submit_plan` again.")
    for note in notes:
        ctx.emit.warn(f"planner: {note}")
    if not mapping:
        return
    by_target = {t["target"]: t for t in plan["targets"]}
    added = 0
    for phase in plan["phases"]:
        crit = phase.get("criterion")
        if not crit or crit["id"] not in mapping:
            continue
        entry = mapping[crit["id"]]
        phase["intents"] = entry.intents
        have = {st["target"] for st in phase["subtasks"]}
        for target in entry.targets:
            if target in have:
                continue
            sym = by_target[target]
            n = len(phase["subtasks"]) + 1
            phase["subtasks"].append(
                {
                    "id": f"{phase['id']}-functional-{n}",
                    "lane": "functional",
                    "target": target,
                    "module": sym["module"],
                    "kind": sym["kind"],
                    "criterion": crit["id"],
                    "criterion_text": crit["text"],
                    "link_score": None,
                    "linked_by": "model",
                    "changed_lines": sym["changed_lines"],
                    "command": phase["subtasks"][0]["command"]
                    if phase["subtasks"]
                    else "python -m pytest tests/functional",
                    "status": "pending",
                }
            )
            sym["criteria"] = sorted({*sym.get("criteria", []), crit["id"]})
            have.add(target)
            added += 1
        phase["linked"] = bool(phase["subtasks"])
    # code the model linked to a criterion is no longer "code no criterion names"
    for phase in plan["phases"]:
        if phase["id"] == "unlinked":
            phase["subtasks"] = [
                st for st in phase["subtasks"] if not by_target[st["target"]].get("criteria")
            ]
    plan["phases"] = [p for p in plan["phases"] if p["id"] != "unlinked" or p["subtasks"]]
    ctx.emit(
        f"planner ({ctx.task.mode}): intents for {len(mapping)} criteria, "
        f"{added} link(s) added to the text's"
    )
