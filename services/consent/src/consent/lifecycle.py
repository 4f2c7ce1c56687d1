"""The consent and withdrawal state machines: every allowed transition, and nothing else."""

from __future__ import annotations

from enum import StrEnum

from yui_common.problems import Problem


class ConsentStatus(StrEnum):
    ACTIVE = "active"
    # Terminal: consent given again later is a new consent, never this one revived.
    WITHDRAWN = "withdrawn"


class ConsentAction(StrEnum):
    WITHDRAW = "withdraw"


class StepStatus(StrEnum):
    """One service's part of a withdrawal cascade."""

    PENDING = "pending"
    DONE = "done"


class StepAction(StrEnum):
    REPORT_DONE = "report_done"


CONSENT_TRANSITIONS: dict[tuple[ConsentStatus, ConsentAction], ConsentStatus] = {
    (ConsentStatus.ACTIVE, ConsentAction.WITHDRAW): ConsentStatus.WITHDRAWN,
}
# A repeated report (a redelivered event) leaves a done step as it was: re-running the cascade is harmless.
STEP_TRANSITIONS: dict[tuple[StepStatus, StepAction], StepStatus] = {
    (StepStatus.PENDING, StepAction.REPORT_DONE): StepStatus.DONE,
    (StepStatus.DONE, StepAction.REPORT_DONE): StepStatus.DONE,
}


class InvalidTransition(Problem):
    def __init__(self, current: str, action: str) -> None:
        super().__init__(
            409, "invalid-transition", "Conflict", f"A consent that is {current} cannot {action}."
        )


def next_consent_status(current: str, action: ConsentAction) -> ConsentStatus:
    try:
        return CONSENT_TRANSITIONS[(ConsentStatus(current), action)]
    except (KeyError, ValueError):
        raise InvalidTransition(current, action) from None


def next_step_status(current: str, action: StepAction) -> StepStatus:
    return STEP_TRANSITIONS[(StepStatus(current), action)]


def may_give_consent(statuses: list[str]) -> bool:
    """A subject may give a new consent unless one is active (at most one active consent, C3)."""
    return ConsentStatus.ACTIVE not in statuses
