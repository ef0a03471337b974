"""The client pages' answer to a form post over the body limit (413): a page in the browser's
language, like their own refusals, instead of problem+json (`ServiceDefinition.html_error_page`).

Only 413: the pages answer their other refusals themselves (403, 404, 409, 410). The offer's
accept, decline and leave paths are also the JSON API's: a JSON request there keeps its
problem+json.
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

_MANAGE = re.compile(r"^/appointments/[^/]+/manage(/confirm|/cancel)?/?$")
_OFFER = re.compile(r"^/waitlist/offers/[^/]+/(accept|decline|leave)/?$")


def html_error_page(request: Request, status: int) -> Response | None:
    if status != 413:
        return None
    path = request.url.path
    if _MANAGE.match(path):
        texts = MANAGE_TEXTS
    elif _OFFER.match(path) and (request.method == "GET" or is_form_post(request)):
        texts = TEXTS
    else:
        return None
    # Refused before the link was read: the browser's language.
    locale = browser_language(request.headers.get("accept-language", ""), texts)
    t = texts[locale]
    context = {"locale": locale, "t": t, "title": t["too_large_title"], "line": t["too_large"]}
    return templates.TemplateResponse(
        request, "message.html", context, status_code=413, headers=page_headers()
    )
