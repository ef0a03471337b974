"""Domain errors; the HTTP layer maps them to problem+json answers."""

from uuid import UUID


class DomainError(Exception):
    """A command that the current state does not allow."""


class FollowUpAlreadyClosed(DomainError):
    """The follow-up was already completed or cancelled."""

    def __init__(self, followup_id: UUID, status: str) -> None:
        super().__init__(f"follow-up {followup_id} is already {status}")
        self.followup_id = followup_id
        self.status = status


class FollowUpNotScheduled(DomainError):
    """Only a scheduled follow-up can fall due."""
