"""The evaluator's mutation gate: a generated test must have teeth.

A green candidate is kept only if it kills at least one changed-line mutant that the
existing suite lets survive, or, where the existing suite already kills them all, at least
one changed-line mutant; otherwise it is rejected as trivial. The mutants it kills join
its coverage in the minimisation, so the kept set keeps the kill set too.

When the lane did not run because it was switched off (or there was no changed Python
code), the gate is open and the report says so; when it failed, a test whose teeth are
unknown is flagged, never accepted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents_app.lanes.mutation import report
from agents_app.pipeline.context import StageContext
from tasks_app.core import lanes
from tasks_app.core.workspace import Runs, write_json
from tfactory import __version__

LANE = lanes.MUTATION


class MutationGate:
    def __init__(
        self,
        data: dict[str, Any] | None,
        nodeid_for: dict[str, str],
        *,
        before_unknown: str | None = None,
    ):
        self.data = data or {}
        self.nodeid_for = nodeid_for
        # why the existing suite's score cannot be known (it could not run), or None
        self.before_unknown = before_unknown
        self.matrix = report.Matrix(self.data) if data and data.get("status") == "done" else None
        if data is None:
            self.state = "off"
            self.note = "the mutation lane did not run; kept tests were not checked for teeth"
        elif data.get("status") != "done":
            self.state = "failed"
            self.note = f"mutation testing failed: {data.get('error') or 'no results'}"
        elif not self.matrix.valid:
            self.state = "empty"
            self.note = "no testable mutant on the changed lines; the gate does not apply"
        else:
            self.state = "on"
            self.note = ""
        self.existing = set(self.matrix.existing) if self.matrix else set()
        self.existing_detected = self.matrix.detected(self.existing) if self.matrix else set()
        self.survivors = (
            set(self.matrix.valid) - self.existing_detected if self.matrix else set()
        )  # fmt: skip
        self.dry = (self.data.get("dry_run") or {}).get("tests", {})

    @classmethod
    def load(
        cls, runs: Path, nodeid_for: dict[str, str], *, before_unknown: str | None = None
    ) -> MutationGate:
        return cls(report.load(runs), nodeid_for, before_unknown=before_unknown)

    def kills(self, test_id: str) -> set[str]:
        if self.matrix is None:
            return set()
        return self.matrix.kills(self.nodeid_for[test_id])

    def check(self, test_id: str) -> tuple[str, str] | None:
        """None when the test may go on to minimisation, else (verdict, reason)."""
        if self.state in ("off", "empty"):
            return None
        if self.state == "failed":
            return (
                "flag",
                f"{self.note}; whether this test checks anything is unknown — review it",
            )
        nodeid = self.nodeid_for[test_id]
        dry = self.dry.get(nodeid)
        if dry and dry.get("outcome") != "passed":
            return (
                "flag",
                f"failed ({dry.get('outcome')}) in the mutation lane's unmutated run, though it "
                "passed the candidate runs: it may depend on what runs before it — review it",
            )
        kills = self.kills(test_id)
        if self.survivors:
            if kills & self.survivors:
                return None
            return (
                "reject",
                f"trivial: kills none of the {len(self.survivors)} changed-line mutant(s) the "
                f"existing suite lets survive (it kills {len(kills)} the suite already kills)"
                if kills
                else f"trivial: kills none of the {len(self.survivors)} changed-line mutant(s) "
                "the existing suite lets survive",
            )
        if kills:
            return None
        return ("reject", "trivial: kills no changed-line mutant")

    def elements(self, test_id: str) -> set[tuple]:
        return {("M", mid) for mid in self.kills(test_id)}

    def baseline_elements(self) -> set[tuple]:
        return {("M", mid) for mid in self.existing_detected}

    def killed_count(self, test_id: str) -> int | None:
        if self.matrix is None or self.nodeid_for.get(test_id) not in self.matrix.candidates:
            return None
        return len(self.kills(test_id))

    def kill_reason(self, test_id: str, gain: set[tuple]) -> str:
        if self.state == "off":
            return "not checked for teeth: the mutation lane did not run"
        if self.state == "empty":
            return "no testable mutant on the changed lines (the mutation gate does not apply)"
        kills = self.kills(test_id)
        alive = kills & self.survivors
        shown = ", ".join(self._short(mid) for mid in sorted(alive)[:3])
        if alive:
            more = f" and {len(alive) - 3} more" if len(alive) > 3 else ""
            return (
                f"kills {len(alive)} changed-line mutant(s) the existing suite lets survive: "
                f"{shown}{more}"
            )
        return f"kills {len(kills)} changed-line mutant(s)"

    def _short(self, mid: str) -> str:
        m = self.matrix.mutants[mid]
        return f"{m['path']}:{m['line']} `{m['original']}` -> `{m['replacement']}`"

    def summary(self, kept: list[str]) -> dict[str, Any]:
        """What report.json's `mutation` carries."""
        if self.matrix is None:
            return {"state": self.state, "note": self.note, "error": self.data.get("error")}
        after_tests = self.existing | set(kept)
        statuses: dict[str, int] = {}
        for mid in self.matrix.mutants:
            st = self.matrix.status_for(mid, after_tests)
            statuses[st] = statuses.get(st, 0) + 1
        survivors = self.matrix.survivors(after_tests)
        return {
            "state": self.state,
            "note": self.note or None,
            "mutants": len(self.matrix.mutants),
            "tested": len(self.matrix.valid),
            "before": self.matrix.figures(self.existing)
            if not self.before_unknown
            else {"score": None, "unknown": self.before_unknown},
            "after": self.matrix.figures(after_tests),
            "statuses": statuses,
            "survivors": [self.matrix.describe(mid) for mid in survivors[:100]],
            "survivors_total": len(survivors),
            "duration_s": self.data.get("duration_s"),
            "report": "findings/mutation.json",
        }

    def write_reports(self, ctx: StageContext, kept: list[str]) -> dict[str, Any]:
        """Write the summary and the Stryker report; returns the summary."""
        summary = self.summary(kept)
        write_json(ctx.ws.runs / Runs.MUTATION_SUMMARY, summary)
        stryker = ctx.ws.findings / "mutation.json"
        if self.matrix is None:
            stryker.unlink(missing_ok=True)
            return summary
        after_tests = self.existing | set(kept)
        write_json(
            stryker,
            report.stryker_report(
                self.matrix, after_tests, version=__version__, timing=self.data.get("timing")
            ),
        )
        before, after = summary["before"]["score"], summary["after"]["score"]
        text = (
            f"{summary['mutants']} mutant(s) of the changed lines, {summary['tested']} tested; "
            f"score {_fmt(before)} -> {_fmt(after)}, {summary['survivors_total']} surviving"
        )
        ctx.emit(f"mutation: {text}")
        ctx.set_lane(LANE, "done", text, score_before=before, score_after=after)
        return summary


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"
