"""Geometry of the progress chart: one SVG per instrument, scores over time, band lines.

Pure arithmetic (the template draws it), so the page needs no JavaScript and no chart library.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from counseling_shared.codes import Instrument, MeasureBand
from followup.domain.measures.scoring import BANDS, RecordedScore, max_score

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 16, 12, 36


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    score: int
    band: MeasureBand
    label: str  # the date, for the point's <title>


@dataclass(frozen=True)
class BandLine:
    y: float
    lowest: int
    band: MeasureBand


@dataclass(frozen=True)
class Chart:
    instrument: Instrument
    width: int
    height: int
    points: tuple[Point, ...]
    band_lines: tuple[BandLine, ...]
    axis_left: int
    axis_bottom: float
    max_score: int

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


def _y(score: float, top_score: int) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - score / top_score)


def _iso_day(at: datetime, zone: tzinfo) -> str:
    return at.astimezone(zone).date().isoformat()


def chart_for(
    instrument: Instrument,
    scores: Sequence[RecordedScore],
    zone: tzinfo = UTC,
    label: Callable[[datetime], str] | None = None,
) -> Chart:
    """The chart of one instrument's scores (oldest first), x spread by time."""
    mine = [s for s in scores if s.instrument is instrument]
    top = max_score(instrument)
    inner = WIDTH - LEFT - RIGHT
    times = [s.recorded_at.timestamp() for s in mine]
    span = (max(times) - min(times)) if len(times) > 1 else 0.0
    points = tuple(
        Point(
            LEFT + (inner * (t - times[0]) / span if span else inner / 2),
            _y(s.total, top),
            s.total,
            s.band,
            label(s.recorded_at) if label else _iso_day(s.recorded_at, zone),
        )
        for s, t in zip(mine, times, strict=True)
    )
    lines = tuple(BandLine(_y(lowest, top), lowest, band) for lowest, band in BANDS[instrument][1:])
    return Chart(instrument, WIDTH, HEIGHT, points, lines, LEFT, _y(0, top), top)


def charts(
    scores: Sequence[RecordedScore],
    zone: tzinfo = UTC,
    label: Callable[[datetime], str] | None = None,
) -> list[Chart]:
    """One chart per instrument answered, its points labelled with their date in `zone` (by
    `label` when given, e.g. in the reader's language)."""
    present = {s.instrument for s in scores}
    return [chart_for(i, scores, zone, label) for i in Instrument if i in present]
