"""The signed link to a client's own preferences page, in the footer of each email to them.

Signed with the shared `LinkSigner` for one purpose, one recipient (subject and person), valid
for `PREFERENCES_LINK_TTL` from the send (400 days by default): a client seen yearly can still
use last year's email, while a leaked one stops some day. Each email carries a fresh link
(its own `link_id`, its own rate budget); rotating `LINK_SIGNING_KEY` and later dropping the old
key from `LINK_SIGNING_PREVIOUS_KEYS` ends every link sent before.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from counseling_shared.links import LinkSigner, LinkTampered, SignedLink

PURPOSE = "notify-preferences"
PATH = "/recipients/{recipient_id}/preferences/page"


class PreferenceLinks:
    def __init__(self, signer: LinkSigner, base_url: str, ttl: timedelta) -> None:
        self._signer = signer
        self._base = base_url.rstrip("/")
        self._ttl = ttl

    def url_for(self, recipient_id: UUID, now: datetime) -> str:
        token = self._signer.sign(
            PURPOSE, str(recipient_id), person=str(recipient_id), expires_at=now + self._ttl
        )
        return f"{self._base}{PATH.format(recipient_id=recipient_id)}?token={token}"

    def verify(self, recipient_id: UUID, token: str, now: datetime) -> SignedLink:
        """The link for this recipient; raises `LinkTampered` (also for another recipient's
        genuine token) or `LinkExpired`."""
        link = self._signer.verify(token, PURPOSE, now=now)
        if link.subject != str(recipient_id):
            raise LinkTampered("the link is for another recipient")
        return link
