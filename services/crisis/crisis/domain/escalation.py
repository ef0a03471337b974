"""The escalation state machine: where an alert stands in its frozen policy, and what comes next.

A position is a `Step` (pass through the chain, level). Level 1 of pass 0 is paged when the alert
opens; each missed deadline moves one step: the next level, or level 1 of the next pass once the
last level was paged, or nowhere (exhausted) after the last level of the last pass.
"""

from dataclasses import dataclass

from crisis.domain.policy import EscalationPolicy


@dataclass(frozen=True, order=True)
class Step:
    """`cycle` counts passes through the chain (0 = the first); `level` is 1-based."""

    cycle: int
    level: int


FIRST_STEP = Step(cycle=0, level=1)


def next_step(policy: EscalationPolicy, step: Step) -> Step | None:
    """The step after `step` once its deadline passes unacknowledged; None: exhausted."""
    if step.level < len(policy.levels):
        return Step(step.cycle, step.level + 1)
    if step.cycle < policy.repeat:
        return Step(step.cycle + 1, 1)
    return None


def fallback_step(policy: EscalationPolicy) -> Step:
    """Where the fallback staff are paged: the rung after the last level of the last pass."""
    return Step(cycle=policy.repeat, level=len(policy.levels) + 1)


def is_fallback_level(policy: EscalationPolicy, level: int) -> bool:
    """A page at this level pages the fallback staff (the chain was exhausted)."""
    return level > len(policy.levels)


def chain(policy: EscalationPolicy) -> list[Step]:
    """Every step the policy can reach, in order: levels * (repeat + 1) of them."""
    steps = [FIRST_STEP]
    while (following := next_step(policy, steps[-1])) is not None:
        steps.append(following)
    return steps
