"""detect-secrets' baseline JSON (`detect-secrets scan`).

detect-secrets reports a type, a file, a line and the SHA-1 of the value. The parser
finds the value in the line by that hash (every quoted string and every token of the
line is a candidate) to redact exactly it; results on one line whose values overlap
(a GitHub token is also a high-entropy string) are one secret. A result whose value
cannot be found in the line (some plugins hash only part of a match) joins the line's
other secret, or else redacts the line's whole value part.
"""

from __future__ import annotations

import re
from pathlib import Path

from findings_app.categories import CATEGORIES
from findings_app.fingerprint import SourceCache
from findings_app.parsers import ParseError, ParseResult, as_int, load_results, rel_path
from findings_app.record import SEVERITY_SCORE, RawFinding
from findings_app.secrets import MASK, find_secrets, scrub_line, secret_id, sha1

TOOL = "detect-secrets"
# entropy detectors are the least sure; a named format the surest
WEAK_TYPES = {"Base64 High Entropy String", "Hex High Entropy String", "Secret Keyword"}
_TOKEN = re.compile(r"[^\s'\"`,;(){}\[\]<>]+")
_QUOTED = re.compile(r"(['\"`])(.*?)\1")


def value_spans(line: str) -> dict[str, tuple[int, int]]:
    """SHA-1 of each candidate value of a line -> its span (the first one seen)."""
    spans: dict[str, tuple[int, int]] = {}

    def add(start: int, end: int) -> None:
        if end > start:
            spans.setdefault(sha1(line[start:end]), (start, end))

    for m in _QUOTED.finditer(line):
        add(*m.span(2))
    for m in _TOKEN.finditer(line):
        add(*m.span())
        # key=value, key:value tokens
        for sep in ("=", ":"):
            if sep in m.group():
                add(m.start() + m.group().index(sep) + 1, m.end())
    for match in find_secrets(line):
        add(match.start, match.end)
    return spans


def _value_part(line: str) -> tuple[int, int]:
    """Everything after the first = or :, or the whole line."""
    m = re.search(r"[:=]\s*", line)
    return (m.end(), len(line)) if m else (0, len(line))


def parse(
    text: str,
    *,
    root: Path,
    version: str = "",
    lane: str = "secrets",
    cache: SourceCache | None = None,
    where: dict[str, dict] | None = None,
) -> ParseResult:
    """`where` maps a scanned path to how to report it ({"file", "commit"}: a file of
    the branch's history was scanned under another name)."""
    data, results = load_results(TOOL, text, dict)
    cache = cache or SourceCache(root)
    out = ParseResult(TOOL, str(data.get("version") or version))
    for filename, items in sorted(results.items()):
        if not isinstance(items, list):
            raise ParseError(f"detect-secrets' results for {filename!r} are not a list")
        path = rel_path(filename, root)
        by_line: dict[int, list[dict]] = {}
        for item in items:
            line_no = as_int(item.get("line_number")) if isinstance(item, dict) else None
            if line_no is None or not isinstance(item.get("hashed_secret"), str):
                raise ParseError(f"detect-secrets' result lacks line_number or hash: {item!r}")
            by_line.setdefault(line_no, []).append(item)
        lines = cache.lines(path)
        for line_no, hits in sorted(by_line.items()):
            line = lines[line_no - 1] if 0 < line_no <= len(lines) else ""
            out.findings += _line_findings(path, line_no, line, hits, lane, out.version, where)
    return out


def _line_findings(
    path: str,
    line_no: int,
    line: str,
    hits: list[dict],
    lane: str,
    version: str,
    where: dict[str, dict] | None,
) -> list[RawFinding]:
    spans = value_spans(line)
    # group the hits by the value they point at; unlocated ones join the first group
    groups: list[tuple[tuple[int, int], list[dict]]] = []
    unlocated: list[dict] = []
    for hit in hits:
        span = spans.get(hit["hashed_secret"])
        if span is None:
            unlocated.append(hit)
            continue
        for (s, e), members in groups:
            if span[0] < e and s < span[1]:
                members.append(hit)
                break
        else:
            groups.append((span, [hit]))
    if unlocated:
        if groups:
            groups[0][1].extend(unlocated)
        else:
            groups.append((_value_part(line), unlocated))
    # the widest span of overlapping ones is the value
    located = []
    for span, members in groups:
        overlapping = [spans[h["hashed_secret"]] for h in members if h["hashed_secret"] in spans]
        start = min([span[0], *(s for s, _ in overlapping)])
        end = max([span[1], *(e for _, e in overlapping)])
        located.append(((start, end), members))
    all_spans = [span for span, _ in located]
    report = (where or {}).get(path, {"file": path})
    findings = []
    for (start, end), members in located:
        types = sorted({str(h.get("type") or "secret") for h in members})
        named = [t for t in types if t not in WEAK_TYPES]
        title = named[0] if named else types[0]
        confidence = "high" if named else "medium" if "Secret Keyword" in types else "low"
        severity = "high" if named else "medium"
        value_hash = sha1(line[start:end]) if line[start:end] else members[0]["hashed_secret"]
        snippet = scrub_line(line, all_spans)[:240] if line else MASK
        commit = report.get("commit")
        where_text = f" in commit {commit[:12]}" if commit else ""
        findings.append(
            RawFinding(
                lane=lane,
                tool=TOOL,
                tool_version=version,
                rule_id=title,
                category="hardcoded-secret",
                title=f"{title} in the code",
                description=(
                    f"detect-secrets found a {title.lower()} at line {line_no}{where_text} "
                    f"({', '.join(types)}). " + CATEGORIES["hardcoded-secret"].advice
                ),
                severity=severity,
                score=SEVERITY_SCORE[severity],
                confidence=confidence,
                cwe=[798],
                file=report["file"],
                line_start=line_no,
                line_end=line_no,
                snippet=snippet,
                extra={"secret": secret_id(value_hash), "types": types}
                | ({"commit": commit} if commit else {}),
                tools=[{"tool": TOOL, "version": version, "rule_id": t} for t in types],
            )
        )
    return findings
