"""From the security lanes' results to the task's findings: merged across lanes, saved
(compared with earlier tasks, triage applied, ranked), and exported as SARIF; and the
findings part of report.json."""

from __future__ import annotations

from collections import Counter
from typing import Any

from agents_app.lanes.security import load_results
from findings_app import dedup, sarif, store
from findings_app.models import Finding
from tasks_app.core.workspace import Workspace, write_json
from tasks_app.models import Task

SARIF_FILE = "findings/findings.sarif"


def collect(task: Task) -> list[Finding]:
    """Rebuild the task's findings from findings/raw/*.json and write the SARIF file."""
    ws = Workspace(task.workspace_path)
    results = load_results(ws)
    merged = dedup.merge_lanes({lane: r.findings for lane, r in results.items()})
    store.save(task, dedup.unique(merged))
    rows = list(Finding.objects.filter(task=task).order_by("rank"))
    if results:
        automation = f"tfactory/{task.project_id}/{task.spec_id}/"
        write_json(ws.root / SARIF_FILE, sarif.build(rows, automation_id=automation))
    else:
        (ws.root / SARIF_FILE).unlink(missing_ok=True)
    return rows


def report_part(task: Task) -> dict[str, Any]:
    """report.json's `findings`, `findings_summary` and `findings_fixed`."""
    ws = Workspace(task.workspace_path)
    results = load_results(ws)
    rows = list(Finding.objects.filter(task=task).order_by("rank"))
    ran = {lane for lane, r in results.items() if r.status in ("done", "degraded")}
    before, fixed = store.fixed_since(task, ran)
    open_rows = [r for r in rows if not r.suppressed]
    return {
        "findings": [store.entry(r) for r in rows],
        "findings_summary": {
            "total": len(rows),
            "open": len(open_rows),
            "suppressed": len(rows) - len(open_rows),
            "by_severity": dict(Counter(r.severity for r in open_rows)),
            "by_lane": dict(Counter(r.lane for r in open_rows)),
            "introduced": sum(1 for r in open_rows if r.introduced),
            "new": sum(1 for r in rows if r.comparison == "new"),
            "unchanged": sum(1 for r in rows if r.comparison == "unchanged"),
            "fixed": len(fixed),
            "compared_with": before.pk if before else None,
            "sarif": SARIF_FILE if (ws.root / SARIF_FILE).exists() else None,
        },
        "findings_fixed": [
            {
                "fingerprint": r.fingerprint,
                "lane": r.lane,
                "category": r.category,
                "rule_id": r.rule_id,
                "title": r.title,
                "severity": r.severity,
                "file": r.file or None,
                "line": r.line_start,
                "component": r.component or None,
                "version": r.component_version or None,
                "task_id": r.task_id,
            }
            for r in fixed
        ],
        "security_lanes": {
            lane: {
                "tools": r.tools,
                "notes": r.notes[:50],
                **{k: v for k, v in r.extra.items() if k in ("unchecked", "source", "commits")},
            }
            for lane, r in results.items()
        },
    }
