"""The dependency lane: the project's dependency set matched against OSV advisories.

Which version of each dependency is checked, in order: every version a lock file or an
exact pin names; else the version installed in the task's project environment; else,
for a range, whether any release it admits is listed as affected (no advisory for the
package, or none of its affected releases admitted, is a sound "clean"). A dependency
that none of these settles is *unchecked*: the lane is then degraded and says which and
why — it never reports "no known vulnerabilities" for a dependency it could not check.

Advisories come from the OSV API when it answers, else from the offline OSV database
(TFACTORY_OSV_DB), whose snapshot date every result carries. Each finding names the
fixed versions. A vulnerability is introduced by the branch when the base's dependency
set did not already have it.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from django.conf import settings
from packaging.utils import canonicalize_name

from agents_app.lanes.security.manifests import (
    Dependency,
    Manifest,
    is_dependency_file,
    read_manifest,
)
from agents_app.lanes.security.osv_source import AdvisorySource, SourceError, open_source
from agents_app.lanes.security.scope import Scope
from agents_app.lanes.security.tools import LaneResult
from findings_app import dedup
from findings_app.parsers.osv import (
    Advisory,
    canonical_id,
    dependency_finding,
    group_advisories,
)
from findings_app.record import RawFinding
from tasks_app.core import git, lanes

LANE = lanes.DEPS


def manifest_at(repo: Path, sha: str) -> Manifest:
    files = [p for p, mode in git.tree_files(repo, sha).items() if mode.startswith("100")]
    deps = [p for p in files if is_dependency_file(p)]

    def read(path: str) -> str | None:
        data = git.blob(repo, sha, path)
        return None if data is None else data.decode("utf-8", "replace")

    return read_manifest(deps, read)


def installed_versions(installed: list[str] | None) -> dict[str, str]:
    out = {}
    for item in installed or []:
        name, _, version = item.partition("==")
        if name and version:
            out[canonicalize_name(name)] = version
    return out


class Check:
    """What to ask about one dependency: versions to match, or a range to judge."""

    def __init__(self, key: str, entries: list[Dependency]):
        self.key = key
        self.entries = entries
        self.name = entries[0].name
        # version -> the entry that names it (a lock or pin, the first in file order)
        self.versions: dict[str, Dependency] = {}
        for e in entries:
            if e.version and not e.url:
                self.versions.setdefault(e.version, e)
        self.installed: str | None = None
        ranges = [e.specifier for e in entries if not e.url and not e.version]
        self.specifier = ",".join(s for s in ranges if s)
        self.url_only = all(e.url for e in entries)


def plan(manifest: Manifest, installed: dict[str, str]) -> list[Check]:
    by_key: dict[str, list[Dependency]] = defaultdict(list)
    for dep in manifest.dependencies:
        by_key[dep.key].append(dep)
    checks = []
    for key, entries in sorted(by_key.items()):
        check = Check(key, entries)
        if not check.versions and key in installed:
            check.installed = installed[key]
            check.versions[installed[key]] = entries[0]
        checks.append(check)
    return checks


def evaluate(
    checks: list[Check], source: AdvisorySource, source_label: str
) -> tuple[list[RawFinding], list[dict[str, Any]], list[dict[str, Any]]]:
    """(findings, checked, unchecked) for these dependencies."""
    queries = [(c.key, v) for c in checks for v in c.versions]
    queries += [(c.key, None) for c in checks if not c.versions and not c.url_only]
    answers = source.advisories(queries) if queries else {}
    findings: list[RawFinding] = []
    checked: list[dict[str, Any]] = []
    unchecked: list[dict[str, Any]] = []
    for c in checks:
        first = c.entries[0]
        if c.url_only:
            why = "a direct reference (URL, path or VCS), not a release: no version to match"
            unchecked.append(_unchecked(first, why))
            continue
        if not c.versions:
            advisories: list[Advisory] = answers.get((c.key, None), [])
            admitted: list[tuple[str, list[str] | None]] = [
                (a.id, a.admitted(c.key, c.specifier or ">=0")) for a in advisories
            ]
            risky = [(i, vs) for i, vs in admitted if vs is None or vs]
            if not risky:
                checked.append(
                    {
                        "name": c.name,
                        "specifier": c.specifier or "any",
                        "file": first.file,
                        "how": "no affected release admitted",
                    }
                )
                continue
            example = next((vs for _, vs in risky if vs), None)
            unchecked.append(
                _unchecked(
                    first,
                    f"'{c.specifier or 'any version'}' admits releases affected by "
                    f"{', '.join(sorted(i for i, _ in risky)[:5])}"
                    + (f" (e.g. {', '.join(example[-3:])})" if example else "")
                    + "; pin or lock it to check the version in use",
                )
            )
            continue
        for version, entry in c.versions.items():
            how = "installed" if version == c.installed else entry.source
            hits = [a for a in answers.get((c.key, version), []) if a.affects(c.key, version)]
            checked.append({"name": c.name, "version": version, "file": entry.file, "how": how})
            for group in group_advisories(hits):
                findings.append(
                    dependency_finding(
                        group,
                        package=c.name,
                        version=version,
                        file=entry.file,
                        line=entry.line,
                        source=how,
                        tool_version=source_label,
                    )
                )
    return findings, checked, unchecked


def _unchecked(dep: Dependency, why: str) -> dict[str, Any]:
    return {"name": dep.name, "specifier": dep.specifier or "any", "file": dep.file,
            "line": dep.line, "why": why}  # fmt: skip


def run(scope: Scope, emit, installed: list[str] | None = None) -> LaneResult:
    head = manifest_at(scope.repo, scope.head_sha)
    notes = head.problems
    if not head.dependencies:
        files = ", ".join(head.files) or "none found"
        return LaneResult(LANE, "done", f"no dependencies declared (files read: {files})",
                          notes=notes, extra={"files": head.files})  # fmt: skip
    checks = plan(head, installed_versions(installed))
    emit(f"deps: {len(checks)} dependencies from {', '.join(head.files)}")
    try:
        source, source_notes = open_source(
            settings.TFACTORY_OSV_API_URL,
            settings.TFACTORY_OSV_DB,
            Path(settings.TFACTORY_CACHE_DIR),
            settings.TFACTORY_OSV_TIMEOUT_S,
        )
    except SourceError as exc:
        unchecked = [
            _unchecked(c.entries[0], f"no advisories could be read: {exc}") for c in checks
        ]
        return LaneResult(
            LANE,
            "degraded",
            f"none of {len(checks)} dependencies could be checked: {exc}"[:500],
            notes=notes,
            extra={"files": head.files, "checked": [], "unchecked": unchecked},
        )
    described = source.describe()
    label = (
        f"offline database {described.get('snapshot') or 'of unknown date'}"
        if described["source"] == "offline"
        else "api"
    )
    findings, checked, unchecked = evaluate(checks, source, label)

    # what the base already had: only exact versions count there
    base_bad: set[tuple[str, str, str]] | None = set()
    try:
        base = manifest_at(scope.repo, scope.base_sha)
        base_findings, _, _ = evaluate(plan(base, {}), source, label)
        base_bad = {
            (
                canonicalize_name(f.component),
                f.component_version,
                canonical_id({*f.vulnerability_ids, *f.aliases}),
            )
            for f in base_findings
        }
    except (SourceError, git.GitError) as exc:
        base_bad = None
        notes.append(
            f"the base's dependencies could not be checked ({exc}); 'introduced' is unknown"
        )
    for f in findings:
        key = (
            canonicalize_name(f.component),
            f.component_version,
            canonical_id({*f.vulnerability_ids, *f.aliases}),
        )
        f.introduced = None if base_bad is None else key not in base_bad
    findings = dedup.unique(dedup.fingerprint(findings, None))

    where = (
        f"the offline OSV database {described['database']} (advisories up to "
        f"{described.get('snapshot') or 'an unknown date'})"
        if described["source"] == "offline"
        else f"the OSV API at {described['url']}"
    )
    summary = (
        f"{len(checked)} dependency version(s) or range(s) checked against {where}: "
        f"{len(findings)} known vulnerabilities"
    )
    if unchecked:
        names = ", ".join(u["name"] for u in unchecked[:5])
        summary += f"; {len(unchecked)} could not be checked ({names})"
    return LaneResult(
        LANE,
        "degraded" if unchecked else "done",
        summary[:600],
        findings,
        [{"name": "osv", "version": label}],
        notes + source_notes,
        {"files": head.files, "source": described, "checked": checked, "unchecked": unchecked},
    )
