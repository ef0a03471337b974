"""One measurement: how many events a path moved, and how long it took."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Throughput:
    events: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.events / self.seconds


@dataclass(frozen=True)
class Comparison:
    """The backbone's path beside the raw limit of the same work, measured in the same run."""

    name: str
    backbone: Throughput
    raw: Throughput
    raw_method: str
    serial: Throughput
    """A second reference: the same work one statement or publish at a time, not pipelined."""
    serial_method: str
    shares: tuple[float, ...] = ()
    """Every run's backbone/raw ratio, each from one run's own pair of figures."""

    @property
    def share(self) -> float:
        return self.backbone.per_second / self.raw.per_second

    @property
    def serial_share(self) -> float:
        return self.backbone.per_second / self.serial.per_second
