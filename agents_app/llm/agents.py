"""The model agents: their prompts (prompts/*.md), tools, and how their answers are read.

Every answer is validated; a malformed one is an `AgentError` with the exact problem,
which the caller sends back to the model (within its replan budget) or records.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings

from agents_app.llm.providers import Reply, ToolCall

PROMPTS = Path(settings.BASE_DIR) / "prompts"


class AgentError(ValueError):
    """The model's answer cannot be used; the message says why, for the model to fix."""


@cache
def prompt(name: str) -> str:
    return (PROMPTS / f"{name}.md").read_text()


SUBMIT_PLAN = {
    "name": "submit_plan",
    "description": "Map every acceptance criterion to changed targets and test intents.",
    "input_schema": {
        "type": "object",
        "properties": {
            "criteria": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "targets": {"type": "array", "items": {"type": "string"}},
                        "intents": {"type": "array", "items": {"type": "string"}},
                    },
                    "required": ["id", "targets", "intents"],
                },
            }
        },
        "required": ["criteria"],
    },
}

SUBMIT_TESTS = {
    "name": "submit_tests",
    "description": "Submit the complete pytest module for this subtask.",
    "input_schema": {
        "type": "object",
        "properties": {
            "source": {"type": "string", "description": "The whole test module (Python)."},
        },
        "required": ["source"],
    },
}

RATE_TESTS = {
    "name": "rate_tests",
    "description": "Rate each test's relevance to the criterion, 0 to 3.",
    "input_schema": {
        "type": "object",
        "properties": {
            "ratings": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "test": {"type": "string"},
                        "relevance": {"type": "integer", "minimum": 0, "maximum": 3},
                        "reason": {"type": "string"},
                    },
                    "required": ["test", "relevance"],
                },
            }
        },
        "required": ["ratings"],
    },
}


def tool_call(reply: Reply, name: str) -> ToolCall:
    """The reply's call of `name`, or AgentError saying what came instead."""
    calls = [c for c in reply.tool_calls if c.name == name]
    if not calls:
        others = ", ".join(sorted({c.name for c in reply.tool_calls}))
        raise AgentError(
            f"no `{name}` tool call in the answer"
            + (f" (it called {others}, which does not exist)" if others else "")
            + f"; call `{name}`"
        )
    call = calls[0]
    if call.error:
        raise AgentError(f"the `{name}` call was malformed: {call.error}")
    return call


def rejection_turns(reply: Reply, text: str) -> list[dict[str, Any]]:
    """The model's turn and our answer to it: `text` as the error result of every tool
    call the turn made (the protocols want one per call), or as a user turn when it made
    none."""
    if not reply.tool_calls:
        return [
            {"role": "assistant", "content": reply.text or "(no answer)"},
            {"role": "user", "content": text},
        ]
    return [
        {"role": "assistant", "content": reply.text, "tool_calls": reply.tool_calls},
        *(
            {"role": "tool", "tool_call_id": c.id, "content": text, "is_error": True}
            for c in reply.tool_calls
        ),
    ]


_FENCE = re.compile(r"```(?:python|py)?\n(.*?)```", re.S)


def submitted_source(reply: Reply) -> str:
    """The test module from a `submit_tests` call (or, leniently, from a lone fenced
    python block when the model answered in text)."""
    try:
        call = tool_call(reply, "submit_tests")
    except AgentError:
        blocks = _FENCE.findall(reply.text or "")
        if len(blocks) == 1 and not reply.tool_calls and "def test" in blocks[0]:
            return blocks[0]
        raise
    source = call.arguments.get("source")
    if not isinstance(source, str) or not source.strip():
        raise AgentError("the `submit_tests` call has no `source` string with the test module")
    return source


@dataclass
class PlannedCriterion:
    targets: list[str] = field(default_factory=list)
    intents: list[str] = field(default_factory=list)


def read_plan(
    reply: Reply, criteria: set[str], targets: set[str]
) -> tuple[dict[str, PlannedCriterion], list[str]]:
    """criterion id -> targets and intents, and notes on what was dropped and why."""
    call = tool_call(reply, "submit_plan")
    items = call.arguments.get("criteria")
    if not isinstance(items, list):
        raise AgentError("`submit_plan` needs `criteria`, a list")
    out: dict[str, PlannedCriterion] = {}
    notes: list[str] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise AgentError("every entry of `criteria` needs an `id` string")
        cid = item["id"]
        if cid not in criteria:
            notes.append(f"planner named an unknown criterion {cid!r}; ignored")
            continue
        entry = out.setdefault(cid, PlannedCriterion())
        for t in item.get("targets") or []:
            if t in targets:
                entry.targets.append(t)
            else:
                notes.append(f"planner linked {cid} to {t!r}, which is not a changed target")
        entry.intents += [str(i)[:300] for i in (item.get("intents") or []) if str(i).strip()][:5]
    return out, notes


def read_ratings(reply: Reply, names: set[str]) -> dict[str, tuple[int, str]]:
    call = tool_call(reply, "rate_tests")
    items = call.arguments.get("ratings")
    if not isinstance(items, list):
        raise AgentError("`rate_tests` needs `ratings`, a list")
    out: dict[str, tuple[int, str]] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        name, score = item.get("test"), item.get("relevance")
        if name in names and isinstance(score, int) and 0 <= score <= 3:
            out[name] = (score, str(item.get("reason") or "")[:300])
    return out


def median_rating(votes: list[tuple[int, str]]) -> tuple[int, str]:
    """The median vote (low median: ties go to the less relevant), with its reason."""
    score = int(statistics.median_low([v for v, _ in votes]))
    reason = next(r for v, r in votes if v == score)
    return score, reason
