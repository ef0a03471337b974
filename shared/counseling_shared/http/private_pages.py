"""The headers of every HTML page that shows personal data: the client's answer form, the
on-call page, the waitlist offer page, the staff progress page and the client's preferences
page (notify); and those of the signed calendar feeds (`PRIVATE_FEED_HEADERS`).

Most of them carry their credential (a signed token) in the URL, and show or echo what a person
typed (PHQ-9 answers re-shown after a 422) or who is at risk. So: never stored by a browser or a
proxy (`no-store`), the URL never sent on in a `Referer` header, never indexed, and never shown
inside another site's frame, where a hidden overlay could make someone press its buttons. The
Content-Security-Policy allows no script at all and inline styles only (the pages carry their
CSS in a `<style>` element); forms post only to the same origin.
"""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "img-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)

PRIVATE_PAGE_HEADERS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Robots-Tag": "noindex",
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
        "X-Content-Type-Options": "nosniff",
    }
)


PRIVATE_FEED_HEADERS: Final[Mapping[str, str]] = MappingProxyType(
    {
        # A calendar feed's URL carries its token, and the feed names staff and their hours:
        # kept by no cache, never indexed, and never read as anything but a calendar.
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Robots-Tag": "noindex",
        "X-Content-Type-Options": "nosniff",
    }
)


def page_headers(**extra: str) -> dict[str, str]:
    """A fresh copy of `PRIVATE_PAGE_HEADERS` (a response may add to it), with `extra` added."""
    return {**PRIVATE_PAGE_HEADERS, **extra}
