"""Back-off schedule: exponential with jitter, capped, bounded attempts."""

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notify.domain.retry import RetryPolicy

POLICY = RetryPolicy(max_attempts=6, base=timedelta(seconds=60), max_delay=timedelta(hours=1))


def test_the_wait_doubles_after_each_failure_up_to_the_cap() -> None:
    capped = RetryPolicy(
        max_attempts=10, base=timedelta(seconds=60), max_delay=timedelta(minutes=5)
    )
    assert [capped.ceiling(n).total_seconds() for n in range(1, 7)] == [
        60,
        120,
        240,
        300,
        300,
        300,
    ]


def test_the_full_schedule_with_the_default_settings() -> None:
    waits = [POLICY.delay_after(n, jitter=0.999999).total_seconds() for n in range(1, 6)]
    assert [round(w) for w in waits] == [60, 120, 240, 480, 960]
    assert [POLICY.delay_after(n, jitter=0.0).total_seconds() for n in range(1, 6)] == [
        30,
        60,
        120,
        240,
        480,
    ]


def test_it_gives_up_after_the_last_allowed_attempt() -> None:
    assert [POLICY.gives_up_after(n) for n in range(1, 8)] == [False] * 5 + [True] * 2


def test_a_huge_attempt_number_stays_at_the_cap_without_overflowing() -> None:
    assert POLICY.ceiling(10_000) == timedelta(hours=1)


def test_nonsense_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0, base=timedelta(seconds=1), max_delay=timedelta(seconds=1))
    with pytest.raises(ValueError, match="base"):
        RetryPolicy(max_attempts=3, base=timedelta(seconds=10), max_delay=timedelta(seconds=1))


@given(st.integers(1, 40), st.floats(0.0, 1.0, exclude_max=True))
def test_jitter_keeps_the_wait_between_half_and_all_of_the_ceiling(
    failed: int, jitter: float
) -> None:
    wait = POLICY.delay_after(failed, jitter)
    ceiling = POLICY.ceiling(failed)
    assert ceiling / 2 <= wait <= ceiling
    assert ceiling <= POLICY.max_delay
