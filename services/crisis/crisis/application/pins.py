"""Confirming who is at the on-call page with their PIN, with wrong tries limited."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from uuid import UUID

from counseling_shared.unit_of_work import UnitOfWork
from crisis.adapters import pins
from crisis.domain.pins import check_pin_format, hash_pin, pin_matches


class PinCheck(Enum):
    CONFIRMED = "confirmed"
    WRONG = "wrong"
    LOCKED = "locked"
    NOT_SET = "not_set"


@dataclass(frozen=True)
class PinPolicy:
    max_attempts: int
    lockout: timedelta


async def set_pin(uow: UnitOfWork, staff_id: UUID, pin: str) -> None:
    """Set (or replace) the staff member's PIN; raises `InvalidPin`."""
    await pins.set_pin(uow.conn, staff_id, hash_pin(check_pin_format(pin)), uow.now())


async def confirm_pin(uow: UnitOfWork, staff_id: UUID, pin: str, policy: PinPolicy) -> PinCheck:
    """`max_attempts` wrong tries in a row lock the PIN for `lockout`; a right one resets the
    count. While locked even the right PIN is refused, so guessing gains nothing."""
    now: datetime = uow.now()
    stored = await pins.pin_of(uow.conn, staff_id)
    if stored is None:
        return PinCheck.NOT_SET
    if stored.locked_until is not None and now < stored.locked_until:
        return PinCheck.LOCKED
    if pin_matches(pin, stored.pin_hash):
        await pins.record_try(uow.conn, staff_id, 0, None)
        return PinCheck.CONFIRMED
    failed = stored.failed_attempts + 1  # a lock resets the count to 0
    if failed >= policy.max_attempts:
        await pins.record_try(uow.conn, staff_id, 0, now + policy.lockout)
        return PinCheck.LOCKED
    await pins.record_try(uow.conn, staff_id, failed, None)
    return PinCheck.WRONG
