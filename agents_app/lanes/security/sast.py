"""The SAST lane: Bandit (its built-in checks) and Semgrep CE with TFactory's own rule
pack (semgrep_rules/), over the branch's changed source files, on the host (neither
tool executes the code it reads).

Both tools also scan the base's versions of the same files: a finding whose
fingerprint the base has too was already there (`introduced: false`); the others came
with the branch. Test files are left out (tests/, test_*.py, conftest.py).
Semgrep runs from its own tool environment (its pins clash with ours), with metrics and
the version check off and only our local rules: no registry config is ever fetched.
"""

from __future__ import annotations

import functools
import sys
from importlib import metadata
from pathlib import Path

import yaml
from django.conf import settings

from agents_app.env.languages import tools_for
from agents_app.env.tools import ToolEnvError, ensure_tool_env
from agents_app.lanes.security.scope import Scope
from agents_app.lanes.security.tools import LaneResult, run_tool
from agents_app.spec.changes import is_test_path
from findings_app import dedup
from findings_app.fingerprint import SourceCache
from findings_app.parsers import ParseError, ParseResult, bandit, semgrep
from findings_app.record import RawFinding
from tasks_app.core import lanes

LANE = lanes.SAST
RULES = Path(__file__).resolve().parent / "semgrep_rules"
TEMPLATE_SUFFIXES = (".html", ".htm", ".jinja", ".jinja2", ".j2", ".djhtml", ".tmpl")
# Bandit checks that speak of style or of the mere presence of a module, not a weakness:
# asserts (B101), try/except/pass (B110, B112), importing a module (B401-B415: the
# calls that matter have checks of their own), running a program without a shell (B603:
# the safe way)
BANDIT_SKIP = ("B101", "B110", "B112", *(f"B{n}" for n in range(401, 416)), "B603")


def targets(scope: Scope) -> list[str]:
    return [
        p
        for p in scope.head_paths()
        if not is_test_path(p) and (p.endswith((".py", ".pyi")) or p.endswith(TEMPLATE_SUFFIXES))
    ]


def run_bandit(root: Path, files: list[str], home: Path, timeout_s: float) -> ParseResult:
    py = [f"./{f}" for f in files if f.endswith(".py")]
    version = metadata.version("bandit")
    if not py:
        return ParseResult("bandit", version)
    run = run_tool(
        [sys.executable, "-m", "bandit", "-f", "json", "-q", "--skip", ",".join(BANDIT_SKIP), *py],
        cwd=root,
        home=home,
        timeout_s=timeout_s,
    )
    if run.timed_out or run.returncode not in (0, 1):
        raise ParseError(run.failure("bandit"))
    return bandit.parse(run.stdout, root=root, version=version)


def semgrep_rules() -> Path:
    """Our rule pack, or the local folder TFACTORY_SEMGREP_RULES names: always an absolute
    path, which Semgrep never takes for a registry config (p/…, r/…, a URL)."""
    rules = Path(settings.TFACTORY_SEMGREP_RULES or RULES).expanduser().resolve()
    if not rules.exists():
        raise ParseError(f"the Semgrep rules {rules} (TFACTORY_SEMGREP_RULES) do not exist")
    return rules


def semgrep_argv(python: Path, files: list[str]) -> list[str]:
    return [
        str(python.parent / "semgrep"), "scan", "--config", str(semgrep_rules()), "--json",
        "--quiet", "--metrics=off", "--disable-version-check", "--no-git-ignore", "--timeout",
        "30", "--max-target-bytes", "1000000", *[f"./{f}" for f in files],
    ]  # fmt: skip


SEMGREP_ENV = {"SEMGREP_SEND_METRICS": "off", "SEMGREP_ENABLE_VERSION_CHECK": "0"}


def run_semgrep(root: Path, files: list[str], home: Path, timeout_s: float) -> ParseResult:
    try:
        env = ensure_tool_env("semgrep")
    except ToolEnvError as exc:
        raise ParseError(f"semgrep is not available: {exc}") from exc
    if not files:
        return ParseResult("semgrep", "")
    run = run_tool(
        semgrep_argv(env.python, files), cwd=root, home=home, timeout_s=timeout_s, env=SEMGREP_ENV
    )
    # 0: done (a file it could not parse is listed in the JSON's errors); 1: findings with
    # --error; anything else: the scan did not happen (bad rules, a crash)
    if run.timed_out or run.returncode not in (0, 1):
        why = run.failure("semgrep")
        try:
            errors = semgrep.parse(run.stdout, root=root).errors
        except ParseError:
            errors = []
        raise ParseError(why + (f" ({'; '.join(errors)[:300]})" if errors else ""))
    return semgrep.parse(run.stdout, root=root)


@functools.cache
def semgrep_categories(rules: Path) -> frozenset[str]:
    """The categories our Semgrep rules follow the data for (taint rules)."""
    found = set()
    for path in sorted(rules.glob("*.yaml")) if rules.is_dir() else [rules]:
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        for rule in data.get("rules") or []:
            if isinstance(rule, dict) and rule.get("mode") == "taint":
                found.add(str((rule.get("metadata") or {}).get("category") or ""))
    return frozenset(found - {""})


def weigh_unconfirmed(findings: list[RawFinding], semgrep_ran: bool) -> None:
    """Bandit matches calls by name; where our Semgrep rules follow the data for the same
    weakness and do not confirm Bandit, the finding stays, at low confidence."""
    if not semgrep_ran:
        return
    taint = semgrep_categories(semgrep_rules())
    for f in findings:
        if f.tool_names == ["bandit"] and f.category in taint:
            f.confidence = "low"
            f.description += (
                " Bandit alone reports this: TFactory's Semgrep rules, which follow the data "
                "from its source, do not."
            )


def _scan(
    root: Path, files: list[str], home: Path, timeout_s: float
) -> tuple[list[RawFinding], list[ParseResult], list[str], SourceCache]:
    cache = SourceCache(root)
    found: list[RawFinding] = []
    results: list[ParseResult] = []
    failures: list[str] = []
    for name, runner in (("bandit", run_bandit), ("semgrep", run_semgrep)):
        if name not in tools_for("python").sast_tools:
            continue
        try:
            result = runner(root, files, home, timeout_s)
        except ParseError as exc:
            failures.append(str(exc))
            continue
        results.append(result)
        found += result.findings
    merged = dedup.merge_code(found, cache)
    weigh_unconfirmed(merged, any(r.tool == "semgrep" for r in results))
    return dedup.fingerprint(merged, cache), results, failures, cache


def run(scope: Scope, emit) -> LaneResult:
    files = targets(scope)
    if not files:
        return LaneResult(LANE, "done", "no changed source files to scan")
    timeout_s = settings.TFACTORY_SAST_TIMEOUT_S
    home = scope.work / "home"
    head_files = scope.copy_head(files, scope.work / "head")
    emit(f"sast: scanning {len(head_files)} changed file(s) with Bandit and Semgrep")
    findings, results, failures, _ = _scan(scope.work / "head", head_files, home, timeout_s)
    notes = [f"{r.tool} could not scan {error}" for r in results for error in r.errors]
    notes += failures + scope.skipped
    tools = [{"name": r.tool, "version": r.version} for r in results]
    if not results:
        return LaneResult(LANE, "failed", "; ".join(failures)[:500], tools=tools, notes=notes)

    base_files = scope.copy_base(head_files, scope.work / "base")
    base_prints: set[str] | None = set()
    if base_files:
        base, base_results, base_failures, _ = _scan(
            scope.work / "base", base_files, home, timeout_s
        )
        if base_failures or len(base_results) != len(results):
            base_prints = None  # cannot tell what the base had
            notes.append("the base could not be scanned alike; 'introduced' is unknown")
        else:
            base_prints = {f.fingerprint for f in base}
    for f in findings:
        f.introduced = None if base_prints is None else f.fingerprint not in base_prints
    status = "degraded" if failures else "done"
    new = sum(1 for f in findings if f.introduced)
    summary = f"{len(findings)} finding(s) in {len(head_files)} file(s)"
    if findings:
        summary += f", {new} introduced by the branch"
    if failures:
        summary += "; " + "; ".join(failures)
    return LaneResult(LANE, status, summary[:500], findings, tools, notes)
