"""Wrong PINs: each lockout lasts twice the one before (up to a day), the count survives a
lock, the right PIN resets it; new PINs have 6 digits and old 4-digit ones keep working."""

from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID, uuid4

import pytest

from counseling_shared.clock import ControllableClock
from counseling_shared.unit_of_work import UnitOfWork
from crisis.application.pins import MAX_LOCKOUT, PinCheck, PinPolicy, try_pin, use_pin
from crisis.domain.pins import InvalidPin, check_pin_format, hash_pin

POLICY = PinPolicy(max_attempts=5, lockout=timedelta(minutes=15))
RIGHT = "482913"


class _PinsTable:
    """The `staff_pins` row the adapter reads and writes, kept in memory."""

    def __init__(self, staff_id: UUID, pin_hash: str) -> None:
        self.row: dict[str, Any] = {
            "pin_hash": pin_hash,
            "failed_attempts": 0,
            "locked_until": None,
        }
        self.staff_id = staff_id

    async def fetchrow(self, _sql: str, staff_id: UUID) -> dict[str, Any] | None:
        return dict(self.row) if staff_id == self.staff_id else None

    async def execute(self, _sql: str, staff_id: UUID, failed: int, until: Any) -> None:
        assert staff_id == self.staff_id
        self.row.update(failed_attempts=failed, locked_until=until)


class _Uow:
    def __init__(self, conn: _PinsTable, clock: ControllableClock) -> None:
        self.conn = conn
        self.clock = clock

    def now(self) -> datetime:
        return self.clock.now()


async def confirm_pin(uow: UnitOfWork, staff_id: UUID, pin: str, policy: PinPolicy) -> PinCheck:
    """A try, and the right PIN's use in the transaction after it (as the page does)."""
    tried = await try_pin(uow, staff_id, pin, policy)
    if tried.check is not PinCheck.CONFIRMED:
        return tried.check
    assert tried.matched is not None
    return await use_pin(uow, staff_id, tried.matched, tried.counted)


async def _wrong_round(uow: UnitOfWork, staff_id: UUID) -> list[PinCheck]:
    return [await confirm_pin(uow, staff_id, "000000", POLICY) for _ in range(5)]


@pytest.fixture
def clock() -> ControllableClock:
    return ControllableClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))


async def test_successive_lockouts_double_up_to_a_day_and_only_the_right_pin_resets(
    clock: ControllableClock,
) -> None:
    staff_id = uuid4()
    table = _PinsTable(staff_id, hash_pin(RIGHT))
    uow = cast(UnitOfWork, _Uow(table, clock))
    lasted = []
    for _ in range(9):
        start = clock.now()
        checks = await _wrong_round(uow, staff_id)
        assert checks == [PinCheck.WRONG] * 4 + [PinCheck.LOCKED]
        until = table.row["locked_until"]
        clock.set(until - timedelta(seconds=1))
        assert await confirm_pin(uow, staff_id, RIGHT, POLICY) is PinCheck.LOCKED
        clock.set(until)
        lasted.append(until - start)

    minutes = [int(d / timedelta(minutes=1)) for d in lasted]
    assert minutes == [15, 30, 60, 120, 240, 480, 960, 1440, 1440]
    assert lasted[-1] == MAX_LOCKOUT

    assert await confirm_pin(uow, staff_id, RIGHT, POLICY) is PinCheck.CONFIRMED
    assert table.row["failed_attempts"] == 0
    await _wrong_round(uow, staff_id)
    assert table.row["locked_until"] - clock.now() == timedelta(minutes=15)


async def test_a_wrong_try_after_a_lock_expires_does_not_start_a_fresh_round(
    clock: ControllableClock,
) -> None:
    staff_id = uuid4()
    table = _PinsTable(staff_id, hash_pin(RIGHT))
    uow = cast(UnitOfWork, _Uow(table, clock))
    await _wrong_round(uow, staff_id)
    clock.advance(timedelta(minutes=15))

    checks = await _wrong_round(uow, staff_id)

    assert checks == [PinCheck.WRONG] * 4 + [PinCheck.LOCKED]
    assert table.row["locked_until"] - clock.now() == timedelta(minutes=30)


@pytest.mark.parametrize("pin", ["1234", "12345"])
def test_a_new_pin_needs_six_digits(pin: str) -> None:
    with pytest.raises(InvalidPin):
        check_pin_format(pin)
    assert check_pin_format("123456") == "123456"


async def test_a_four_digit_pin_set_before_still_confirms(clock: ControllableClock) -> None:
    staff_id = uuid4()
    table = _PinsTable(staff_id, hash_pin("1234"))  # stored by the earlier rule
    uow = cast(UnitOfWork, _Uow(table, clock))

    assert await confirm_pin(uow, staff_id, "1234", POLICY) is PinCheck.CONFIRMED


async def test_a_right_pin_is_used_only_if_unchanged_and_unlocked_meanwhile(
    clock: ControllableClock,
) -> None:
    """The right PIN writes nothing at its try; its use (the reset) comes in the transaction
    after booking answered, and not if the PIN was replaced or locked in between."""
    staff_id = uuid4()
    table = _PinsTable(staff_id, hash_pin(RIGHT))
    uow = cast(UnitOfWork, _Uow(table, clock))
    table.row["failed_attempts"] = 3

    tried = await try_pin(uow, staff_id, RIGHT, POLICY)
    assert (tried.check, table.row["failed_attempts"]) == (PinCheck.CONFIRMED, 3)
    assert tried.matched is not None

    table.row["locked_until"] = clock.now() + timedelta(minutes=1)  # wrong tries meanwhile
    assert await use_pin(uow, staff_id, tried.matched, tried.counted) is PinCheck.LOCKED
    table.row["locked_until"] = None
    table.row["pin_hash"] = hash_pin("777777")  # an admin set a new one meanwhile
    assert await use_pin(uow, staff_id, tried.matched, tried.counted) is PinCheck.WRONG
    assert table.row["failed_attempts"] == 3

    table.row["pin_hash"] = tried.matched
    assert await use_pin(uow, staff_id, tried.matched, tried.counted) is PinCheck.CONFIRMED
    assert table.row["failed_attempts"] == 0


async def test_wrong_tries_made_while_a_right_pin_is_used_stay_counted(
    clock: ControllableClock,
) -> None:
    """A guesser's wrong tries in the seconds between a right try and its use (booking is
    asked in between, outside any transaction) are not erased by that use: only the tries
    the right PIN found are forgiven."""
    staff_id = uuid4()
    table = _PinsTable(staff_id, hash_pin(RIGHT))
    uow = cast(UnitOfWork, _Uow(table, clock))
    table.row["failed_attempts"] = 3
    tried = await try_pin(uow, staff_id, RIGHT, POLICY)
    assert tried.matched is not None
    meanwhile = await try_pin(uow, staff_id, "000000", POLICY)  # from elsewhere
    assert meanwhile.check is PinCheck.WRONG

    assert await use_pin(uow, staff_id, tried.matched, tried.counted) is PinCheck.CONFIRMED

    assert table.row["failed_attempts"] == 1
    checks = [await confirm_pin(uow, staff_id, "000000", POLICY) for _ in range(4)]
    assert checks == [PinCheck.WRONG] * 3 + [PinCheck.LOCKED]
