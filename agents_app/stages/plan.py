"""Planner (offline, deterministic): criteria x changed symbols -> test_plan.json.

One phase per acceptance criterion, holding lane-tagged subtasks whose target is a
changed `path::qualname` linked to that criterion; changed code that no criterion
names gets a phase of its own, so it is still tested. Links come from evidence in the
text: identifiers the criterion names (in backticks or plain) and overlap between the
criterion's words and the symbol's name and docstring.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from django.db import transaction

from agents_app.env.languages import UnsupportedLanguage, tools_for
from agents_app.llm.review import refine_plan
from agents_app.models import PlanSubtask, TestPlan
from agents_app.pipeline.context import StageContext, StageError
from agents_app.spec import changes, criteria
from tasks_app.core import lanes
from tasks_app.core.workspace import read_json, write_json

PLAN_VERSION = 1
LANE = lanes.FUNCTIONAL

_STOP = set(
    """a an the and or of to in on for with by from as at is are be been being it its this that
    these those when then than shall should must will can may not no yes if else given
    returns return value values system user users new existing each any all only also
    which who whose into out up down per via""".split()
)


def _stem(word: str) -> str:
    for suffix in ("ing", "ies", "es", "ed", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def words(text: str) -> set[str]:
    """Lower-cased word stems; snake_case and CamelCase split, stop words dropped."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    tokens = re.findall(r"[A-Za-z][A-Za-z0-9]*", text.replace("_", " "))
    return {_stem(t.lower()) for t in tokens if t.lower() not in _STOP and len(t) > 1}


def strong_link(criterion: criteria.Criterion, symbol: changes.ChangedSymbol) -> float:
    """10 when the criterion names the symbol in backticks, 8 when it names it in prose."""
    text = criterion.text
    name = symbol.qualname.split(".")[-1]
    mentions = set(getattr(criterion, "mentions", ()) or ())
    mentions |= set(re.findall(r"`([^`]+)`", text))
    for m in mentions:
        m = m.strip().rstrip("()")
        if m in (symbol.qualname, name) or m.endswith("." + name):
            return 10.0
    if symbol.kind != "module" and re.search(rf"\b{re.escape(name)}\b", text):
        return 8.0
    return 0.0


def weak_link(
    criterion: criteria.Criterion, symbol: changes.ChangedSymbol, idf: dict[str, float]
) -> float:
    """Overlap of the criterion's words with the symbol's name and docstring, each word
    weighted by how rare it is among the criteria (a word every criterion uses, like the
    feature's own name, says nothing about which code a criterion is about)."""
    name_words = words(symbol.qualname.split(".")[-1])
    if not name_words or symbol.kind == "module":
        return 0.0
    crit_words = words(criterion.text)
    name_part = sum(idf.get(w, 1.0) for w in name_words & crit_words) / len(name_words)
    doc = words(symbol.docstring or "")
    doc_part = (
        sum(idf.get(w, 1.0) for w in doc & crit_words) / max(len(crit_words), 1) if doc else 0.0
    )
    return round(name_part * 3 + doc_part * 2, 3)


def idf_weights(crits: list[criteria.Criterion]) -> dict[str, float]:
    n = len(crits)
    df: dict[str, int] = {}
    for c in crits:
        for w in words(c.text):
            df[w] = df.get(w, 0) + 1
    # 1.0 for a word one criterion uses, falling to 0 for a word all of them use
    return {w: (math.log(n / k) / math.log(n) if n > 1 else 1.0) for w, k in df.items()}


LINK_THRESHOLD = 1.0


def link_symbols(
    crits: list[criteria.Criterion], targets: list[changes.ChangedSymbol]
) -> dict[str, list[tuple[changes.ChangedSymbol, float]]]:
    """criterion id -> [(symbol, score)], strongest first.

    A criterion that names code is linked to what it names (and to the changed methods
    of a class it names); only a criterion that names nothing falls back to word overlap.
    """
    idf = idf_weights(crits)
    links: dict[str, list[tuple[changes.ChangedSymbol, float]]] = {}
    for crit in crits:
        scored = {s.target: (s, strong_link(crit, s)) for s in targets}
        strong_classes = {s.qualname for s, sc in scored.values() if sc and s.kind == "class"}
        for s in targets:
            owner = s.qualname.rsplit(".", 1)[0] if "." in s.qualname else None
            if owner in strong_classes and not scored[s.target][1]:
                scored[s.target] = (s, 5.0)
        chosen = [(s, sc) for s, sc in scored.values() if sc]
        if not chosen:
            chosen = [(s, weak_link(crit, s, idf)) for s in targets]
            chosen = [(s, sc) for s, sc in chosen if sc >= LINK_THRESHOLD]
        links[crit.id] = sorted(chosen, key=lambda p: (-p[1], p[0].target))
    return links


def build_plan(
    crits: list[criteria.Criterion],
    symbols: list[changes.ChangedSymbol],
    *,
    test_dir: str = "tests/functional",
) -> dict[str, Any]:
    targets = [s for s in symbols if s.module]
    links = link_symbols(crits, targets)
    linked = {s.target for chosen in links.values() for s, _ in chosen}

    phases = []

    def subtask(phase_id: str, n: int, sym: changes.ChangedSymbol, crit, score):
        slug = sym.module.replace(".", "_")
        return {
            "id": f"{phase_id}-{LANE}-{n}",
            "lane": LANE,
            "target": sym.target,
            "module": sym.module,
            "kind": sym.kind,
            "criterion": crit.id if crit else None,
            "criterion_text": crit.text if crit else None,
            "link_score": score,
            "changed_lines": list(sym.changed_lines),
            "command": f"python -m pytest {test_dir}/test_{slug}_*.py",
            "status": "pending",
        }

    for crit in crits:
        chosen = links[crit.id]
        phases.append(
            {
                "id": crit.id,
                "name": f"{crit.label}: {crit.text.splitlines()[0][:100]}",
                "criterion": {
                    "id": crit.id,
                    "label": crit.label,
                    "text": crit.text,
                    "source": crit.source,
                    "format": crit.format,
                },
                "linked": bool(chosen),
                "subtasks": [
                    subtask(crit.id, i + 1, s, crit, sc) for i, (s, sc) in enumerate(chosen)
                ],
            }
        )
    unlinked = [s for s in targets if s.target not in linked]
    if unlinked:
        phases.append(
            {
                "id": "unlinked",
                "name": "Changed code no criterion names",
                "criterion": None,
                "linked": False,
                "subtasks": [
                    subtask("unlinked", i + 1, s, None, 0.0) for i, s in enumerate(unlinked)
                ],
            }
        )
    return {
        "version": PLAN_VERSION,
        "lanes": [LANE],
        "criteria": [
            {"id": c.id, "label": c.label, "text": c.text, "source": c.source, "format": c.format}
            for c in crits
        ],
        "targets": [
            {
                "target": s.target,
                "path": s.path,
                "module": s.module,
                "qualname": s.qualname,
                "kind": s.kind,
                "lineno": s.lineno,
                "end_lineno": s.end_lineno,
                "changed_lines": list(s.changed_lines),
                "criteria": sorted(cid for cid, ch in links.items() if any(x is s for x, _ in ch)),
            }
            for s in targets
        ],
        "phases": phases,
    }


def load_criteria(ctx_dir: Path) -> list[criteria.Criterion]:
    source = read_json(ctx_dir / "source.json")
    plan_file = ctx_dir / "aifactory_plan.json"
    reqs_file = ctx_dir / "requirements.json"
    return criteria.criteria_of_spec(
        (ctx_dir / "aifactory_spec.md").read_text(),
        inline=source.get("spec_source") in ("inline", "file"),
        spec_format=source.get("spec_format") or "markdown",
        plan_raw=plan_file.read_bytes() if plan_file.exists() else None,
        requirements_raw=reqs_file.read_bytes() if reqs_file.exists() else None,
    )


def run(ctx: StageContext) -> None:
    ws = ctx.ws
    analysis = read_json(ws.context / "project_analysis.json")
    language = analysis.get("primary_language") or "python"
    try:
        tools_for(language)
    except UnsupportedLanguage as exc:
        raise StageError(str(exc)) from exc

    try:
        crits = load_criteria(ws.context)
    except criteria.SpecFormatError as exc:
        raise StageError(str(exc)) from exc
    if crits:
        ctx.emit(f"{len(crits)} acceptance criteria: " + ", ".join(c.id for c in crits))
    else:
        ctx.emit.warn(
            "the spec has no acceptance criteria the planner can read "
            "(## Acceptance Criteria, ### AC#N, **AC#N**, ## Success Criteria, Gherkin, EARS); "
            "testing the changed code without them"
        )

    diff_text = (ws.context / "diff.patch").read_bytes().decode("utf-8", errors="replace")
    try:
        files = changes.changed_lines(diff_text)
    except changes.DiffError as exc:
        raise StageError(f"the branch's diff could not be parsed: {exc}") from exc
    symbols, warnings = changes.changed_symbols(
        ctx.task.worktree_path, files, analysis.get("import_roots") or ["."]
    )
    for w in warnings:
        ctx.emit.warn(w)
    not_importable = [s for s in symbols if not s.module]
    for s in not_importable:
        ctx.emit.warn(f"{s.path} is not importable from the project's import roots; skipped")
    ctx.emit(
        f"{len(files)} changed file(s); {len([s for s in symbols if s.module])} changed "
        "symbol(s): " + ", ".join(s.target for s in symbols if s.module)[:1500]
    )
    plan = build_plan(crits, symbols)
    plan["warnings"] = warnings
    if ctx.task.mode != "offline":
        refine_plan(ctx, plan, ctx.task.worktree_path, analysis.get("import_roots") or ["."])
    write_json(ws.test_plan, plan)
    with transaction.atomic():
        TestPlan.objects.filter(task=ctx.task).delete()
        tp = TestPlan.objects.create(task=ctx.task, data=plan)
        PlanSubtask.objects.bulk_create(
            PlanSubtask(
                plan=tp,
                subtask_id=st["id"],
                phase=phase["id"],
                lane=st["lane"],
                target=st["target"],
                criterion_id=st["criterion"] or "",
                criterion_text=st["criterion_text"] or "",
                command=st["command"],
            )
            for phase in plan["phases"]
            for st in phase["subtasks"]
        )
    unlinked_crits = [p["id"] for p in plan["phases"] if p["criterion"] and not p["linked"]]
    if unlinked_crits:
        ctx.emit.warn(
            "no changed code could be linked to " + ", ".join(unlinked_crits) + " from its text"
        )
    ctx.emit(
        f"test plan: {len(plan['phases'])} phase(s), "
        f"{sum(len(p['subtasks']) for p in plan['phases'])} subtask(s)"
    )
