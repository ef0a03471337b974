"""Why the center's rules refuse a command. The HTTP layer maps each kind to a problem+json."""

from collections.abc import Mapping
from uuid import UUID


class DomainError(Exception):
    """A command the booking rules refuse."""


class InvalidCommand(DomainError):
    """Fields of the command that do not fit, by API field name (answered as 422)."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = dict(errors)


def refuse_invalid(errors: Mapping[str, str | None]) -> None:
    """Raise `InvalidCommand` naming every field whose check failed (a message, not None)."""
    failed = {field: message for field, message in errors.items() if message is not None}
    if failed:
        raise InvalidCommand(failed)


class UnknownAggregate(DomainError):
    """The thing the command is about does not exist (answered as 404)."""

    def __init__(self, kind: str, ident: UUID) -> None:
        super().__init__(f"no {kind} with id {ident}")
        self.kind = kind
        self.ident = ident


class NotAllowedNow(DomainError):
    """The command is valid, but not in the aggregate's current state (answered as 409)."""


class SlotTaken(DomainError):
    """Another booked appointment (or a live hold, or a group session) has the counselor, the
    room or the client then (409)."""

    def __init__(
        self,
        resource: str,
        conflicting_appointment_id: UUID | None,
        *,
        conflicting_hold_id: UUID | None = None,
        conflicting_group_session_id: UUID | None = None,
    ) -> None:
        what = (
            "a hold"
            if conflicting_hold_id
            else "a group session"
            if conflicting_group_session_id
            else "a booked appointment"
        )
        super().__init__(f"the {resource} already has {what} at that time")
        self.resource = resource
        self.conflicting_appointment_id = conflicting_appointment_id
        self.conflicting_hold_id = conflicting_hold_id
        self.conflicting_group_session_id = conflicting_group_session_id
