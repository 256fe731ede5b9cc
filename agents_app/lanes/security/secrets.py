"""The secrets lane: detect-secrets and TFactory's own token rules over the branch's
changed files and over the lines each of the branch's new commits added.

A secret still in the branch's files is reported there; one that a later commit removed
is reported at the commit that added it (it stays in the history until that is
rewritten, so it must be rotated all the same). A secret is introduced by the branch
when one of its commits added it. The value is never stored, logged or shown: a finding
holds a keyed hash of it and a redacted snippet.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

from django.conf import settings

from agents_app.lanes.security.scope import Scope
from agents_app.lanes.security.tools import LaneResult, run_tool
from findings_app import dedup
from findings_app.categories import CATEGORIES
from findings_app.fingerprint import SourceCache
from findings_app.parsers import ParseError, detect_secrets
from findings_app.record import SEVERITY_SCORE, RawFinding
from findings_app.secrets import TOOL, TOOL_VERSION, find_secrets, scrub_line, secret_id, sha1
from tasks_app.core import git, lanes, safe_fs

LANE = lanes.SECRETS
HISTORY = ".tfactory-history"


def own_rules(root: Path, files: list[str], where: dict[str, dict]) -> list[RawFinding]:
    """TFactory's token rules over the scanned files."""
    cache = SourceCache(root)
    out = []
    for path in files:
        report = where.get(path, {"file": path})
        for number, line in enumerate(cache.lines(path), start=1):
            matches = find_secrets(line)
            spans = [(m.start, m.end) for m in matches]
            for m in matches:
                commit = report.get("commit")
                out.append(
                    RawFinding(
                        lane=LANE,
                        tool=TOOL,
                        tool_version=TOOL_VERSION,
                        rule_id=m.rule.id,
                        category="hardcoded-secret",
                        title=f"{m.rule.title} in the code",
                        description=(
                            f"A {m.rule.title} at line {number}"
                            + (f" in commit {commit[:12]}" if commit else "")
                            + ". "
                            + CATEGORIES["hardcoded-secret"].advice
                        ),
                        severity=m.rule.severity,
                        score=SEVERITY_SCORE[m.rule.severity],
                        confidence="high",
                        cwe=[798],
                        file=report["file"],
                        line_start=number,
                        line_end=number,
                        snippet=scrub_line(line, spans)[:240],
                        extra={"secret": secret_id(sha1(m.value(line))), "types": [m.rule.title]}
                        | ({"commit": commit} if commit else {}),
                    )
                )
    return out


def _history(scope: Scope, root: Path, limit: int) -> tuple[list[str], dict[str, dict], int]:
    """Write the lines each new commit added (at their line numbers, the rest blank) under
    root/HISTORY/<commit>/<path>; returns (scanned paths, where to report each, commits)."""
    files: list[str] = []
    where: dict[str, dict] = {}
    commits = git.commits_between(scope.repo, scope.base_sha, scope.head_sha, limit)
    for sha in commits:
        for path, lines in git.added_lines(scope.repo, sha).items():
            if not lines or len(lines) > 50_000:
                continue
            top = max(lines)
            text = "\n".join(lines.get(i, "") for i in range(1, top + 1)) + "\n"
            rel = f"{HISTORY}/{sha[:12]}/{path}"
            try:
                safe_fs.write_text(root, rel, text)
            except (OSError, ValueError):
                continue
            files.append(rel)
            where[rel] = {"file": path, "commit": sha}
    return files, where, len(commits)


def _merge_same_secret(findings: list[RawFinding]) -> list[RawFinding]:
    """Reports of one secret at one place (several tools, several detectors) are one."""
    groups: dict[tuple, list[RawFinding]] = {}
    for f in findings:
        key = (f.file, f.extra.get("commit", ""), f.line_start)
        groups.setdefault(key, []).append(f)
    out = []
    for group in groups.values():
        # a line may hold several secrets: findings overlap when their ids match, or when
        # a tool without its own id (detect-secrets' unlocated hits) sits on the line
        by_secret: dict[str, list[RawFinding]] = {}
        for f in sorted(group, key=lambda f: dedup.TOOL_PREFERENCE.get(f.tool, 9)):
            by_secret.setdefault(f.extra["secret"], []).append(f)
        if len(by_secret) > 1 and len({f.tool for f in group}) > 1:
            own = {f.extra["secret"] for f in group if f.tool == TOOL}
            other = [s for s in by_secret if s not in own]
            if len(own) == 1 and other:  # one token, reported under another value
                target = next(iter(own))
                for s in other:
                    by_secret[target] += by_secret.pop(s)
        out += [dedup.merge_group(members) for members in by_secret.values()]
    return out


def run(scope: Scope, emit) -> LaneResult:
    root = scope.work / "scan"
    root.mkdir()
    head = scope.copy_head(scope.head_paths(), root)
    history, where, n_commits = _history(scope, root, settings.TFACTORY_SECRETS_MAX_COMMITS)
    emit(
        f"secrets: scanning {len(head)} changed file(s) and the lines of {n_commits} new commit(s)"
    )
    files = head + history
    findings = own_rules(root, files, where)
    version = metadata.version("detect-secrets")
    tools = [{"name": TOOL, "version": TOOL_VERSION}]
    notes = list(scope.skipped)
    status = "done"
    if files:
        run = run_tool(
            [
                sys.executable,
                "-m",
                "detect_secrets",
                "scan",
                "--all-files",
                "--",
                *[f"./{f}" for f in files],
            ],
            cwd=root,
            home=scope.work / "home",
            timeout_s=settings.TFACTORY_SAST_TIMEOUT_S,
        )
        try:
            if run.timed_out or run.returncode != 0:
                raise ParseError(run.failure("detect-secrets"))
            result = detect_secrets.parse(run.stdout, root=root, version=version, where=where)
            findings += result.findings
            tools.append({"name": "detect-secrets", "version": result.version or version})
        except ParseError as exc:
            status = "degraded"
            notes.append(str(exc))
    findings = _merge_same_secret(findings)

    # where each secret is: still in a file of the branch, or only in its history
    added = {f.extra["secret"] for f in findings if f.extra.get("commit")}
    current = {(f.file, f.extra["secret"]) for f in findings if not f.extra.get("commit")}
    kept: list[RawFinding] = []
    seen_history: set[tuple[str, str]] = set()
    for f in sorted(
        findings, key=lambda f: (f.extra.get("commit") is not None, f.file, f.line_start or 0)
    ):
        key = (f.file, f.extra["secret"])
        if f.extra.get("commit"):
            if key in current or key in seen_history:
                continue  # reported where it is now, or at the first commit that added it
            seen_history.add(key)
            f.introduced = True
            f.description += (
                " A later commit removed it from the file, but it is still in the branch's history."
            )
        else:
            f.introduced = f.extra["secret"] in added
        kept.append(f)
    kept = dedup.unique(dedup.fingerprint(kept, None))
    new = sum(1 for f in kept if f.introduced)
    summary = f"{len(kept)} secret(s) in {len(head)} file(s) and {n_commits} commit(s)"
    if kept:
        summary += f", {new} introduced by the branch"
    if status == "degraded":
        summary += "; detect-secrets failed, only TFactory's own rules ran"
    return LaneResult(LANE, status, summary, kept, tools, notes, {"commits": n_commits})
