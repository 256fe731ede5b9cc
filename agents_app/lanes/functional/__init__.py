"""The functional lane: tests of the changed code, from the offline engines or a model.

- offline.py: the offline engines (engines/) over each changed module;
- model.py: the model's generator, one conversation per subtask, under the guards.
The generating stage (agents_app/stages/generate.py) chooses between them.
"""

from __future__ import annotations

from agents_app.pipeline.context import StageContext
from tasks_app.core import lanes

LANE = lanes.FUNCTIONAL


def enabled(ctx: StageContext) -> bool:
    return ctx.option("rerun_lane", "") == LANE or bool(ctx.option(LANE, True))
