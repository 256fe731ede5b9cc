"""findings/findings.sarif: a task's findings as SARIF 2.1.0, the way GitHub code scanning
takes them (https://docs.github.com/en/code-security/code-scanning/integrating-with-code-scanning/sarif-support-for-code-scanning).

One run whose driver is TFactory: one rule per (tool, rule id) with its CWE tags,
`security-severity` and precision; one result per finding with its location relative
to the repository root, the tools that found it, TFactory's fingerprint as a partial
fingerprint (so GitHub follows a finding across line shifts as we do), its state
against earlier tasks as `baselineState`, and a triaged finding as an accepted external
suppression.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from findings_app.categories import CATEGORIES, category_name
from findings_app.models import Finding
from findings_app.record import SEVERITY_SCORE

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
PROBLEM = {"critical": "error", "high": "error", "medium": "warning", "low": "recommendation",
           "info": "recommendation"}  # fmt: skip
BASELINE = {"new": "new", "unchanged": "unchanged"}
FINGERPRINT_KEY = "tfactory/v1"


def rule_id(row: Finding) -> str:
    return f"{row.tool}/{row.rule_id}"


def _rule(row: Finding) -> dict[str, Any]:
    cat = CATEGORIES.get(row.category)
    score = row.score if row.score is not None else SEVERITY_SCORE[row.severity]
    tags = ["security", row.category if cat else "tfactory-uncategorised"]
    tags += [f"external/cwe/cwe-{c}" for c in row.cwe]
    text = cat.name if cat else category_name(row.category)
    rule: dict[str, Any] = {
        "id": rule_id(row),
        "name": "".join(part.capitalize() for part in row.rule_id.replace("_", "-").split("-"))[
            :100
        ]
        or row.tool,
        "shortDescription": {"text": f"{text} ({row.tool} {row.rule_id})"},
        "fullDescription": {"text": (cat.advice if cat else row.title)},
        "help": {"text": cat.advice if cat else row.description[:1000] or row.title},
        "defaultConfiguration": {"level": LEVEL[row.severity]},
        "properties": {
            "tags": tags,
            "security-severity": f"{score:.1f}",
            "precision": {"high": "high", "medium": "medium", "low": "low"}[row.confidence],
            "problem.severity": PROBLEM[row.severity],
        },
    }
    if row.references:
        rule["helpUri"] = row.references[0]
    return rule


def _result(row: Finding, index: int) -> dict[str, Any]:
    region: dict[str, Any] = {"startLine": row.line_start or 1}
    if row.line_end and row.line_end >= (row.line_start or 1):
        region["endLine"] = row.line_end
    if row.snippet:
        region["snippet"] = {"text": row.snippet}
    message = row.title
    if row.component:
        fixed = ", ".join(row.fixed_versions) or "none published"
        message += f" (fixed versions: {fixed})"
    result: dict[str, Any] = {
        "ruleId": rule_id(row),
        "ruleIndex": index,
        "level": LEVEL[row.severity],
        "message": {"text": message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": row.file or "", "uriBaseId": "%SRCROOT%"},
                    "region": region,
                }
            }
        ],
        "partialFingerprints": {FINGERPRINT_KEY: row.fingerprint},
        "baselineState": BASELINE[row.comparison],
        "properties": {
            "lane": row.lane,
            "category": row.category,
            "severity": row.severity,
            "confidence": row.confidence,
            "tools": [t["tool"] for t in row.tools],
            "introducedByBranch": row.introduced,
            **(
                {
                    "component": row.component,
                    "version": row.component_version,
                    "fixedVersions": row.fixed_versions,
                    "vulnerabilityIds": row.vulnerability_ids,
                    "aliases": row.aliases,
                }
                if row.component
                else {}
            ),  # fmt: skip
        },
    }
    if row.suppressed:
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": f"{row.get_triage_state_display()}"
                + (f": {row.triage_note}" if row.triage_note else ""),
            }
        ]
    return result


def build(rows: list[Finding], *, automation_id: str) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results = []
    for row in rows:
        rid = rule_id(row)
        if rid not in index:
            index[rid] = len(rules)
            rules.append(_rule(row))
        results.append(_result(row, index[rid]))
    tools = sorted({(t["tool"], t.get("version") or "") for row in rows for t in row.tools})
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "TFactory",
                        "informationUri": settings.TFACTORY_PUBLIC_URL,
                        "semanticVersion": "0.1.0",
                        "rules": rules,
                    },
                    "extensions": [
                        {"name": name, **({"version": version} if version else {})}
                        for name, version in tools
                    ],
                },
                "automationDetails": {"id": automation_id},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
