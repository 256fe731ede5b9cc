"""A task's model: the configured provider behind the task's budget, usage kept on the row.

The mode is fixed when the task is created (`mode_for_new_task`); every stage that talks
to the model opens a TaskModel, which picks the budget up where the last stage left it
and writes usage to the task after every call, so the record is never behind.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings

from agents_app.llm.budget import Budget, BudgetExhausted, Metered
from agents_app.llm.providers import LLMError, Reply, configured, get_provider
from tasks_app.models import Task

OFFLINE = "offline"

__all__ = ["OFFLINE", "BudgetExhausted", "LLMError", "TaskModel", "mode_for_new_task"]


def mode_for_new_task(offline: bool = False) -> str:
    """ "offline", or "llm:<provider>/<model>" when a model is configured. Bad settings
    raise LLMError with a sentence to act on."""
    if offline:
        return OFFLINE
    config = configured()
    return config.mode if config else OFFLINE


class TaskModel:
    """The task's metered provider; `complete(agent, ...)` counts usage per agent too."""

    def __init__(self, task: Task):
        config = configured()
        if config is None or config.mode != task.mode:
            now = config.mode if config else OFFLINE
            raise LLMError(
                f"task {task.pk} runs in {task.mode} mode but this worker is configured for "
                f"{now} (TFACTORY_LLM_PROVIDER / TFACTORY_LLM_MODEL); start a new handover"
            )
        self.task = task
        self.mode = task.mode
        usage = dict(task.usage or {})
        self.budget = Budget(
            max_tokens=settings.TFACTORY_LLM_MAX_TOKENS or None,
            max_cost_usd=settings.TFACTORY_LLM_BUDGET_USD or None,
            price_in=settings.TFACTORY_LLM_PRICE_IN,
            price_out=settings.TFACTORY_LLM_PRICE_OUT,
            input_tokens=int(usage.get("input_tokens", 0)),
            output_tokens=int(usage.get("output_tokens", 0)),
            calls=int(usage.get("calls", 0)),
        )
        self.by_agent: dict[str, dict[str, int]] = {
            k: dict(v) for k, v in (usage.get("by_agent") or {}).items()
        }
        self._lock = threading.Lock()
        self._metered = Metered(get_provider(config), self.budget)

    @staticmethod
    def for_task(task: Task) -> TaskModel | None:
        """None for an offline task."""
        return None if task.mode == OFFLINE else TaskModel(task)

    def complete(self, agent: str, **kwargs: Any) -> Reply:
        """One call, refused with BudgetExhausted once a cap is reached."""
        reply = self._metered.complete(**kwargs)
        with self._lock:
            mine = self.by_agent.setdefault(
                agent, {"calls": 0, "input_tokens": 0, "output_tokens": 0}
            )
            mine["calls"] += 1
            mine["input_tokens"] += reply.usage.input_tokens
            mine["output_tokens"] += reply.usage.output_tokens
            Task.objects.filter(pk=self.task.pk).update(usage=self.usage())
        return reply

    def usage(self) -> dict[str, Any]:
        return {**self.budget.as_usage(), "by_agent": self.by_agent}

    def exhausted(self) -> str | None:
        """Why no further call would be made, or None."""
        try:
            self.budget.check()
        except BudgetExhausted as exc:
            return str(exc)
        return None
