"""The one check of a waitlist offer's signed accept link, shared by the JSON accept route and
the client's HTML page."""

from uuid import UUID

from booking.application import waitlist as waitlist_app
from booking.entrypoints.policies import booking_settings
from counseling_shared import audit
from counseling_shared.links import LinkTampered, SignedLink
from counseling_shared.service import Runtime


def verify_accept_link(runtime: Runtime, offer_id: UUID, token: str) -> SignedLink:
    """The link, with the link noted as the audit actor. Raises `LinkExpired`, or
    `LinkTampered` (also for a genuine link to another offer), audited as `link:invalid`."""
    signer = booking_settings(runtime).link_signer()
    try:
        link = signer.verify(token, waitlist_app.ACCEPT_PURPOSE, now=runtime.clock.now())
    except LinkTampered:
        audit.note_invalid_link()  # audited as crisis audits its page links' (no token kept)
        raise
    if link.subject != str(offer_id):
        audit.note_invalid_link()
        raise LinkTampered("a link to another offer")
    audit.note_actor(audit.Actor("link", str(link.link_id)), sees_free_text=False)
    return link
