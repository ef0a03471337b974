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


def as_notification_channel(channel: Channel | str) -> NotificationChannel:
    """A `phone` preference is served by SMS: notify places no voice calls."""
    value = Channel(channel)
    if value is Channel.PHONE:
        return NotificationChannel.SMS
    return NotificationChannel(value.value)


def channel_order(wishes: Iterable[Channel | str | None]) -> list[NotificationChannel]:
    """The wishes in priority order (recipient preference, the event's channel, the client's
    preferred channel), then email and SMS as last resorts, without repeats."""
    ordered: list[NotificationChannel] = []
    for wish in [*wishes, NotificationChannel.EMAIL, NotificationChannel.SMS]:
        if wish is None:
            continue
        channel = as_notification_channel(wish)
        if channel not in ordered:
            ordered.append(channel)
    return ordered


def choose_channel(
    wishes: Iterable[Channel | str | None], addresses: Addresses
) -> NotificationChannel | None:
    """The first channel in `channel_order` the recipient has an address for; None if none."""
    for channel in channel_order(wishes):
        if addresses.for_channel(channel) is not None:
            return channel
    return None


def planned_channel(wishes: Iterable[Channel | str | None]) -> NotificationChannel:
    """The channel to plan on before the addresses are known (confirmed at send time)."""
    return channel_order(wishes)[0]
