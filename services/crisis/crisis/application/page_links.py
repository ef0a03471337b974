"""A page's signed link: which page and staff member it stands for, checked against the store.

The token is signed for one page (`subject`) and one staff member (`person`); a token whose
page is not the one in the URL, or whose page was sent to someone else, is treated exactly like
an altered one. Single use follows from the alert itself: once anyone has acknowledged, the
link's Acknowledge answers 409 with who and when.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from counseling_shared.links import LinkSigner, LinkTampered
from crisis.adapters import alert_views
from crisis.application.publishing import PAGE_LINK_PURPOSE


@dataclass(frozen=True)
class PageLink:
    page_id: UUID
    alert_id: UUID
    staff_id: UUID
    site_id: UUID
    client_id: UUID
    link_id: UUID


async def open_page_link(
    conn: Any, signer: LinkSigner, token: str, page_id: UUID, now: datetime
) -> PageLink:
    """Raises `LinkTampered` (403) or `LinkExpired` (410)."""
    link = signer.verify(token, PAGE_LINK_PURPOSE, now=now)
    if link.subject != str(page_id) or link.person is None:
        raise LinkTampered("the link is for another page")
    page = await alert_views.page_of(conn, page_id)
    if page is None or str(page["staff_id"]) != link.person:
        raise LinkTampered("the link is for another page")
    return PageLink(
        page_id,
        page["alert_id"],
        page["staff_id"],
        page["site_id"],
        page["client_id"],
        link.link_id,
    )
