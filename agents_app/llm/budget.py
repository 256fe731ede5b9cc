"""Per-task token and cost caps, metered on every model call.

A call is refused before it starts once either cap is reached (BudgetExhausted): the
caller ends generation with what it has, marked partial; the task does not fail. Usage is
handed to `on_usage` after every call, so the task's record is never behind.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agents_app.llm.providers import Provider, Reply, Usage


class BudgetExhausted(RuntimeError):
    """The task's token or cost cap is reached; the message says which."""


@dataclass
class Budget:
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    price_in: float = 0.0  # USD per million input tokens
    price_out: float = 0.0  # USD per million output tokens
    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0

    @property
    def cost_usd(self) -> float:
        return (self.input_tokens * self.price_in + self.output_tokens * self.price_out) / 1e6

    def check(self) -> None:
        used = self.input_tokens + self.output_tokens
        if self.max_tokens is not None and used >= self.max_tokens:
            raise BudgetExhausted(f"the task's token budget is spent ({used} of {self.max_tokens})")
        if self.max_cost_usd is not None and self.cost_usd >= self.max_cost_usd:
            spent = f"${self.cost_usd:.4f} of ${self.max_cost_usd:.2f}"
            raise BudgetExhausted(f"the task's cost budget is spent ({spent})")

    def record(self, usage: Usage) -> None:
        self.calls += 1
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens

    def as_usage(self) -> dict[str, Any]:
        """The shape report.json's `usage` has."""
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "budget_usd": self.max_cost_usd,
            "max_tokens": self.max_tokens,
            "calls": self.calls,
        }


class Metered:
    """A provider whose every call is checked against and recorded in a budget; safe to
    share between threads (the calls themselves run concurrently)."""

    def __init__(
        self,
        provider: Provider,
        budget: Budget,
        on_usage: Callable[[dict[str, Any]], None] | None = None,
    ):
        self.provider = provider
        self.budget = budget
        self.on_usage = on_usage
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.provider.name

    @property
    def model(self) -> str:
        return self.provider.model

    def complete(self, **kwargs: Any) -> Reply:
        with self._lock:
            self.budget.check()
        reply = self.provider.complete(**kwargs)
        with self._lock:
            self.budget.record(reply.usage)
            if self.on_usage is not None:
                self.on_usage(self.budget.as_usage())
        return reply
