"""Bandit's JSON report (`bandit -f json`)."""

from __future__ import annotations

import re
from pathlib import Path

from findings_app.categories import BANDIT, CATEGORIES, own_category
from findings_app.fingerprint import SourceCache
from findings_app.parsers import ParseError, ParseResult, as_int, load_results, rel_path
from findings_app.record import SEVERITY_SCORE, RawFinding
from findings_app.secrets import scrub

TOOL = "bandit"
LEVELS = {"LOW": "low", "MEDIUM": "medium", "HIGH": "high", "UNDEFINED": "low"}


def parse(
    text: str,
    *,
    root: Path,
    version: str = "",
    lane: str = "sast",
    cache: SourceCache | None = None,
) -> ParseResult:
    data, results = load_results(TOOL, text, list)
    cache = cache or SourceCache(root)
    out = ParseResult(TOOL, version)
    for err in data.get("errors") or []:
        if isinstance(err, dict):
            out.errors.append(
                f"{rel_path(err.get('filename', '?'), root)}: {err.get('reason', '?')}"
            )
    for item in results:
        if not isinstance(item, dict):
            raise ParseError("bandit's report has a result that is not an object")
        test_id = str(item.get("test_id") or "")
        line = as_int(item.get("line_number"))
        if not test_id or line is None:
            raise ParseError(f"bandit's result lacks test_id or line_number: {item!r}"[:300])
        path = rel_path(str(item.get("filename") or ""), root)
        line_range = [n for n in (as_int(x) for x in item.get("line_range") or []) if n]
        end = max(line_range) if line_range else line
        category = BANDIT.get(test_id, own_category(TOOL, test_id))
        cwe = as_int((item.get("issue_cwe") or {}).get("id"))
        if cwe is None and category in CATEGORIES:
            cwe = CATEGORIES[category].cwe
        severity = LEVELS.get(str(item.get("issue_severity", "")).upper(), "low")
        message = str(item.get("issue_text") or test_id)
        if category == "hardcoded-secret":
            # "Possible hardcoded password: 'hunter2'": the quoted part is the secret
            message = re.sub(r"(['\"]).*?\1", "'" + "*" * 8 + "'", message)
        out.findings.append(
            RawFinding(
                lane=lane,
                tool=TOOL,
                tool_version=version,
                rule_id=test_id,
                category=category,
                title=scrub(message)[:500],
                description=scrub(
                    f"{message} (Bandit {test_id} {item.get('test_name', '')})".strip()
                ),
                severity=severity,
                score=SEVERITY_SCORE[severity],
                confidence=LEVELS.get(str(item.get("issue_confidence", "")).upper(), "low"),
                cwe=[cwe] if cwe else [],
                file=path,
                line_start=line,
                line_end=end,
                snippet=cache.snippet(path, line, end),
                references=[str(item["more_info"])] if item.get("more_info") else [],
            )
        )
    return out
