"""The kill matrix read back for the evaluator and the reports.

- Matrix: which tests detect which mutant; figures for any set of tests (the existing
  suite for "before", plus the accepted tests for "after").
- stryker_report(): findings/mutation.json in Stryker's mutation-testing-report-schema
  (schemaVersion 2), statuses as seen by the existing suite plus the accepted tests.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import cached_property
from pathlib import Path
from typing import Any

from tasks_app.core.workspace import Runs, read_json

# mutants that say nothing about the tests: they are left out of the score
INVALID = ("CompileError", "RuntimeError", "Ignored")
THRESHOLDS = {"high": 80, "low": 60}


def load(runs: Path) -> dict[str, Any] | None:
    path = runs / Runs.MUTATION
    if not path.exists():
        return None
    try:
        data = read_json(path)
    except ValueError:
        return {"status": "failed", "error": "runs/mutation.json could not be read"}
    return data if isinstance(data, dict) else None


class Matrix:
    def __init__(self, data: dict[str, Any]):
        self.mutants: dict[str, dict[str, Any]] = {m["id"]: m for m in data.get("mutants", [])}
        self.results: dict[str, dict[str, Any]] = data.get("results", {})
        self.existing: list[str] = list(data.get("existing", []))
        self.candidates: dict[str, str] = dict(data.get("candidates", {}))
        self.sources: dict[str, str] = dict(data.get("sources", {}))

    def status(self, mid: str) -> str:
        return self.results.get(mid, {}).get("status", "RuntimeError")

    @cached_property
    def valid(self) -> list[str]:
        """The mutants that say something about the tests (the results never change)."""
        return [mid for mid in self.mutants if self.status(mid) not in INVALID]

    def detected_by(self, mid: str) -> set[str]:
        r = self.results.get(mid, {})
        out = set(r.get("killedBy", []))
        if r.get("status") == "Timeout" and r.get("timedOutIn"):
            out.add(r["timedOutIn"])
        return out

    @cached_property
    def _kill_sets(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for mid in self.valid:
            for test in self.detected_by(mid):
                out.setdefault(test, set()).add(mid)
        return out

    def kills(self, nodeid: str) -> set[str]:
        """The valid mutants this test detects (kills, or hangs on)."""
        return set(self._kill_sets.get(nodeid, ()))

    def status_for(self, mid: str, tests: Collection[str]) -> str:
        """The mutant's status when only `tests` are run."""
        status = self.status(mid)
        if status in INVALID:
            return status
        r = self.results.get(mid, {})
        if set(r.get("killedBy", [])) & set(tests):
            return "Killed"
        if status == "Timeout" and r.get("timedOutIn") in tests:
            return "Timeout"
        if set(r.get("coveredBy", [])) & set(tests):
            return "Survived"
        return "NoCoverage"

    def detected(self, tests: Collection[str]) -> set[str]:
        return {mid for mid in self.valid if self.status_for(mid, tests) in ("Killed", "Timeout")}

    def figures(self, tests: Collection[str]) -> dict[str, Any]:
        counts = {"killed": 0, "survived": 0, "no_coverage": 0, "timeout": 0}
        key = {
            "Killed": "killed",
            "Survived": "survived",
            "NoCoverage": "no_coverage",
            "Timeout": "timeout",
        }
        for mid in self.valid:
            counts[key[self.status_for(mid, tests)]] += 1
        total = sum(counts.values())
        detected = counts["killed"] + counts["timeout"]
        return {**counts, "score": round(100.0 * detected / total, 2) if total else None}

    def survivors(self, tests: Collection[str]) -> list[str]:
        return [
            mid
            for mid in self.valid
            if self.status_for(mid, tests) in ("Survived", "NoCoverage")
        ]  # fmt: skip

    def snippet(self, mid: str) -> str:
        """The changed line(s) before and after the mutation, as a small diff."""
        m = self.mutants[mid]
        source = self.sources.get(m["path"])
        if source is None:
            return f"- {m['original']}\n+ {m['replacement']}"
        raw = source.encode()
        mutated = raw[: m["start"]] + m["replacement"].encode() + raw[m["start"] + m["length"] :]
        before = source.splitlines()[m["line"] - 1 : m["end_line"]]
        extra = m["replacement"].count("\n") - m["original"].count("\n")
        after = mutated.decode("utf-8", "replace").splitlines()[
            m["line"] - 1 : m["end_line"] + extra
        ]
        return "\n".join([*(f"- {x}" for x in before), *(f"+ {x}" for x in after)])

    def describe(self, mid: str) -> dict[str, Any]:
        m = self.mutants[mid]
        return {
            "id": mid,
            "file": m["path"],
            "line": m["line"],
            "mutator": m["mutator"],
            "original": m["original"],
            "replacement": m["replacement"],
            "snippet": self.snippet(mid),
        }


def test_name(nodeid: str, candidates: dict[str, str]) -> str:
    """The id a report shows for a test: a candidate's test id, else pytest's node id."""
    return candidates.get(nodeid, nodeid)


def stryker_report(
    matrix: Matrix, tests: Collection[str], *, version: str, timing: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The mutation-testing-report-schema (v2) document for `tests` (existing + kept)."""
    tests = set(tests)
    files: dict[str, dict[str, Any]] = {}
    for mid, m in matrix.mutants.items():
        entry = files.setdefault(
            m["path"],
            {"language": "python", "source": matrix.sources.get(m["path"], ""), "mutants": []},
        )
        r = matrix.results.get(mid, {})
        status = matrix.status_for(mid, tests)
        mutant: dict[str, Any] = {
            "id": mid,
            "mutatorName": m["mutator"],
            "replacement": m["replacement"],
            "description": f"`{m['original']}` -> `{m['replacement']}`",
            "location": {
                "start": {"line": m["line"], "column": m["column"]},
                "end": {"line": m["end_line"], "column": m["end_column"]},
            },
            "status": status,
            # module-scope mutants run at import time: each needs a fresh import
            "static": m["scope"] != "function",
            "coveredBy": [
                test_name(t, matrix.candidates) for t in r.get("coveredBy", []) if t in tests
            ],
            "killedBy": [
                test_name(t, matrix.candidates) for t in r.get("killedBy", []) if t in tests
            ],
        }
        reason = r.get("statusReason")
        if status == "Survived":
            reason = "every covering test passed with this mutant in place"
        elif status == "NoCoverage":
            reason = "no kept test runs this code"
        if reason:
            mutant["statusReason"] = str(reason)
        if status in ("Killed", "Survived", "Timeout"):
            mutant["testsCompleted"] = int(r.get("testsCompleted") or 0)
            if isinstance(r.get("duration"), (int, float)):
                mutant["duration"] = float(r["duration"])
        entry["mutants"].append(mutant)
    test_files: dict[str, dict[str, Any]] = {}
    for nodeid in sorted(tests):
        name = test_name(nodeid, matrix.candidates)
        path, _, rest = name.partition("::")
        test_files.setdefault(path, {"tests": []})["tests"].append(
            {"id": name, "name": rest or name}
        )
    report: dict[str, Any] = {
        "schemaVersion": "2",
        "thresholds": dict(THRESHOLDS),
        "files": files,
        "testFiles": test_files,
        "framework": {"name": "TFactory", "version": version},
        "config": {"scope": "the changed lines of the feature branch"},
    }
    if timing:
        dry = float(timing.get("dry_s") or 0)
        report["performance"] = {
            "setup": 0,
            "initialRun": round(dry * 1000),
            "mutation": round((float(timing.get("total_s") or 0) - dry) * 1000),
        }
    return report
