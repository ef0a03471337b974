"""The on-call page's error pages: HTML in the reader's language, saying what to do.

A person opening a page's link reads HTML, never problem+json: a link cut before its token, a
database outage, a bug. When the link does not say who the reader is, the browser's
`Accept-Language` picks the language.
"""

from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from counseling_shared import audit
from counseling_shared.http.languages import browser_language
from counseling_shared.http.private_pages import page_headers
from counseling_shared.http.problems import allowed_methods
from crisis.entrypoints.page_i18n import LANGUAGES, translator

templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")
PAGES_PREFIX = "/pages/"


def reader_language(request: Request) -> str:
    return browser_language(request.headers.get("accept-language", ""), LANGUAGES)


def problem_page(lang: str, title: str, text: str, status: int) -> HTMLResponse:
    body = templates.get_template("link_problem.html").render(lang=lang, title=title, text=text)
    audit.note_answer(status)  # built inside a unit of work: its entry records this status
    return HTMLResponse(body, status_code=status, headers=page_headers())


def not_valid_page(lang: str, status: int = 403) -> HTMLResponse:
    _ = translator(lang)
    return problem_page(
        lang,
        _("Link not valid"),
        _("This link is not valid. Open the alert from the newest page you received."),
        status,
    )


def html_error_page(request: Request, status: int) -> Response | None:
    """The on-call page's errors as HTML (`ServiceDefinition.html_error_page`); the JSON API's
    stay problem+json. A request the route could not read (no token, a malformed id) is a link
    that is not valid: 403."""
    if not request.url.path.startswith(PAGES_PREFIX):
        return None
    lang = reader_language(request)
    _ = translator(lang)
    if status == 405:
        if request.method != "GET":
            return None  # a program's call: problem+json with its Allow header (problems.py)
        # A button's address opened as a link (copied from the address bar after a press).
        page = not_valid_page(lang, 405)
        page.headers["Allow"] = ", ".join(allowed_methods(request))
        return page
    if status in (400, 404, 422):
        return not_valid_page(lang, 403 if status == 422 else status)
    if status == 429:
        return problem_page(
            lang, _("Too many tries"), _("Too many tries; try again in a minute."), 429
        )
    if status == 413:  # a form post over the body limit (the page's forms are all short)
        return problem_page(
            lang,
            _("Too much sent"),
            _(
                "What was sent is too large. "
                "Open the alert again from the newest page you received."
            ),
            413,
        )
    if status < 500:
        return not_valid_page(lang, status)
    return problem_page(
        lang,
        _("Something went wrong"),
        _(
            "The alert could not be shown or changed just now. Try again in a moment; "
            "if it keeps failing, call a colleague on call."
        ),
        status,
    )
