"""The preferences page's answer to errors it cannot answer itself, as a page in the browser's
language, never problem+json: a form over the body limit (413), too many tries on one link
(429), an outage or a bug (5xx: try again later), and a link the route could not read (a
malformed id, a cut path: 403, as an altered link is)."""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.responses import Response

from counseling_shared.http.languages import browser_language
from counseling_shared.http.private_pages import page_headers
from notify.entrypoints.web.preferences_page import templates
from notify.entrypoints.web.texts import TEXTS

_PAGE = re.compile(r"^/recipients/[^/]+/preferences/page/?$")
_KEYS = {413: "too_large", 429: "too_many", 400: "invalid", 404: "invalid", 422: "invalid"}


def html_error_page(request: Request, status: int) -> Response | None:
    key = _KEYS.get(status) or ("unavailable" if status >= 500 else None)
    if key is None or not _PAGE.match(request.url.path):
        return None  # 405 keeps its Allow header; the page answers the rest itself
    locale = browser_language(request.headers.get("accept-language", ""), TEXTS)
    t = TEXTS[locale]
    context = {"locale": locale, "t": t, "title": t[f"{key}_title"], "line": t[key]}
    shown = 403 if key == "invalid" else status
    return templates.TemplateResponse(
        request, "message.html", context, status_code=shown, headers=page_headers()
    )
