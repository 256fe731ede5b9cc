"""Semgrep's JSON output (`semgrep scan --json`), for TFactory's own rule pack.

Our rules carry their category, CWE, confidence and (optionally) a severity beyond
Semgrep's three levels in their metadata (agents_app/lanes/security/semgrep_rules/README.md).
Semgrep prefixes a rule's id with the folder it was loaded from; the last dotted part is
the rule's own id.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from findings_app.categories import CATEGORIES, own_category
from findings_app.fingerprint import SourceCache
from findings_app.parsers import ParseError, ParseResult, as_int, load_results, rel_path
from findings_app.record import SEVERITY_SCORE, RawFinding
from findings_app.secrets import scrub

TOOL = "semgrep"
LEVELS = {"ERROR": "high", "WARNING": "medium", "INFO": "low", "INVENTORY": "info"}
CONFIDENCE = {"LOW": "low", "MEDIUM": "medium", "HIGH": "high"}


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
    out = ParseResult(TOOL, str(data.get("version") or version))
    for err in data.get("errors") or []:
        if isinstance(err, dict):
            where = err.get("path") or ""
            out.errors.append(
                f"{rel_path(where, root) + ': ' if where else ''}"
                f"{err.get('type', 'error')}: {str(err.get('message', ''))[:300]}"
            )
    for item in results:
        if not isinstance(item, dict):
            raise ParseError("semgrep's output has a result that is not an object")
        check_id = str(item.get("check_id") or "")
        start = as_int((item.get("start") or {}).get("line"))
        end = as_int((item.get("end") or {}).get("line")) or start
        if not check_id or start is None:
            raise ParseError(f"semgrep's result lacks check_id or start line: {item!r}"[:300])
        extra = item.get("extra") if isinstance(item.get("extra"), dict) else {}
        meta: dict[str, Any] = (
            extra.get("metadata") if isinstance(extra.get("metadata"), dict) else {}
        )
        rule_id = check_id.rsplit(".", 1)[-1]
        category = str(meta.get("category") or "") or own_category(TOOL, rule_id)
        if category not in CATEGORIES and not category.startswith("rule:"):
            category = own_category(TOOL, rule_id)
        cwe = _cwes(meta.get("cwe"))
        if not cwe and category in CATEGORIES:
            cwe = [CATEGORIES[category].cwe]
        severity = str(meta.get("tfactory-severity") or "").lower()
        if severity not in SEVERITY_SCORE:
            severity = LEVELS.get(str(extra.get("severity", "")).upper(), "medium")
        path = rel_path(str(item.get("path") or ""), root)
        message = " ".join(str(extra.get("message") or rule_id).split())
        refs = meta.get("references") or []
        out.findings.append(
            RawFinding(
                lane=lane,
                tool=TOOL,
                tool_version=out.version,
                rule_id=rule_id,
                category=category,
                title=scrub(str(meta.get("title") or message))[:500],
                description=scrub(message),
                severity=severity,
                score=SEVERITY_SCORE[severity],
                confidence=CONFIDENCE.get(str(meta.get("confidence", "")).upper(), "medium"),
                cwe=cwe,
                file=path,
                line_start=start,
                line_end=max(end, start),
                snippet=cache.snippet(path, start, end),
                references=[str(r) for r in refs] if isinstance(refs, list) else [str(refs)],
            )
        )
    return out


def _cwes(value: Any) -> list[int]:
    items = value if isinstance(value, list) else [value] if value else []
    found = []
    for item in items:
        m = re.search(r"CWE-(\d+)", str(item))
        if m and int(m.group(1)) not in found:
            found.append(int(m.group(1)))
    return found
