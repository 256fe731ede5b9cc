"""Deduplication within a task, and the fingerprints it needs.

- `merge_code`: the same weakness reported by several tools — same file, same category,
  same statement — is one finding found by all of them (the most severe report leads;
  two tools agreeing make it high confidence).
- `fingerprint`: every finding gets its stable fingerprint (findings_app.fingerprint).
- `merge_lanes`: a hard-coded secret that a SAST tool and the secrets lane both report is
  one finding of the secrets lane.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from findings_app.fingerprint import (
    SourceCache,
    code_fingerprint,
    dependency_fingerprint,
    secret_fingerprint,
)
from findings_app.models import CONFIDENCE_RANK, SEVERITY_RANK
from findings_app.parsers.osv import canonical_id
from findings_app.record import RawFinding

# which report leads when several tools found the same thing (our rules' messages and
# categories are the most specific)
TOOL_PREFERENCE = {"semgrep": 0, "tfactory-secrets": 1, "detect-secrets": 2, "bandit": 3}


def merge_group(group: list[RawFinding]) -> RawFinding:
    lead = min(
        group,
        key=lambda f: (
            -SEVERITY_RANK[f.severity],
            -CONFIDENCE_RANK[f.confidence],
            TOOL_PREFERENCE.get(f.tool, 9),
            f.rule_id,
        ),
    )
    if len(group) == 1:
        return lead
    tools: list[dict[str, str]] = []
    for f in sorted(group, key=lambda f: TOOL_PREFERENCE.get(f.tool, 9)):
        for t in f.tools:
            if t not in tools:
                tools.append(t)
    names = {t["tool"] for t in tools}
    confidence = (
        "high"
        if len(names) > 1
        else max((f.confidence for f in group), key=CONFIDENCE_RANK.__getitem__)
    )
    cwe = list(lead.cwe)
    for f in group:
        cwe += [c for c in f.cwe if c not in cwe]
    introduced = [f.introduced for f in group if f.introduced is not None]
    starts = [f.line_start for f in group if f.line_start]
    ends = [f.line_end or f.line_start for f in group if f.line_start]
    refs = list(lead.references)
    for f in group:
        refs += [r for r in f.references if r not in refs]
    extra = {}
    for f in reversed(group):
        extra.update(f.extra)
    extra.update(lead.extra)
    return RawFinding(
        **{
            **lead.to_json(),
            "tools": tools,
            "confidence": confidence,
            "cwe": cwe,
            "introduced": any(introduced) if introduced else None,
            "line_start": min(starts) if starts else lead.line_start,
            "line_end": max(ends) if ends else lead.line_end,
            "references": refs,
            "extra": extra,
        }
    )


def merge_code(findings: Iterable[RawFinding], cache: SourceCache) -> list[RawFinding]:
    """One finding per (file, category, statement)."""
    groups: dict[tuple, list[RawFinding]] = defaultdict(list)
    for f in findings:
        if f.file and f.line_start:
            ctx = cache.context(f.file, f.line_start)
            key = (f.file, f.category, ctx.start, ctx.end)
        else:
            key = (f.file, f.category, f.rule_id, f.component, f.component_version)
        groups[key].append(f)
    return [merge_group(group) for group in groups.values()]


def fingerprint(findings: list[RawFinding], cache: SourceCache | None) -> list[RawFinding]:
    """Give every finding its fingerprint (kept when it already has one)."""
    occurrences: dict[tuple, int] = defaultdict(int)
    for f in sorted(findings, key=lambda f: (f.file, f.line_start or 0, f.category)):
        if f.fingerprint:
            continue
        if f.component:
            advisory = canonical_id({*f.vulnerability_ids, *f.aliases} or {f.rule_id})
            f.fingerprint = dependency_fingerprint(f.component, f.component_version, advisory)
        elif f.extra.get("secret"):
            f.fingerprint = secret_fingerprint(f.file, f.extra["secret"])
        else:
            if cache is None or not f.line_start:
                raise ValueError(f"a code finding needs its source to be fingerprinted: {f}")
            ctx = cache.context(f.file, f.line_start)
            key = (f.category, f.file, ctx.scope, ctx.text)
            f.fingerprint = code_fingerprint(f.category, f.file, ctx, occurrences[key])
            occurrences[key] += 1
    return findings


def unique(findings: list[RawFinding]) -> list[RawFinding]:
    """One finding per fingerprint (a repeated one merges into the first)."""
    seen: dict[str, list[RawFinding]] = {}
    for f in findings:
        seen.setdefault(f.fingerprint, []).append(f)
    return [merge_group(group) if len(group) > 1 else group[0] for group in seen.values()]


def merge_lanes(by_lane: dict[str, list[RawFinding]]) -> list[RawFinding]:
    """All lanes' findings; a SAST report of a hard-coded secret on a line where the
    secrets lane found one is folded into that secret's finding."""
    secrets = by_lane.get("secrets", [])
    out: list[RawFinding] = []
    for lane, findings in by_lane.items():
        if lane == "secrets":
            continue
        for f in findings:
            if f.category == "hardcoded-secret" and f.line_start:
                end = f.line_end or f.line_start
                match = next(
                    (
                        s
                        for s in secrets
                        if s.file == f.file and f.line_start <= (s.line_start or 0) <= end
                    ),
                    None,
                )
                if match is not None:
                    merged = merge_group([match, f])
                    merged.lane, merged.fingerprint = match.lane, match.fingerprint
                    merged.extra = {**match.extra}
                    secrets = [merged if s is match else s for s in secrets]
                    continue
            out.append(f)
    return secrets + out
