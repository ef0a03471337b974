"""The preferences page's answer to errors it cannot answer itself (a form over the body limit,
413; too many tries on one link, 429): a page in the browser's language, not problem+json."""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.responses import Response

from counseling_shared.http.languages import browser_language
from counseling_shared.http.private_pages import page_headers
from notify.entrypoints.web.preferences_page import templates
from notify.entrypoints.web.texts import TEXTS

_PAGE = re.compile(r"^/recipients/[^/]+/preferences/page/?$")
_KEYS = {413: "too_large", 429: "too_many"}


def html_error_page(request: Request, status: int) -> Response | None:
    key = _KEYS.get(status)
    if key is None or not _PAGE.match(request.url.path):
        return None
    locale = browser_language(request.headers.get("accept-language", ""), TEXTS)
    t = TEXTS[locale]
    context = {"locale": locale, "t": t, "title": t[f"{key}_title"], "line": t[key]}
    return templates.TemplateResponse(
        request, "message.html", context, status_code=status, headers=page_headers()
    )
