"""The signed link a client answers a follow-up with (the shared `LinkSigner`).

Signed for one purpose, one follow-up (the subject) and its client (the person), valid for
`FOLLOWUP_RESPONSE_LINK_TTL` from the moment the follow-up falls due. Single use comes from the
follow-up itself: it can be completed once, in the same transaction as the answers.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from counseling_shared.links import LinkSigner, LinkTampered, SignedLink
from followup.domain.durations import CalendarDuration, add_in_zone, parse_duration
from followup.domain.followup import FollowUp
from followup.domain.policy import ASKING_KINDS
from followup.settings import FollowupSettings

PURPOSE = "followup-response"
_UTC = ZoneInfo("UTC")


class ResponseLinks:
    def __init__(self, signer: LinkSigner, base_url: str, ttl: CalendarDuration) -> None:
        self._signer = signer
        self._base = base_url.rstrip("/")
        self._ttl = ttl

    @classmethod
    def from_settings(cls, settings: FollowupSettings) -> ResponseLinks:
        return cls(
            settings.link_signer(),
            settings.response_base_url,
            parse_duration(settings.response_link_ttl),
        )

    def url_for(self, followup: FollowUp, now: datetime) -> str | None:
        """The form's address, for kinds that ask the client (None for the others)."""
        if followup.kind not in ASKING_KINDS:
            return None
        token = self._signer.sign(
            PURPOSE,
            str(followup.id),
            person=str(followup.client_id),
            expires_at=add_in_zone(now, self._ttl, _UTC),
        )
        return f"{self._base}/followups/{followup.id}/response?token={token}"

    def verify(self, followup_id: UUID, token: str, now: datetime) -> SignedLink:
        """The link for this follow-up; raises `LinkTampered` (also for another follow-up's
        token) or `LinkExpired`."""
        link = self._signer.verify(token, PURPOSE, now=now)
        if link.subject != str(followup_id):
            raise LinkTampered("the link is for another follow-up")
        return link
