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


MAX_LOCKOUT = timedelta(hours=24)
"""The longest a lock lasts: past it, each further round of wrong tries locks a day."""


@dataclass(frozen=True)
class PinPolicy:
    max_attempts: int
    lockout: timedelta

    def lock_for(self, failed_attempts: int) -> timedelta:
        """How long the `failed_attempts`-th wrong try in a row locks the PIN: the first
        lockout lasts `lockout`, each next one twice the last, up to `MAX_LOCKOUT` (never
        shorter than `lockout`). Why: a fixed 15 min after 5 tries allows ~480 guesses a day, a
        4-digit PIN found in ~10 days; doubling leaves ~35 the first day and 5 a day after."""
        lockouts = failed_attempts // self.max_attempts
        longest = max(self.lockout, MAX_LOCKOUT)
        if lockouts > 32:  # 2**32 lockouts already pass any cap; avoid a huge timedelta
            return longest
        doubled: timedelta = self.lockout * (2 ** (lockouts - 1))
        return min(doubled, longest)


async def set_pin(uow: UnitOfWork, staff_id: UUID, pin: str) -> None:
    """Set (or replace) the staff member's PIN; raises `InvalidPin`."""
    await pins.set_pin(uow.conn, staff_id, hash_pin(check_pin_format(pin)), uow.now())


@dataclass(frozen=True)
class PinTry:
    """A PIN try's result; `matched` is the stored hash a right PIN matched and `counted` the
    wrong tries it found (both for `use_pin`)."""

    check: PinCheck
    matched: str | None = None
    counted: int = 0


async def try_pin(uow: UnitOfWork, staff_id: UUID, pin: str, policy: PinPolicy) -> PinTry:
    """`max_attempts` wrong tries in a row lock the PIN for `lockout`, each further
    `max_attempts` for twice as long as the lock before (`PinPolicy.lock_for`); only the right
    PIN (or an admin setting a new one) resets the count. While locked even the right PIN is
    refused, so guessing gains nothing.

    A wrong try or a lock is written here. A right one writes nothing yet: `use_pin` resets the
    count in the transaction that records what the PIN was used for (and its audit entry)."""
    now: datetime = uow.now()
    stored = await pins.pin_of(uow.conn, staff_id)
    if stored is None:
        return PinTry(PinCheck.NOT_SET)
    if stored.locked_until is not None and now < stored.locked_until:
        return PinTry(PinCheck.LOCKED)
    if pin_matches(pin, stored.pin_hash):
        return PinTry(PinCheck.CONFIRMED, stored.pin_hash, stored.failed_attempts)
    # The count runs on across locks, so each lockout knows how many came before it.
    failed = stored.failed_attempts + 1
    if failed % policy.max_attempts == 0:
        await pins.record_try(uow.conn, staff_id, failed, now + policy.lock_for(failed))
        return PinTry(PinCheck.LOCKED)
    await pins.record_try(uow.conn, staff_id, failed, None)
    return PinTry(PinCheck.WRONG)


async def use_pin(uow: UnitOfWork, staff_id: UUID, matched: str, counted: int) -> PinCheck:
    """Reset the wrong-try count of a PIN `try_pin` confirmed (`matched`: its stored hash;
    `counted`: the wrong tries it found), in a later transaction. Replaced meanwhile (or
    removed), it is WRONG; locked meanwhile by wrong tries from elsewhere, LOCKED: then nothing
    is written. Only the tries before the right one are forgiven: wrong ones made while booking
    was asked stay counted (else each use of the PIN would erase a guesser's tries made in that
    window). Why not hash it again: scrypt costs tens of milliseconds of CPU, comparing the
    stored hash none."""
    stored = await pins.pin_of(uow.conn, staff_id)
    if stored is None or stored.pin_hash != matched:
        return PinCheck.WRONG
    if stored.locked_until is not None and uow.now() < stored.locked_until:
        return PinCheck.LOCKED
    meanwhile = max(0, stored.failed_attempts - counted)
    await pins.record_try(uow.conn, staff_id, meanwhile, None)
    return PinCheck.CONFIRMED
