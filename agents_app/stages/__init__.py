"""The pipeline's stages, in the order a task goes through them.

Each stage is a module with `run(ctx) -> str | None`: it does its work on the task in
`ctx` and returns None to go on to the next stage, or the name of an earlier stage to go
back to (the model's feedback rounds). The names are the task's in-flight statuses.
"""

from __future__ import annotations

from collections.abc import Callable

from agents_app.pipeline.context import StageContext
from agents_app.stages import deliver, evaluate, execute, generate, plan, report

Stage = Callable[[StageContext], str | None]

TABLE: dict[str, Stage] = {
    "planning": plan.run,
    "generating": generate.run,
    "running": execute.run,
    "evaluating": evaluate.run,
    "triaging": report.run,
    "delivering": deliver.run,
}
STAGES = tuple(TABLE)


def stage_function(stage: str) -> Stage:
    return TABLE[stage]


def next_stage(stage: str) -> str | None:
    i = STAGES.index(stage)
    return STAGES[i + 1] if i + 1 < len(STAGES) else None
