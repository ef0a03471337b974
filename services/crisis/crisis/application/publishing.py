"""Which public events an alert's own events become on the bus (CRISIS stream)."""

from dataclasses import dataclass
from uuid import UUID

from counseling_shared import events as public
from crisis.domain.alert import Alert, evolve
from crisis.domain.timeline import (
    Acknowledged,
    AlertEvent,
    ChainRepeated,
    Escalated,
    Exhausted,
    Opened,
    PageRequested,
    PolicyAdopted,
    Resolved,
)


@dataclass(frozen=True)
class Paging:
    """How pages point on-call staff back to the alert."""

    alert_base_url: str

    def alert_url(self, alert_id: UUID) -> str:
        return f"{self.alert_base_url.rstrip('/')}/alerts/{alert_id}"


def public_events(
    before: Alert | None, events: list[AlertEvent], paging: Paging
) -> list[public.IntegrationEvent]:
    """Fold the events one by one and say what each one announces, in order.

    Flags, raised levels and deliveries stay in the timeline: the contract has no public event
    for them.
    """
    out: list[public.IntegrationEvent] = []
    alert = before
    for event in events:
        alert = evolve(alert, event)
        if alert is None:
            continue
        fields = {
            "alert_id": alert.id,
            "client_id": alert.client_id,
            "site_id": alert.site_id,
            "level": alert.risk_level,
            "current_level": alert.current_level,
        }
        match event:
            case Opened():
                out.append(public.AlertRaised(**fields))
            case Escalated() | ChainRepeated() | PolicyAdopted():
                out.append(public.AlertEscalated(**fields))
            case Exhausted():
                out.append(public.AlertExhausted(**fields))
            case Acknowledged():
                out.append(public.AlertAcknowledged(**fields, staff_id=event.staff_id))
            case Resolved():
                out.append(
                    public.AlertResolved(**fields, staff_id=event.staff_id, outcome=event.outcome)
                )
            case PageRequested():
                out.append(
                    public.PageRequested(
                        alert_id=alert.id,
                        page_id=event.page_id,
                        staff_id=event.staff_id,
                        site_id=alert.site_id,
                        level=event.level,
                        risk_level=alert.risk_level,
                        alert_url=paging.alert_url(alert.id),
                        requested_at=event.at,
                    )
                )
            case _:
                pass
    return out
