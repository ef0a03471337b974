"""The client pages' answers to what they cannot answer themselves, as a page in the browser's
language like their own refusals, never problem+json (`ServiceDefinition.html_error_page`):
a form post over the body limit (413), too many tries (429), an outage or a bug (5xx), a
link the route could not read (a malformed id, a cut path: 403, as an altered link is), and a
button's address opened as a link (a `GET` of a form's action: 405, with `Allow`).

The pages answer their other refusals themselves (403, 404, 409, 410). The offer's accept,
decline and leave paths are also the JSON API's: a JSON request there keeps its problem+json.
"""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.responses import Response

from booking.entrypoints.web.manage_page import templates
from booking.entrypoints.web.offer_page import is_form_post
from booking.entrypoints.web.texts import MANAGE_TEXTS, TEXTS
from counseling_shared.http.languages import browser_language
from counseling_shared.http.private_pages import page_headers
from counseling_shared.http.problems import allowed_methods

_MANAGE = re.compile(r"^/appointments/[^/]+/manage(/confirm|/cancel|/reschedule)?/?$")
_OFFER = re.compile(r"^/waitlist/offers/[^/]+/(accept|decline|leave)/?$")
_UNREAD = (400, 404, 422)  # refused before the link was read: not a valid link


def html_error_page(request: Request, status: int) -> Response | None:
    key = _key(status)
    if status == 405 and request.method == "GET":
        key = "invalid"  # a button's address opened as a link (copied after a press)
    if key is None:
        return None
    path = request.url.path
    if _MANAGE.match(path):
        texts = MANAGE_TEXTS
    elif _OFFER.match(path) and (request.method == "GET" or is_form_post(request)):
        texts = TEXTS
    else:
        return None
    # Refused before the link was read (or while reading it): the browser's language.
    locale = browser_language(request.headers.get("accept-language", ""), texts)
    t = texts[locale]
    context = {"locale": locale, "t": t, "title": t[f"{key}_title"], "line": t[key]}
    shown = 403 if status in _UNREAD else status
    allow = {"Allow": ", ".join(allowed_methods(request))} if status == 405 else {}
    return templates.TemplateResponse(
        request, "message.html", context, status_code=shown, headers=page_headers(**allow)
    )


def _key(status: int) -> str | None:
    if status == 413:
        return "too_large"
    if status == 429:
        return "busy"
    if status >= 500:
        return "outage"
    if status in _UNREAD:
        return "invalid"
    return None  # 405 from a program keeps problem+json; the pages answer the rest themselves
