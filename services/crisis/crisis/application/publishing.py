"""Which public events an alert's own events become on the bus (CRISIS stream)."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from counseling_shared import events as public
from counseling_shared.links import LinkSigner
from crisis.domain.alert import Alert, evolve
from crisis.domain.escalation import is_fallback_level
from crisis.domain.policy import EscalationPolicy
from crisis.domain.timeline import (
    Acknowledged,
    AlertEvent,
    ChainRepeated,
    Escalated,
    Exhausted,
    Opened,
    PageRequested,
    PolicyAdopted,
    Reopened,
    Resolved,
)

PAGE_LINK_PURPOSE = "crisis-page"


def reply_code(page_id: UUID) -> str:
    """The code a paged staff member texts back (`ACK <code>`): the page id's first 6 hex
    digits. Only a reply from the paged staff member's own phone counts, so it need not be
    secret, only distinct among their open pages."""
    return page_id.hex[:6].upper()


@dataclass(frozen=True)
class Paging:
    """How pages point on-call staff back to the alert: the API's URL, and a link signed for
    the one page and staff member that opens the on-call page without a sign-in."""

    alert_base_url: str
    signer: LinkSigner | None = None
    link_ttl: timedelta = timedelta(hours=12)

    def alert_url(self, alert_id: UUID) -> str:
        return f"{self.alert_base_url.rstrip('/')}/alerts/{alert_id}"

    def ack_url(self, page_id: UUID, staff_id: UUID, requested_at: datetime) -> str | None:
        if self.signer is None:
            return None
        token = self.signer.sign(
            PAGE_LINK_PURPOSE,
            str(page_id),
            person=str(staff_id),
            expires_at=requested_at + self.link_ttl,
        )
        return f"{self.alert_base_url.rstrip('/')}/pages/{page_id}?token={token}"


def public_events(
    before: Alert | None, events: list[AlertEvent], paging: Paging
) -> list[public.IntegrationEvent]:
    """Fold the events one by one and say what each one announces, in order.

    Flags, raised levels and deliveries stay in the timeline: the contract has no public event
    for them (a raised level that re-opens an acknowledged alert is announced by its
    `AlertReopened`, which carries the new level).
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
            case Reopened():
                out.append(
                    public.AlertReopened(**fields, staff_id=event.staff_id, reason=event.reason)
                )
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
                        ack_url=paging.ack_url(event.page_id, event.staff_id, event.at),
                        reply_code=reply_code(event.page_id),
                        requested_at=event.at,
                        # `level` keeps its meaning (one past the last level); texts need to
                        # say "fallback" rather than that number.
                        fallback=alert.policy is not None
                        and is_fallback_level(alert.policy, event.level),
                        call_after=_call_after(alert.policy, event.level),
                    )
                )
            case _:
                pass
    return out


def _call_after(policy: EscalationPolicy | None, level: int) -> timedelta | None:
    """The paged level's own call delay (None: notify's PAGE_CALL_DELAY, and for a fallback
    page, which is of no level)."""
    if policy is None or not 1 <= level <= len(policy.levels):
        return None
    return policy.level(level).call_after
