"""What every guard reports: a GuardFinding, and the classes of defect they stand for."""

from __future__ import annotations

from dataclasses import dataclass

# the classes of defect, as bench/guards labels its corpus
CLASSES = (
    "syntax",
    "hallucinated-import",
    "hallucinated-attribute",
    "missing-dependency",
    "flaky",
    "spec-bending",
    "tautological",
)


@dataclass(frozen=True)
class GuardFinding:
    guard: str  # "preflight" | "flake" | "fidelity" | "tautology"
    rule: str  # e.g. "PF002", "FL003", "SF001", "TA001"
    kind: str  # one of CLASSES
    action: str  # "reject" | "flag"
    message: str  # names the rule and the exact problem
    line: int | None = None
    test: str = ""  # the test function it is about, "" for the whole file

    def as_dict(self) -> dict:
        return {
            "guard": self.guard,
            "rule": self.rule,
            "kind": self.kind,
            "action": self.action,
            "message": self.message,
            "line": self.line,
            "test": self.test,
        }


def rejects(findings: list[GuardFinding]) -> list[GuardFinding]:
    return [f for f in findings if f.action == "reject"]
