"""Headers for server-rendered HTML pages opened from a signed link (on-call page, offers,
follow-up forms): one place, so every page answers the same policy.

The token is in the URL, so the page is kept out of caches, Referer headers and indexes. The
Content-Security-Policy allows no script at all and inline styles only (the pages carry their
CSS in a `<style>` element); forms post only to the same origin, and no other site may frame
the page (clickjacking an Acknowledge button).
"""

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "img-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)

PAGE_HEADERS: dict[str, str] = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # For browsers that predate CSP's frame-ancestors.
    "X-Frame-Options": "DENY",
}


def page_headers(**extra: str) -> dict[str, str]:
    """A fresh copy of `PAGE_HEADERS` (a response may add to it), with `extra` added."""
    return {**PAGE_HEADERS, **extra}
