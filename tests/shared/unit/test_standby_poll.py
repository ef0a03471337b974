"""A replica is pinned only when the server hands it a message, so after a start the first
message of a durable waits for the replica's next ask: urgent durables (risk flags, pages) ask
more often than the others."""

from counseling_shared.jetstream import URGENT_STANDBY_POLL, ConsumerSpec


def spec(*, urgent: bool) -> ConsumerSpec:
    return ConsumerSpec("d", "S", ["s.>"], retry_overload=urgent)


def test_an_urgent_durable_asks_at_most_every_urgent_standby_poll() -> None:
    assert spec(urgent=True).standby_seconds(0.5) == URGENT_STANDBY_POLL == 0.1
    assert spec(urgent=True).standby_seconds(0.05) == 0.05  # a shorter setting stays


def test_other_durables_keep_the_consumers_standby_poll() -> None:
    assert spec(urgent=False).standby_seconds(0.5) == 0.5
