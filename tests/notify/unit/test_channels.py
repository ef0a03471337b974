"""Which channel a client's message goes out on."""

from hypothesis import given
from hypothesis import strategies as st

from counseling_shared.codes import Channel, NotificationChannel
from notify.domain.channels import (
    Addresses,
    channel_order,
    choose_channel,
    next_channel,
    planned_channel,
)

BOTH = Addresses(email="a@example.org", phone="+15550100")
EMAIL = NotificationChannel.EMAIL


def test_the_recipients_own_preference_beats_the_events_and_the_clients_channel() -> None:
    wishes = [Channel.MESSAGING, Channel.SMS, Channel.EMAIL]
    assert choose_channel(wishes, BOTH) is NotificationChannel.MESSAGING


def test_the_events_channel_beats_the_clients_preferred_channel() -> None:
    assert choose_channel([None, Channel.SMS, Channel.EMAIL], BOTH) is NotificationChannel.SMS


def test_the_clients_preferred_channel_is_used_when_nothing_else_is_asked() -> None:
    assert choose_channel([None, None, Channel.MESSAGING], BOTH) is NotificationChannel.MESSAGING


def test_a_phone_preference_is_not_turned_into_texts() -> None:
    """A client who asked to be called gets email, never an SMS on a phone others may read."""
    assert choose_channel([Channel.PHONE], BOTH) is NotificationChannel.EMAIL
    assert planned_channel([None, None, Channel.PHONE]) is NotificationChannel.EMAIL
    assert choose_channel([None, None, Channel.PHONE], Addresses(phone="+15550100")) is None
    # A lower wish for texts does not override it; SMS is no last resort for them either.
    assert channel_order([Channel.PHONE, Channel.SMS, Channel.MESSAGING]) == [
        NotificationChannel.EMAIL
    ]


def test_a_wish_for_texts_above_the_phone_preference_still_counts() -> None:
    # The recipient's own notify preference (first) beats their booking preference (last).
    assert choose_channel([Channel.SMS, None, Channel.PHONE], BOTH) is NotificationChannel.SMS
    assert channel_order([None, Channel.MESSAGING, Channel.PHONE]) == [
        NotificationChannel.MESSAGING,
        NotificationChannel.EMAIL,
    ]


def test_the_next_channel_after_a_refusal_is_the_next_one_with_an_address() -> None:
    wishes = [None, Channel.SMS, Channel.MESSAGING]
    assert next_channel(wishes, BOTH, NotificationChannel.SMS) is NotificationChannel.MESSAGING
    assert (
        next_channel(wishes, Addresses(email="a@example.org", phone=" "), NotificationChannel.SMS)
        is NotificationChannel.EMAIL
    )
    assert next_channel([Channel.EMAIL], Addresses(email="a@example.org"), EMAIL) is None
    # SMS is the last resort: nothing after it.
    assert next_channel([Channel.EMAIL], BOTH, NotificationChannel.SMS) is None
    # A client who asked to be called gets no SMS after their email was refused.
    assert next_channel([None, None, Channel.PHONE], BOTH, EMAIL) is None


def test_a_channel_that_failed_for_good_is_not_chosen_again() -> None:
    chosen = choose_channel([Channel.SMS], BOTH, excluded=NotificationChannel.SMS)
    assert chosen is EMAIL


def test_sms_without_a_phone_number_falls_back_to_email() -> None:
    email_only = Addresses(email="a@example.org")
    assert choose_channel([Channel.SMS], email_only) is NotificationChannel.EMAIL


def test_email_without_an_address_falls_back_to_a_phone_channel() -> None:
    phone_only = Addresses(phone="+15550100")
    assert choose_channel([Channel.EMAIL], phone_only) is NotificationChannel.SMS
    assert (
        choose_channel([Channel.EMAIL, None, Channel.MESSAGING], phone_only)
        is NotificationChannel.MESSAGING
    )


def test_no_address_at_all_means_no_channel() -> None:
    assert choose_channel([Channel.EMAIL, Channel.SMS], Addresses(email=" ", phone="")) is None


def test_with_no_wish_at_all_email_is_planned() -> None:
    assert planned_channel([None, None, None]) is NotificationChannel.EMAIL


wishes = st.lists(st.none() | st.sampled_from(list(Channel)), max_size=3)
addresses = st.builds(
    Addresses,
    email=st.none() | st.just("") | st.just("x@example.org"),
    phone=st.none() | st.just("") | st.just("+15550100"),
)


@given(wishes, addresses)
def test_the_chosen_channel_always_has_an_address_and_none_only_when_there_is_none(
    wished: list[Channel | None], reachable: Addresses
) -> None:
    chosen = choose_channel(wished, reachable)
    # Texts only when no `phone` wish comes before every wish naming a text channel.
    before_phone = wished[: wished.index(Channel.PHONE)] if Channel.PHONE in wished else wished
    texts = Channel.PHONE not in wished or bool({Channel.SMS, Channel.MESSAGING} & {*before_phone})
    has_any = bool(reachable.email) or (texts and bool(reachable.phone))
    assert (chosen is None) == (not has_any)
    if chosen is not None:
        assert reachable.for_channel(chosen) is not None


@given(wishes, addresses)
def test_the_first_reachable_wish_wins(wished: list[Channel | None], reachable: Addresses) -> None:
    order = channel_order(wished)
    first_reachable = next((c for c in order if reachable.for_channel(c)), None)
    assert choose_channel(wished, reachable) == first_reachable
    assert len(order) == len(set(order))
