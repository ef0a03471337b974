"""A client's episodes of care: closing one, and the next one opening at the next booking."""

from datetime import date, timedelta

import pytest

from booking.domain import client
from booking.domain.client import CloseCareEpisode, EpisodeStatus, Referral
from booking.domain.errors import InvalidCommand, NotAllowedNow
from counseling_shared.codes import ClosureReason
from tests.booking.unit.builders import NOW, a_client, a_site

CLOSE = CloseCareEpisode(ClosureReason.GOALS_MET, date(2030, 3, 31))


def _apply(state: client.Client, events: list[client.ClientEvent]) -> client.Client:
    for event in events:
        state = client.evolve(state, event)
    return state


def test_closing_an_episode_records_why_and_when() -> None:
    registered = a_client(a_site())
    referral = Referral("Trauma clinic", "+82 2 555 0199")

    closed = _apply(
        registered,
        client.close_episode(
            registered, CloseCareEpisode(ClosureReason.REFERRED, date(2030, 4, 1), referral), NOW
        ),
    )

    assert closed.episode.status is EpisodeStatus.CLOSED
    assert closed.episode.referral == referral
    assert closed.episode.reason is ClosureReason.REFERRED
    assert closed.version == registered.version + 1


def test_a_closed_episode_cannot_be_closed_again() -> None:
    registered = a_client(a_site())
    closed = _apply(registered, client.close_episode(registered, CLOSE, NOW))

    with pytest.raises(NotAllowedNow, match="already closed"):
        client.close_episode(closed, CLOSE, NOW)


def test_a_blank_referral_is_refused() -> None:
    registered = a_client(a_site())
    command = CloseCareEpisode(ClosureReason.REFERRED, date(2030, 4, 1), Referral(" ", "x"))

    with pytest.raises(InvalidCommand) as refused:
        client.close_episode(registered, command, NOW)

    assert list(refused.value.errors) == ["referral.to"]


def test_booking_after_closure_opens_the_next_episode_and_an_open_one_stays() -> None:
    registered = a_client(a_site())
    closed = _apply(registered, client.close_episode(registered, CLOSE, NOW))
    later = NOW + timedelta(days=30)

    reopened = _apply(closed, client.reopen_for_booking(closed, later))

    assert client.reopen_for_booking(registered, later) == []
    assert (reopened.episode.number, reopened.episode.status) == (2, EpisodeStatus.OPEN)
    assert reopened.episode.opened_at == later
