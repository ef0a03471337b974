"""The followup pages' errors as HTML in the reader's language (`ServiceDefinition.
html_error_page`), never English problem+json: the client's check-in pages and the staff
progress page. The JSON API keeps problem+json.

The client's pages: a request the route could not read (a link cut before `?token=`, an
altered id) is a link that is not valid (403); an outage or a bug says "try again later" and
names the emergency line when this process saw the link (`recent_links`), a generic emergency
sentence otherwise. When it met a submitted check-in, the page keeps the answers in a form that
sends them again (`unsent_answers`): the client need not start over. The language is the
client's when known, else the browser's. Known means the request's own token was verified
first: an id alone (a cut link) tells nobody the client's language.
"""

from __future__ import annotations

import re
from uuid import UUID

from fastapi import Request
from fastapi.responses import Response

from counseling_shared.http.private_pages import page_headers
from followup.entrypoints.web import recent_links, unsent_answers
from followup.entrypoints.web.response_form import templates
from followup.entrypoints.web.texts import PROGRESS_TEXTS, TEXTS, browser_locale

_FORM = re.compile(r"^/followups/[^/]+/response/?$")
_PROGRESS = re.compile(r"^/clients/[^/]+/progress/?$")


def html_error_page(request: Request, status: int) -> Response | None:
    path = request.url.path
    if status == 405:
        return None  # keeps its Allow header (problems.py)
    if _FORM.match(path):
        return _client_page(request, status)
    if _PROGRESS.match(path):
        return _staff_page(request, status)
    return None


def _recent(request: Request) -> recent_links.RecentLink | None:
    verified: UUID | None = getattr(request.state, "verified_followup", None)
    return recent_links.recall(verified) if verified is not None else None


def _client_page(request: Request, status: int) -> Response:
    known = _recent(request)
    locale = known.locale if known else browser_locale(request.headers.get("accept-language", ""))
    if status >= 500:
        # An outage: the person may have been about to say they are not safe.
        line = known.emergency_line if known else None
        if (answers := unsent_answers.kept(request)) is not None:
            # Their answers are not lost: the page sends them again (no retyping PHQ-9).
            return _page(
                request,
                locale,
                TEXTS[locale],
                "outage",
                status,
                emergency=True,
                line=line,
                resend=answers,
                said="outage_kept",
            )
        return _page(request, locale, TEXTS[locale], "outage", status, emergency=True, line=line)
    if status == 429:
        return _page(request, locale, TEXTS[locale], "busy", status)
    if status == 413:  # over the body limit: most likely a very long comment
        return _page(request, locale, TEXTS[locale], "too_large", status)
    # No token, a malformed id, anything else the route refused unread: not a valid link.
    shown = 403 if status in (400, 404, 422) else status
    return _page(request, locale, TEXTS[locale], "invalid", shown)


def _staff_page(request: Request, status: int) -> Response:
    locale = browser_locale(request.headers.get("accept-language", ""))
    t = PROGRESS_TEXTS[locale]
    if status == 401:
        return _page(request, locale, t, "signin", 401, headers={"WWW-Authenticate": "Bearer"})
    if status == 403:
        return _page(request, locale, t, "denied", 403)
    if status == 429:
        return _page(request, locale, t, "busy", 429)
    if status == 413:
        return _page(request, locale, t, "too_large", 413)
    if status >= 500:
        return _page(request, locale, t, "outage", status)
    return _page(request, locale, t, "unknown", 404 if status in (400, 422) else status)


def _page(
    request: Request,
    locale: str,
    t: dict[str, str],
    key: str,
    status: int,
    *,
    emergency: bool = False,
    line: str | None = None,
    headers: dict[str, str] | None = None,
    resend: dict[str, str] | None = None,
    said: str | None = None,
) -> Response:
    context = {
        "locale": locale,
        "t": t,
        "title": t[f"{key}_title"],
        "lines": [t[said or key]],
        # The answers as hidden fields of a form posting them again (in the body, not the URL).
        "resend": resend,
        "action": request.url.path,
        # After "try again later": the line when known, the generic sentence otherwise.
        "show_line": emergency,
        "emergency_line": line,
    }
    return templates.TemplateResponse(
        request, "message.html", context, status_code=status, headers=page_headers(**headers or {})
    )
