"""A finding as the parsers and lanes hand it on, before it is a row: plain data that
goes to and from JSON (the lanes write their results to findings/raw/<lane>.json, and
the triager turns them into Finding rows)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from findings_app.models import CONFIDENCE_RANK, SEVERITY_RANK


@dataclass
class RawFinding:
    lane: str
    tool: str
    rule_id: str
    category: str
    title: str
    severity: str  # info | low | medium | high | critical
    confidence: str  # low | medium | high
    tool_version: str = ""
    description: str = ""
    score: float | None = None
    cwe: list[int] = field(default_factory=list)
    vulnerability_ids: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    file: str = ""
    line_start: int | None = None
    line_end: int | None = None
    snippet: str = ""
    component: str = ""
    component_version: str = ""
    fixed_versions: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    introduced: bool | None = None
    fingerprint: str = ""
    # every tool that reported it: [{tool, version, rule_id}]
    tools: list[dict[str, str]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITY_RANK:
            raise ValueError(f"unknown severity {self.severity!r}")
        if self.confidence not in CONFIDENCE_RANK:
            raise ValueError(f"unknown confidence {self.confidence!r}")
        if not self.tools:
            self.tools = [
                {"tool": self.tool, "version": self.tool_version, "rule_id": self.rule_id}
            ]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RawFinding:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @property
    def tool_names(self) -> list[str]:
        return sorted({t["tool"] for t in self.tools})


def rank_key(f: RawFinding) -> tuple:
    """Most severe first, then the surest, then what the branch brought in, then place."""
    return (
        -SEVERITY_RANK[f.severity],
        -CONFIDENCE_RANK[f.confidence],
        -(f.score or 0.0),
        0 if f.introduced else 1,
        f.file,
        f.line_start or 0,
        f.component,
        f.rule_id,
    )


def severity_from_score(score: float) -> str:
    """CVSS v3 qualitative rating of a 0-10 score."""
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    if score > 0.0:
        return "low"
    return "info"


# a score for ranking and SARIF's security-severity where a tool gives none
SEVERITY_SCORE = {"info": 0.0, "low": 3.0, "medium": 5.5, "high": 8.0, "critical": 9.5}
