"""Which channel a client's message goes out on."""

from collections.abc import Iterable
from dataclasses import dataclass

from counseling_shared.codes import Channel, NotificationChannel


@dataclass(frozen=True)
class Addresses:
    """Where a recipient can be reached right now (known only at send time for clients)."""

    email: str | None = None
    phone: str | None = None

    def for_channel(self, channel: NotificationChannel) -> str | None:
        # SMS and messaging providers both address the recipient by phone number.
        address = self.email if channel is NotificationChannel.EMAIL else self.phone
        return address.strip() if address and address.strip() else None


def as_notification_channel(channel: Channel | str) -> NotificationChannel | None:
    """The channel notify sends a wish on; None for `phone`: notify places no calls, and a
    client who asked to be called has not agreed to texts (an SMS on a shared phone tells
    whoever reads it that they see a counselor)."""
    value = Channel(channel)
    if value is Channel.PHONE:
        return None
    return NotificationChannel(value.value)


def channel_order(wishes: Iterable[Channel | str | None]) -> list[NotificationChannel]:
    """The wishes in priority order (recipient preference, the event's channel, the client's
    preferred channel), then email and SMS as last resorts, without repeats.

    A `phone` wish is no channel of notify's, and it ends texting: SMS and messaging named by
    a lower wish, and SMS as a last resort, are left out (a higher wish naming them stays).
    Email stays the last resort."""
    ordered: list[NotificationChannel] = []
    texts = True
    for wish in wishes:
        if wish is None:
            continue
        channel = as_notification_channel(wish)
        if channel is None:
            texts = False
        elif (texts or channel is NotificationChannel.EMAIL) and channel not in ordered:
            ordered.append(channel)
    for last_resort in (NotificationChannel.EMAIL, NotificationChannel.SMS):
        if (texts or last_resort is NotificationChannel.EMAIL) and last_resort not in ordered:
            ordered.append(last_resort)
    return ordered


def choose_channel(
    wishes: Iterable[Channel | str | None],
    addresses: Addresses,
    excluded: NotificationChannel | None = None,
) -> NotificationChannel | None:
    """The first channel in `channel_order` the recipient has an address for (other than
    `excluded`, a channel that failed for good); None if none."""
    for channel in channel_order(wishes):
        if channel is not excluded and addresses.for_channel(channel) is not None:
            return channel
    return None


def next_channel(
    wishes: Iterable[Channel | str | None], addresses: Addresses, failed: NotificationChannel
) -> NotificationChannel | None:
    """The channel after `failed` in `channel_order` that the recipient has an address for:
    where a message refused for good on `failed` goes instead; None if there is none."""
    order = channel_order(wishes)
    after = order[order.index(failed) + 1 :] if failed in order else order
    return next((c for c in after if c is not failed and addresses.for_channel(c)), None)


def planned_channel(wishes: Iterable[Channel | str | None]) -> NotificationChannel:
    """The channel to plan on before the addresses are known (confirmed at send time)."""
    return channel_order(wishes)[0]


SELF_SERVICE_CHANNELS = (Channel.EMAIL, Channel.SMS)
"""What a client may choose on their own page: email or text. `phone` (notify places no calls)
and `messaging` (an app the center arranges with them) stay with staff."""


def offered_channels(addresses: Addresses) -> tuple[Channel, ...]:
    """The self-service channels booking has an address for right now."""
    return tuple(
        c
        for c in SELF_SERVICE_CHANNELS
        if addresses.for_channel(NotificationChannel(c.value)) is not None
    )
