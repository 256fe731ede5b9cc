"""Triager: report.json (the contract every interface reads) and report.md.

write_report() works for any state of a task — done, failed halfway, cancelled — and
reads only what exists, so a failure still leaves a report that says what happened.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC
from pathlib import Path
from typing import Any

from agents_app.lanes.security.collect import collect, report_part
from agents_app.llm.review import summarise
from agents_app.models import GeneratedTest
from agents_app.pipeline.context import StageContext
from tasks_app.core.lanes import SECURITY_LANES
from tasks_app.core.redaction import redact
from tasks_app.core.workspace import Runs, Workspace, read_json, write_json, write_text
from tasks_app.models import Task

log = logging.getLogger(__name__)

OFFLINE_NOTE = (
    "Offline engines (Pynguin, CrossHair) write regression tests from the implementation: "
    "an accepted test proves the code behind a criterion runs and pins its current "
    "behaviour (it kills mutants of the changed lines), not that the behaviour matches the "
    "spec's intent."
)
MODEL_NOTE = (
    "Model-written tests check what each criterion states; the guards (pre-flight, flake "
    "lint, tautology, spec fidelity), three runs and the mutation gate decide their "
    "verdicts. The model's relevance ratings and summary never change a verdict."
)


def _iso(dt) -> str | None:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z") if dt else None


def _load(path: Path) -> Any:
    try:
        return read_json(path) if path.exists() else None
    except ValueError:
        return None


def build_report(task: Task) -> dict[str, Any]:
    ws = Workspace(task.workspace_path)
    plan = _load(ws.test_plan) or {}
    coverage = _load(ws.runs / Runs.COVERAGE)
    mutation = _load(ws.runs / Runs.MUTATION_SUMMARY)
    baseline = (_load(ws.runs / Runs.BASELINE) or {}).get("state")
    setup = _load(ws.runs / Runs.SETUP)
    analysis = _load(ws.context / "project_analysis.json") or {}
    generation = _load(ws.runs / Runs.GENERATION) or {}
    model_gen = generation.get("model") or {}
    relevance = (_load(ws.runs / Runs.JUDGE) or {}).get("tests", {})
    tests = list(GeneratedTest.objects.filter(task=task).order_by("id"))

    test_entries = [
        {
            "test_id": t.test_id,
            "file": t.file,
            "lane": t.lane,
            "engine": t.engine,
            "target": t.target or None,
            "criterion": t.criterion_ids[0] if t.criterion_ids else None,
            "criteria": t.criterion_ids,
            "verdict": t.verdict,
            "reasons": t.reasons,
            "runs": {"passed": t.runs_passed, "failed": t.runs_failed},
            "lines_added": t.lines_added,
            "branches_added": t.branches_added,
            "mutants_killed": t.mutants_killed,
            "relevance": (relevance.get(t.test_id) or {}).get("relevance"),
        }
        for t in tests
    ]
    guard_rejections = [
        {
            "subtask": sub["id"],
            "criterion": sub.get("criterion"),
            "round": sub.get("round", 1),
            "attempt": rej["attempt"],
            "reasons": rej["reasons"],
            "findings": rej.get("findings", []),
        }
        for sub in model_gen.get("subtasks", [])
        for rej in sub.get("rejections", [])
    ]

    criteria = []
    linked_targets: dict[str, list[str]] = {}
    for phase in plan.get("phases", []):
        if phase.get("criterion"):
            linked_targets[phase["id"]] = [s["target"] for s in phase.get("subtasks", [])]
    for c in plan.get("criteria", []):
        mine = [t for t in tests if c["id"] in (t.criterion_ids or [])]
        accepted = [t.test_id for t in mine if t.verdict == "accept"]
        flagged = [t.test_id for t in mine if t.verdict == "flag"]
        if flagged:
            status, why = "flagged", "a test of its code fails on the feature branch"
        elif accepted:
            status, why = "verified", "accepted tests exercise the code linked to it"
        elif linked_targets.get(c["id"]):
            status, why = "unverified", "no accepted test exercises the code linked to it"
        else:
            status, why = "unverifiable", "no changed code could be linked to it from its text"
        criteria.append(
            {
                "id": c["id"],
                "label": c.get("label", c["id"]),
                "text": c["text"],
                "tests": accepted + flagged,
                "status": status,
                "why": why,
                "targets": linked_targets.get(c["id"], []),
            }
        )

    cov = None
    if coverage:
        cov = {
            "changed_lines": coverage["changed_lines"],
            "changed_branches": coverage["changed_branches"],
            "before": {
                k: coverage["before"][k]
                for k in ("line_pct", "branch_pct", "unknown")
                if k in coverage["before"]
            },
            "after": {k: coverage["after"][k] for k in ("line_pct", "branch_pct")},
            "uncovered_after": coverage.get("uncovered_after"),
        }

    lanes = {}
    for lane, entry in (task.lanes or {}).items():
        lanes[lane] = {
            "status": entry.get("status"),
            "started_at": entry.get("started_at"),
            "finished_at": entry.get("finished_at"),
            "duration_s": entry.get("duration_s"),
            "summary": entry.get("summary"),
            **{
                k: v
                for k, v in entry.items()
                if k
                in ("accepted", "rejected", "flagged", "score_before", "score_after", "findings")
            },
        }
    if generation and "functional" in lanes:
        lanes["functional"]["engines"] = generation.get("engines", [])

    security = report_part(task)
    for lane, extra in security.pop("security_lanes").items():
        if lane in lanes:
            lanes[lane].update(extra)

    sandbox = dict(task.sandbox or {})
    usage = {
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_usd": 0.0,
        "budget_usd": None,
        **(task.usage or {}),
    }
    return {
        "task_id": task.pk,
        "project_id": task.project_id,
        "spec_id": task.spec_id,
        "branch": task.branch,
        "base_ref": task.base_ref,
        "head_sha": task.head_sha,
        "status": task.status,
        "mode": task.mode,
        "partial": model_gen.get("partial"),
        "summary": (_load(ws.runs / Runs.SUMMARY) or {}).get("text"),
        "started_at": _iso(task.started_at),
        "finished_at": _iso(task.finished_at),
        "duration_s": task.duration_s,
        "error": task.error or None,
        "lanes": lanes,
        # the existing suite on the feature branch: ok | failing | broken (its before
        # figures are then unknown); null when it never ran
        "baseline": baseline,
        # the project's set-up, when it failed: the requirement pip could not install and why
        "setup": setup,
        # what TFactory detected and did, and what .tfactory.yml changed: what to override
        "project_setup": project_setup(analysis, baseline),
        "criteria": criteria,
        "tests": test_entries,
        "coverage": cov,
        "mutation": _mutation(mutation),
        **security,
        # what the delivering stage did (commit, push, PR comment); null until it ran
        "delivery": _load(ws.runs / Runs.DELIVERY),
        "usage": usage,
        "generation": {
            "mode": generation.get("mode", task.mode),
            "rounds": generation.get("round", 1 if generation else 0),
            "subtasks": [
                {k: v for k, v in sub.items() if k != "rejections"}
                | {"rejected_attempts": len(sub.get("rejections", []))}
                for sub in model_gen.get("subtasks", [])
            ],
        },
        "guard_rejections": guard_rejections,
        "sandbox": {
            "backend": sandbox.get("backend"),
            "image": sandbox.get("image"),
            "limits": sandbox.get("limits", {}),
            **{k: v for k, v in sandbox.items() if k not in ("backend", "image", "limits")},
        },
        "notes": ([OFFLINE_NOTE] if task.mode == "offline" else [MODEL_NOTE])
        + ([f"Mutation gate: {mutation['note']}."] if (mutation or {}).get("note") else []),
        "files": {
            "report_md": "report.md",
            "test_plan": "test_plan.json" if ws.test_plan.exists() else None,
            "accepted_tests": "tests/functional/accepted"
            if (ws.tests / "functional" / "accepted").exists()
            else None,
            "diff": "context/diff.patch",
            "mutation": "findings/mutation.json"
            if (ws.findings / "mutation.json").exists()
            else None,
            "findings_sarif": security["findings_summary"]["sarif"],
            "tests_patch": "delivery/tests.patch"
            if (ws.root / "delivery" / "tests.patch").exists()
            else None,
            "pr_comment": "delivery/pr_comment.md"
            if (ws.root / "delivery" / "pr_comment.md").exists()
            else None,
        },
    }


def project_setup(analysis: dict[str, Any], baseline: dict[str, Any] | None) -> dict[str, Any]:
    """report.json's `project_setup`: how the project was set up and its suite run — the
    detected values a user overrides with .tfactory.yml."""
    setup = analysis.get("setup") or {}
    ini = analysis.get("pytest_ini") or {}
    return {
        "config_file": ".tfactory.yml" if analysis.get("config") else None,
        "config": analysis.get("config"),
        "python": setup.get("python"),
        "requires_python": (setup.get("plan") or {}).get("requires_python"),
        "installed_from": setup.get("installed_from"),
        "skipped": setup.get("skipped"),
        "version": setup.get("version"),
        "test_framework": analysis.get("test_framework"),
        "test_paths": (baseline or {}).get("paths") or analysis.get("test_dirs"),
        "pytest_config": ini.get("file"),
        "django_settings": analysis.get("django_settings"),
        "import_roots": analysis.get("import_roots"),
    }


def setup_markdown(r: dict[str, Any]) -> list[str]:
    ps = r.get("project_setup") or {}
    if not any(ps.get(k) for k in ("installed_from", "python", "test_paths")):
        return []
    out = ["## Set-up", ""]
    source = ps.get("config_file") or "detected; override it in .tfactory.yml (see the README)"
    out.append(f"How the project was set up and its suite run ({source}):")
    out.append("")
    if ps.get("python"):
        req = (
            f" (the project asks for {ps['requires_python']})" if ps.get("requires_python") else ""
        )
        out.append(f"- Python {ps['python']}{req}")
    for line in ps.get("installed_from") or []:
        out.append(f"- installed: {_md(line, 200)}")
    for line in ps.get("skipped") or []:
        out.append(f"- skipped: {_md(line, 300)}")
    if ps.get("test_paths"):
        how = (
            f" with {ps['pytest_config']}'s pytest configuration" if ps.get("pytest_config") else ""
        )
        out.append(f"- the existing suite: {', '.join(ps['test_paths'])}{how}")
    if ps.get("django_settings"):
        out.append(f"- Django settings: `{ps['django_settings']}`")
    out.append("")
    return out


def _mutation(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    """report.json's `mutation`: null when the lane did not produce a kill matrix."""
    if not summary or "before" not in summary:
        return None
    return {
        k: summary.get(k)
        for k in (
            "mutants",
            "tested",
            "before",
            "after",
            "statuses",
            "survivors",
            "survivors_total",
            "note",
            "report",
        )
    }


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def figure(figures: dict[str, Any], side: str, key: str) -> str:
    """A before or after figure; "unknown" (never 0) when it could not be measured (the
    existing suite or the project could not run)."""
    part = figures.get(side) or {}
    return "unknown" if part.get("unknown") else _pct(part.get(key))


def coverage_line(cov: dict[str, Any]) -> str:
    """Changed-line coverage before → after, for every face."""
    text = (
        f"{figure(cov, 'before', 'line_pct')} → {figure(cov, 'after', 'line_pct')} of "
        f"{cov['changed_lines']} lines"
    )
    if cov.get("changed_branches") is not None:
        text += (
            f"; branches {figure(cov, 'before', 'branch_pct')} → "
            f"{figure(cov, 'after', 'branch_pct')} of {cov['changed_branches']}"
        )
    return text


def baseline_warning(report: dict[str, Any]) -> str | None:
    """The sentence every face leads with when the existing suite could not be run."""
    setup = report.get("setup") or {}
    if setup.get("status") == "failed":
        return (
            f"{setup['sentence'][:1].upper()}{setup['sentence'][1:]}. Nothing of it could run, "
            "so its coverage and mutation score are unknown."
        )
    base = report.get("baseline") or {}
    if base.get("status") != "broken":
        return None
    paths = ", ".join(base.get("paths") or []) or "the project's tests"
    return (
        f"The existing suite ({paths}) could not be run on the feature branch, so the "
        "'before' coverage and mutation score are unknown."
    )


def render_markdown(report: dict[str, Any]) -> str:
    r = report
    out = [f"# TFactory report — {r['project_id']}/{r['spec_id']}", ""]
    out.append(
        f"**Status: {r['status']}** · branch `{r['branch']}` @ `{(r['head_sha'] or '')[:10]}` "
        f"vs `{r['base_ref']}` · mode {r['mode']} · task {r['task_id']}"
        + (f" · {r['duration_s']:.0f}s" if r.get("duration_s") else "")
    )
    out.append("")
    if r.get("error"):
        out += [f"> **Error:** {r['error']}", ""]
    if warning := baseline_warning(r):
        out += [f"> **{warning}**", ""]
        first = (
            (r.get("setup") or {}).get("error")
            or (r.get("baseline") or {}).get("first_error")
            or ""
        ).strip()
        if first:
            out += ["```text", *first.splitlines()[-30:], "```", ""]
    sb = r.get("sandbox") or {}
    if sb.get("backend") == "none":
        out += [
            "> **Unsandboxed:** generated tests ran directly on the host "
            "(TFACTORY_SANDBOX=none was set explicitly).",
            "",
        ]

    if r.get("partial"):
        out += [
            f"> **Partial result:** model generation stopped early ({r['partial']}); the "
            "tests below are what it produced before that.",
            "",
        ]
    if r.get("summary"):
        out += ["> " + r["summary"].replace("\n", "\n> "), "> — written by the model", ""]

    tests = r["tests"]
    accepted = [t for t in tests if t["verdict"] == "accept"]
    flagged = [t for t in tests if t["verdict"] == "flag"]
    rejected = [t for t in tests if t["verdict"] == "reject"]
    out += ["## Summary", ""]
    verified = sum(1 for c in r["criteria"] if c["status"] == "verified")
    out.append(f"- Criteria verified: {verified} of {len(r['criteria'])}")
    out.append(
        f"- Tests: {len(accepted)} accepted, {len(rejected)} rejected, {len(flagged)} flagged "
        f"(of {len(tests)} generated)"
    )
    cov = r.get("coverage")
    if cov:
        out.append(f"- Changed-line coverage: {coverage_line(cov)}")
    mut = r.get("mutation")
    lane = r["lanes"].get("mutation") or {}
    if mut:
        out.append(
            f"- Mutation score on the changed lines: {figure(mut, 'before', 'score')} → "
            f"{_pct(mut['after']['score'])} ({mut['tested']} mutant(s) tested, "
            f"{mut['survivors_total']} surviving)"
        )
    elif lane.get("status"):
        out.append(
            f"- Mutation testing: {lane['status']}"
            + (f" — {lane['summary']}" if lane.get("summary") else "")
        )
    if r.get("findings_summary") is not None and any(lane in r["lanes"] for lane in SECURITY_LANES):
        out.append(f"- Findings: {findings_line(r)}")
    if sb.get("backend"):
        out.append(f"- Sandbox: {sb['backend']}")
    usage = r.get("usage") or {}
    if r["mode"] != "offline":
        out.append(
            f"- Model: {r['mode']}, {usage.get('calls', 0)} call(s), "
            f"{usage.get('input_tokens', 0)} input / {usage.get('output_tokens', 0)} output "
            f"tokens, ${usage.get('cost_usd') or 0:.4f}"
            + (f" of ${usage['budget_usd']:.2f}" if usage.get("budget_usd") else "")
        )
    out.append("")

    if flagged:
        out += ["## Possible bugs", "", "These tests fail on the feature branch in every run:", ""]
        for t in flagged:
            out.append(f"- `{t['test_id']}` ({t['engine']}, target `{t['target']}`)")
            for reason in t["reasons"]:
                out.append(f"  - {reason}")
        out.append("")

    out += findings_markdown(r)
    out += setup_markdown(r)

    if r["criteria"]:
        out += [
            "## Acceptance criteria",
            "",
            "| id | status | tests | criterion |",
            "|---|---|---|---|",
        ]
        for c in r["criteria"]:
            text = c["text"].replace("\n", " ").replace("|", "\\|")
            if len(text) > 140:
                text = text[:137] + "…"
            out.append(f"| {c['label']} | {c['status']} | {len(c['tests'])} | {text} |")
        out.append("")

    for lane, entry in r["lanes"].items():
        out += [f"## Lane: {lane}", "", f"Status: {entry.get('status')}"]
        if entry.get("summary"):
            out.append(f"— {entry['summary']}")
        out.append("")
        for eng in entry.get("engines", []) or []:
            line = f"- {eng.get('engine')} on `{eng.get('module', '-')}`"
            if eng.get("tests") is not None:
                line += f": {eng['tests']} candidate(s)"
            if eng.get("duration_s") is not None:
                line += f" in {eng['duration_s']:.0f}s"
            if eng.get("error"):
                line += f" — {eng['error']}"
            out.append(line)
        out.append("")

    if accepted:
        out += [
            "### Accepted tests",
            "",
            "| test | engine | target | lines added | mutants killed |",
            "|---|---|---|---|---|",
        ]
        for t in accepted:
            killed = "-" if t["mutants_killed"] is None else t["mutants_killed"]
            out.append(
                f"| `{t['test_id'].split('/')[-1]}` | {t['engine']} | `{t['target'] or '-'}` | "
                f"{t['lines_added']} | {killed} |"
            )
        out.append("")
    if rejected:
        out += ["### Rejected tests", ""]
        for t in rejected:
            out.append(f"- `{t['test_id'].split('/')[-1]}`: {'; '.join(t['reasons'])}")
        out.append("")
    if r.get("guard_rejections"):
        out += [
            "### Rejected before running",
            "",
            "Model candidates the guards sent back (each went back to its generator with "
            "these reasons while its replan budget lasted):",
            "",
        ]
        for g in r["guard_rejections"]:
            out.append(
                f"- {g['subtask']} attempt {g['attempt']}"
                + (f" (round {g['round']})" if g.get("round", 1) > 1 else "")
                + f": {'; '.join(g['reasons'])}"
            )
        out.append("")
    if mut and mut.get("survivors"):
        out += [
            "### Surviving mutants",
            "",
            "No kept or existing test notices these changes to the changed lines:",
            "",
        ]
        for m in mut["survivors"][:30]:
            out += [f"- `{m['file']}:{m['line']}` {m['mutator']}", "", "  ```diff"]
            out += [f"  {line}" for line in m["snippet"].splitlines()]
            out += ["  ```", ""]
        if mut["survivors_total"] > 30:
            out += [f"… and {mut['survivors_total'] - 30} more in {mut['report']}", ""]
    if cov and cov.get("uncovered_after") and cov["uncovered_after"] != "no lines":
        out += ["### Changed lines still uncovered", "", cov["uncovered_after"], ""]
    if r.get("delivery"):
        out += ["## Delivery", ""]
        out += [f"- {line}" for line in delivery_lines(r["delivery"])]
        out.append("")
    for note in r.get("notes", []):
        out += [f"_{note}_", ""]
    return "\n".join(out).rstrip() + "\n"


SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")


def findings_line(r: dict[str, Any]) -> str:
    """One line: how many findings are open, how severe, what the branch brought."""
    s = r.get("findings_summary") or {}
    if not s.get("total") and not s.get("fixed"):
        return "none"
    by = s.get("by_severity") or {}
    parts = [f"{by[k]} {k}" for k in SEVERITY_ORDER if by.get(k)]
    text = f"{s.get('open', 0)} open" + (f" ({', '.join(parts)})" if parts else "")
    if s.get("open"):
        text += f", {s.get('introduced', 0)} introduced by the branch"
    if s.get("suppressed"):
        text += f"; {s['suppressed']} triaged away (false positive or accepted risk)"
    if s.get("fixed"):
        text += f"; {s['fixed']} fixed since task {s.get('compared_with')}"
    return text


def _where(f: dict[str, Any]) -> str:
    if f.get("component"):
        where = f"{f['component']} {f.get('version') or ''}".strip()
        return where + (f" ({f['file']}:{f['line']})" if f.get("file") and f.get("line") else "")
    where = f.get("file") or "-"
    if f.get("line"):
        where += f":{f['line']}"
    if f.get("commit"):
        where += f" @ {f['commit'][:10]}"
    return where


def findings_markdown(r: dict[str, Any]) -> list[str]:
    findings = r.get("findings") or []
    out: list[str] = []
    open_ = [f for f in findings if f["triage"]["state"] == "open"]
    suppressed = [f for f in findings if f["triage"]["state"] != "open"]
    if open_:
        out += [
            "## Findings",
            "",
            "Ranked by severity, then confidence. *branch*: the feature branch brought it in; "
            "*base*: it was already there.",
            "",
            "| # | severity | confidence | lane | finding | where | found by | origin |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for f in open_:
            title = _md(f["title"], 160).replace("|", "\\|")
            if f.get("component"):
                fixed = ", ".join(f.get("fixed_versions") or []) or "none published"
                title += f" — fixed in {fixed}"
            origin = {True: "branch", False: "base"}.get(f.get("introduced"), "?")
            if f.get("comparison") == "unchanged":
                origin += ", seen before"
            tools = ", ".join(sorted({t["tool"] for t in f["tools"]}))
            out.append(
                f"| {f['rank']} | {f['severity']} | {f['confidence']} | {f['lane']} | {title} | "
                f"`{_where(f)}` | {tools} | {origin} |"
            )
        out.append("")
        for f in open_:
            if f.get("snippet"):
                out += [f"**{f['rank']}.** `{_where(f)}` — {_md(f['description'], 300)}", ""]
                out += ["```", f["snippet"].replace("```", "ʼʼʼ"), "```", ""]
    if suppressed:
        out += ["### Triaged", ""]
        for f in suppressed:
            note = f" — {_md(f['triage']['note'], 200)}" if f["triage"].get("note") else ""
            state = f["triage"]["state"].replace("_", " ")
            out.append(f"- {state}: {_md(f['title'], 160)} (`{_where(f)}`){note}")
        out.append("")
    fixed = r.get("findings_fixed") or []
    if fixed:
        s = r.get("findings_summary") or {}
        out += [f"### Fixed since task {s.get('compared_with')}", ""]
        for f in fixed:
            out.append(f"- {f['severity']}: {_md(f['title'], 160)} (`{_where(f)}`)")
        out.append("")
    source = ((r.get("lanes") or {}).get("deps") or {}).get("source") or {}
    if source.get("source") == "offline":
        credit = source.get("title") or source["database"]
        if source.get("license"):
            credit += f" ({source['license']})"
        out += [
            f"_Dependency advisories: {credit}, advisories up to "
            f"{source.get('snapshot') or 'an unknown date'}; later ones are not in it._",
            "",
        ]
    elif source.get("source") == "api":
        out += [f"_Dependency advisories: the OSV API at {source['url']}._", ""]
    unchecked = ((r.get("lanes") or {}).get("deps") or {}).get("unchecked") or []
    if unchecked:
        out += ["### Dependencies not checked", ""]
        for u in unchecked:
            out.append(
                f"- `{u['name']}` {u.get('specifier') or ''} ({u['file']}): {_md(u['why'], 300)}"
            )
        out.append("")
    return out


def delivery_lines(d: dict[str, Any]) -> list[str]:
    """One line per delivery step: what happened, or why it did not."""
    steps = d.get("steps") or {}
    lines = []
    if d.get("dry_run"):
        lines.append(
            "Dry run: nothing was committed, pushed or posted; the commit is in "
            f"`{d.get('patch') or 'delivery/tests.patch'}` and the comment in "
            f"`{d.get('comment_body') or 'delivery/pr_comment.md'}`"
        )
    for step, label in (("commit", "Commit"), ("push", "Push"), ("comment", "PR comment")):
        if steps.get(step):
            lines.append(f"{label}: {steps[step]}")
    return lines


def _md(text: str, n: int = 400) -> str:
    """Free text for markdown: one line, no HTML (test output holds < and >), clipped."""
    text = " ".join(str(text).split()).replace("<", "&lt;").replace(">", "&gt;")
    return text if len(text) <= n else text[: n - 1] + "…"


# GitHub takes at most 65,536 characters in a comment
PR_COMMENT_MAX = 60_000
PR_LIST_MAX = 40


def render_pr_comment(report: dict[str, Any], mark: str) -> str:
    """The pull-request comment: the report's summary, with the hidden marker that lets
    the next run find and edit this comment instead of adding another."""
    r = report
    tests = r["tests"]
    accepted = [t for t in tests if t["verdict"] == "accept"]
    flagged = [t for t in tests if t["verdict"] == "flag"]
    rejected = [t for t in tests if t["verdict"] == "reject"]
    verified = sum(1 for c in r["criteria"] if c["status"] == "verified")
    out = [
        mark,
        f"### TFactory: tests for `{r['spec_id']}`",
        "",
        f"Branch `{r['branch']}` at `{(r['head_sha'] or '')[:10]}` against `{r['base_ref']}` · "
        f"mode {r['mode']} · task {r['task_id']}",
        "",
        *([f"> :warning: **{warning}**", ""] if (warning := baseline_warning(r)) else []),
        f"- **Criteria verified:** {verified} of {len(r['criteria'])}",
        f"- **Tests:** {len(accepted)} accepted, {len(rejected)} rejected, {len(flagged)} "
        f"flagged (of {len(tests)} generated)",
    ]
    cov = r.get("coverage")
    if cov:
        out.append(f"- **Changed-line coverage:** {coverage_line(cov)}")
    mut = r.get("mutation")
    lane = (r.get("lanes") or {}).get("mutation") or {}
    if mut:
        out.append(
            f"- **Mutation score (changed lines):** {figure(mut, 'before', 'score')} → "
            f"{_pct(mut['after']['score'])} ({mut['tested']} mutant(s) tested, "
            f"{mut['survivors_total']} surviving)"
        )
    elif lane.get("status"):
        out.append(f"- **Mutation testing:** {lane['status']}")
    findings = [
        f for f in r.get("findings") or [] if (f.get("triage") or {}).get("state", "open") == "open"
    ]
    if r.get("findings_summary") is not None and any(
        lane in (r.get("lanes") or {}) for lane in SECURITY_LANES
    ):
        out.append(f"- **Findings:** {findings_line(r)}")
    delivery = r.get("delivery") or {}
    if delivery.get("committed"):
        pushed = " and pushed" if delivery.get("pushed") else ""
        out.append(
            f"- **Committed:** `{delivery['commit_sha'][:10]}` on `{delivery['branch']}` "
            f"under `{delivery.get('test_dir')}`{pushed}"
        )
    elif delivery.get("commit_sha") and delivery.get("pushed"):
        out.append(f"- **Pushed:** `{delivery['commit_sha'][:10]}` to `{delivery['branch']}`")
    out.append("")

    if flagged:
        out += ["#### Possible bugs", "", "These tests fail on the branch in every run:", ""]
        for t in flagged[:PR_LIST_MAX]:
            out.append(f"- `{t['test_id'].split('/')[-1]}`: {_md('; '.join(t['reasons']))}")
        out.append("")
    if r["criteria"]:
        out += ["#### Acceptance criteria", "", "| id | status | tests | criterion |"]
        out.append("|---|---|---|---|")
        for c in r["criteria"]:
            text = _md(c["text"], 140).replace("|", "\\|")
            out.append(f"| {c['label']} | {c['status']} | {len(c['tests'])} | {text} |")
        out.append("")
    if accepted:
        out += [
            f"<details><summary>Accepted tests ({len(accepted)})</summary>",
            "",
            "| test | target | lines added | mutants killed |",
            "|---|---|---|---|",
        ]
        for t in accepted[:PR_LIST_MAX]:
            killed = "-" if t["mutants_killed"] is None else t["mutants_killed"]
            out.append(
                f"| `{t['test_id'].split('/')[-1]}` | `{t['target'] or '-'}` | "
                f"{t['lines_added']} | {killed} |"
            )
        out += ["", "</details>", ""]
    if rejected:
        out += [f"<details><summary>Rejected tests ({len(rejected)})</summary>", ""]
        for t in rejected[:PR_LIST_MAX]:
            out.append(f"- `{t['test_id'].split('/')[-1]}`: {_md('; '.join(t['reasons']))}")
        if len(rejected) > PR_LIST_MAX:
            out.append(f"- … and {len(rejected) - PR_LIST_MAX} more in report.md")
        out += ["", "</details>", ""]
    if findings:
        out += ["#### Findings", "", "| severity | rule | where | finding | origin |",
                "|---|---|---|---|---|"]  # fmt: skip
        for f in findings[:PR_LIST_MAX]:
            rule = f.get("rule_id") or f.get("tool") or "-"
            message = _md(f.get("title") or "", 200).replace("|", "\\|")
            if f.get("component"):
                message += (
                    f" — fixed in {', '.join(f.get('fixed_versions') or []) or 'no release yet'}"
                )
            origin = {True: "branch", False: "base"}.get(f.get("introduced"), "?")
            out.append(
                f"| {f.get('severity', '-')} | `{rule}` | `{_where(f)}` | {message} | {origin} |"
            )
        if len(findings) > PR_LIST_MAX:
            out.append(f"| | | | … and {len(findings) - PR_LIST_MAX} more in report.md | |")
        out.append("")
    out.append(f"<sub>TFactory task {r['task_id']} · the full report is report.md</sub>")
    text = "\n".join(out) + "\n"
    if len(text) > PR_COMMENT_MAX:
        text = text[:PR_COMMENT_MAX] + "\n\n… (cut; the full report is report.md)\n"
    return text


def write_report(task: Task) -> dict[str, Any]:
    task.refresh_from_db()
    try:
        # whatever the security lanes finished goes into the findings, however the task ends
        collect(task)
    except Exception:
        log.exception("could not collect the findings of task %s", task.pk)
    report = build_report(task)
    ws = Workspace(task.workspace_path)
    # engine logs and test messages can echo anything; no secret reaches a report
    text = redact(json.dumps(report, indent=2))
    write_text(ws.report_json, text + "\n")
    write_text(ws.report_md, redact(render_markdown(report)))
    return json.loads(text)


def run(ctx: StageContext) -> None:
    if ctx.task.mode != "offline":
        text = summarise(ctx.task, build_report(ctx.task))
        if text:
            write_json(ctx.ws.runs / Runs.SUMMARY, {"text": text})
    report = write_report(ctx.task)
    ctx.emit(
        f"report written: {len(report['tests'])} test(s), "
        f"{sum(1 for c in report['criteria'] if c['status'] == 'verified')} criteria verified"
    )
