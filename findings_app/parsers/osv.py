"""OSV advisories (https://ossf.github.io/osv-schema/): which versions of a PyPI package
one affects, which versions fix it, and the finding for a dependency it affects.

Versions are compared as PEP 440 versions (packaging). An advisory affects a version
when the version is listed in its `versions`, or falls in one of its ECOSYSTEM/SEMVER
ranges (introduced <= v < fixed, or <= last_affected). Withdrawn advisories and GIT
ranges are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from findings_app.categories import CATEGORIES
from findings_app.record import SEVERITY_SCORE, RawFinding, severity_from_score

TOOL = "osv"
ECOSYSTEM = "PyPI"
_GHSA_LEVELS = {"LOW": "low", "MODERATE": "medium", "MEDIUM": "medium", "HIGH": "high",
                "CRITICAL": "critical"}  # fmt: skip


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except (InvalidVersion, TypeError):
        return None


@dataclass
class Affected:
    ranges: list[list[tuple[str, str]]] = field(default_factory=list)  # [(kind, version)]
    versions: set[str] = field(default_factory=set)

    def affects(self, version: str) -> bool:
        if version in self.versions:
            return True
        v = _version(version)
        if v is None:
            return False
        if any(_version(x) == v for x in self.versions):
            return True
        return any(_in_range(v, events) for events in self.ranges)

    def fixed(self) -> list[str]:
        return [ver for events in self.ranges for kind, ver in events if kind == "fixed"]


def _in_range(v: Version, events: list[tuple[str, str]]) -> bool:
    def key(event: tuple[str, str]) -> tuple[int, Version]:
        kind, ver = event
        if kind == "introduced" and ver == "0":
            return (0, Version("0"))
        return (1, _version(ver) or Version("0"))

    affected = False
    for kind, ver in sorted(events, key=key):
        at = Version("0") if ver == "0" else _version(ver)
        if at is None:
            continue
        if kind == "introduced" and at <= v:
            affected = True
        elif kind == "fixed" and at <= v:
            affected = False
        elif kind == "last_affected" and at < v:
            affected = False
    return affected


@dataclass
class Advisory:
    id: str
    aliases: list[str]
    summary: str
    details: str
    severity: str
    score: float | None
    vector: str
    cwe: list[int]
    references: list[str]
    modified: str
    packages: dict[str, Affected]  # normalised package name -> what it affects

    @property
    def ids(self) -> set[str]:
        return {self.id, *self.aliases}

    def affects(self, package: str, version: str) -> bool:
        entry = self.packages.get(canonicalize_name(package))
        return entry is not None and entry.affects(version)

    def fixed_versions(self, package: str) -> list[str]:
        entry = self.packages.get(canonicalize_name(package))
        found = set(entry.fixed()) if entry else set()
        return sorted(found, key=lambda x: (_version(x) or Version("0"), x))

    def admitted(self, package: str, specifier: str) -> list[str] | None:
        """The listed affected releases a version specifier admits ([] = none), or None
        when the advisory lists no releases to judge by."""
        entry = self.packages.get(canonicalize_name(package))
        if entry is None:
            return []
        if not entry.versions:
            return None
        try:
            spec = SpecifierSet(specifier)
        except InvalidSpecifier:
            return None
        return sorted(v for v in entry.versions if spec.contains(v, prereleases=True))


def parse_record(data: Any) -> Advisory | None:
    """An OSV record as an Advisory, or None when it is withdrawn or names no PyPI
    package. Raises ValueError for a record without an id."""
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise ValueError("an OSV record needs an 'id'")
    if data.get("withdrawn"):
        return None
    packages: dict[str, Affected] = {}
    for aff in data.get("affected") or []:
        if not isinstance(aff, dict):
            continue
        pkg = aff.get("package") or {}
        if not isinstance(pkg, dict) or pkg.get("ecosystem") != ECOSYSTEM or not pkg.get("name"):
            continue
        entry = packages.setdefault(canonicalize_name(str(pkg["name"])), Affected())
        entry.versions.update(str(v) for v in aff.get("versions") or [])
        for rng in aff.get("ranges") or []:
            if not isinstance(rng, dict) or rng.get("type") not in ("ECOSYSTEM", "SEMVER"):
                continue
            events = []
            for ev in rng.get("events") or []:
                if isinstance(ev, dict):
                    for kind in ("introduced", "fixed", "last_affected", "limit"):
                        if kind in ev:
                            events.append((kind, str(ev[kind])))
            if events:
                entry.ranges.append(events)
    if not packages:
        return None
    severity, score, vector = _severity(data)
    db = data.get("database_specific") if isinstance(data.get("database_specific"), dict) else {}
    cwe = []
    for c in db.get("cwe_ids") or []:
        m = re.search(r"(\d+)", str(c))
        if m:
            cwe.append(int(m.group(1)))
    return Advisory(
        id=data["id"],
        aliases=[str(a) for a in data.get("aliases") or [] if a != data["id"]],
        summary=str(data.get("summary") or ""),
        details=str(data.get("details") or ""),
        severity=severity,
        score=score,
        vector=vector,
        cwe=cwe,
        references=[
            str(r["url"])
            for r in data.get("references") or []
            if isinstance(r, dict) and r.get("url")
        ],
        modified=str(data.get("modified") or ""),
        packages=packages,
    )


def _severity(data: dict) -> tuple[str, float | None, str]:
    """(severity, 0-10 score or None, CVSS vector or "")."""
    for entry in data.get("severity") or []:
        if not isinstance(entry, dict):
            continue
        vector = str(entry.get("score") or "")
        kind = str(entry.get("type") or "")
        score = _cvss_score(kind, vector)
        if score is not None:
            return severity_from_score(score), score, vector
    db = data.get("database_specific") if isinstance(data.get("database_specific"), dict) else {}
    level = _GHSA_LEVELS.get(str(db.get("severity") or "").upper())
    if level:
        return level, None, ""
    return "medium", None, ""


def _cvss_score(kind: str, vector: str) -> float | None:
    try:
        if kind == "CVSS_V3" or vector.startswith("CVSS:3"):
            from cvss import CVSS3

            return float(CVSS3(vector).base_score)
        if kind == "CVSS_V4" or vector.startswith("CVSS:4"):
            from cvss import CVSS4

            return float(CVSS4(vector).base_score)
        if kind == "CVSS_V2":
            from cvss import CVSS2

            return float(CVSS2(vector).base_score)
    except Exception:  # noqa: BLE001 - a malformed vector only costs the score
        return None
    return None


def canonical_id(ids: set[str]) -> str:
    """The id a group of equivalent advisories is known by: a CVE when there is one."""
    cves = sorted(i for i in ids if i.startswith("CVE-"))
    return cves[0] if cves else sorted(ids)[0]


def dependency_finding(
    advisories: list[Advisory],
    *,
    package: str,
    version: str,
    file: str,
    line: int | None,
    source: str,
    tool_version: str,
    lane: str = "deps",
) -> RawFinding:
    """One finding for a dependency and a group of advisories that describe the same
    vulnerability (their ids and aliases overlap)."""
    first = max(advisories, key=lambda a: (a.score or -1, a.id.startswith("GHSA"), a.id))
    ids = set().union(*(a.ids for a in advisories))
    primary = sorted(a.id for a in advisories)
    aliases = sorted(ids - set(primary))
    fixed = sorted(
        {v for a in advisories for v in a.fixed_versions(package)},
        key=lambda x: (_version(x) or Version("0"), x),
    )
    scores = [a.score for a in advisories if a.score is not None]
    score = max(scores) if scores else None
    severity = severity_from_score(score) if score is not None else first.severity
    summary = first.summary or first.details.split("\n")[0]
    summary = " ".join(summary.split())
    if len(summary) > 200:
        summary = summary[:199] + "…"
    label = canonical_id(ids)
    fix_text = f"Fixed in {', '.join(fixed)}." if fixed else "No fixed version is published."
    cwe = sorted({c for a in advisories for c in a.cwe}) or [
        CATEGORIES["vulnerable-dependency"].cwe
    ]
    return RawFinding(
        lane=lane,
        tool=TOOL,
        tool_version=tool_version,
        rule_id=label,
        category="vulnerable-dependency",
        title=f"{package} {version}: {label}" + (f" — {summary}" if summary else ""),
        description=(
            f"{package} {version} ({source} in {file}) is affected by {', '.join(primary)}"
            + (f" ({', '.join(aliases)})" if aliases else "")
            + f". {fix_text} "
            + " ".join(first.details.split())[:1500]
        ).strip(),
        severity=severity,
        score=score if score is not None else SEVERITY_SCORE[severity],
        confidence="high",
        cwe=cwe,
        vulnerability_ids=primary,
        aliases=aliases,
        file=file,
        line_start=line,
        line_end=line,
        component=package,
        component_version=version,
        fixed_versions=fixed,
        references=sorted({r for a in advisories for r in a.references})[:20],
        extra={"advisory": label, "source": source, "cvss": first.vector or None},
    )


def group_advisories(advisories: list[Advisory]) -> list[list[Advisory]]:
    """Advisories whose ids or aliases overlap, grouped (PYSEC and GHSA records of one
    CVE are one vulnerability)."""
    groups: list[tuple[set[str], list[Advisory]]] = []
    for adv in sorted(advisories, key=lambda a: a.id):
        touching = [g for g in groups if g[0] & adv.ids]
        ids, members = set(adv.ids), [adv]
        for g in touching:
            ids |= g[0]
            members += g[1]
            groups.remove(g)
        groups.append((ids, members))
    return [sorted(m, key=lambda a: a.id) for _, m in groups]
