"""A client's follow-up preferences: how (channel) and how often (intensity)."""

from dataclasses import dataclass

from counseling_shared.codes import Channel, Intensity


@dataclass(frozen=True)
class FollowUpPreferences:
    """`light` doubles check-in intervals; `paused` plans and emits nothing."""

    channel: Channel | None = None
    intensity: Intensity = Intensity.STANDARD

    @property
    def paused(self) -> bool:
        return self.intensity is Intensity.PAUSED

    @property
    def interval_factor(self) -> int:
        return 2 if self.intensity is Intensity.LIGHT else 1
