"""The lanes' names, in one place, and which of them a handover runs.

Every face, the services and the stages read the names from here: a new lane is added
here first.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

FUNCTIONAL = "functional"
MUTATION = "mutation"
SAST = "sast"
DEPS = "deps"
SECRETS = "secrets"

LANES = (FUNCTIONAL, MUTATION, SAST, DEPS, SECRETS)
SECURITY_LANES = (SAST, DEPS, SECRETS)


def lanes_of(options: dict[str, Any]) -> list[str]:
    """The lanes a handover with these options runs: each is on unless the options or
    its TFACTORY_<LANE> setting switch it off; no functional tests, no mutation lane."""
    on = {lane: options.get(lane, getattr(settings, f"TFACTORY_{lane.upper()}", True))
          for lane in LANES}  # fmt: skip
    on[MUTATION] = on[MUTATION] and on[FUNCTIONAL]
    return [lane for lane in LANES if on[lane]]
