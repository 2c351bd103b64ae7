"""Destination plugin API and the push engine (diff, consent, batching, run log, forget)."""

from clientela.destinations.api import (
    Change,
    Contact,
    Destination,
    DestinationSpec,
    Done,
    FieldSpec,
    ForgetResult,
    Outcome,
    PushContext,
    plan_by_existence,
    status_for_new,
)

__all__ = [
    "Change",
    "Contact",
    "Destination",
    "DestinationSpec",
    "Done",
    "FieldSpec",
    "ForgetResult",
    "Outcome",
    "PushContext",
    "plan_by_existence",
    "status_for_new",
]
