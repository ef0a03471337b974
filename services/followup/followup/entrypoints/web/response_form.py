"""The client's answer form: the one place a client acts without a sign-in (a signed link).

Server-rendered HTML that works without JavaScript. `GET` shows the form in the client's
locale with the instruments the site's policy asks for this kind of follow-up; `POST` records
the answers (`checkin_answers.answer_checkin`). An altered link gets a 403 page, an expired one a
410 page, a second submission a 409 page saying the answers were already received. Using a link
is audited (actor kind `link`, its id).

A 422 names each missing answer (`phq9_5`) at its question and in a summary at the top; the
"already received" page shows the site's emergency line (a reload re-posts, the link is reopened).
Errors the route cannot answer itself are HTML pages too (`page_errors`); after an outage
that page carries the answers posted, to send them again (`unsent_answers`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from counseling_shared import audit
from counseling_shared.codes import FollowUpKind, Instrument
from counseling_shared.eventstore import ConcurrencyConflict
from counseling_shared.http.private_pages import PRIVATE_PAGE_HEADERS
from counseling_shared.links import LinkExpired, LinkTampered, SignedLink
from counseling_shared.service import runtime_of
from counseling_shared.unit_of_work import UnitOfWork, unit_of_work
from followup.adapters.measure_store import PostgresMeasureStore
from followup.adapters.postgres_store import PostgresFollowupStore
from followup.adapters.response_links import ResponseLinks
from followup.application.checkin_answers import (
    AlreadyAnswered,
    FormToAnswer,
    SubmittedForm,
    answer_checkin,
    client_locale,
    form_for,
)
from followup.application.commands import FollowUpNotFound
from followup.domain.measures.answers import InvalidCheckinAnswer
from followup.domain.measures.scoring import ITEM_COUNT, SELF_HARM_ITEM
from followup.entrypoints.web import recent_links, unsent_answers
from followup.entrypoints.web.texts import (
    INSTRUMENT_TEXTS,
    TEXTS,
    InstrumentText,
    browser_locale,
    locale_of,
)
from followup.settings import FollowupSettings

router = APIRouter()
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
_PATH = "/followups/{followup_id}/response"


@dataclass(frozen=True)
class _Shown:
    code: str
    text: InstrumentText


@dataclass(frozen=True)
class _Problem:
    """A line of the error summary: the question's id (its fieldset) and its words."""

    anchor: str
    label: str


class _Page(Exception):
    """Answer with a message page instead of the form."""

    def __init__(self, status: int, title_key: str, line_key: str, locale: str = "en") -> None:
        self.status, self.title_key, self.line_key, self.locale = (
            status,
            title_key,
            line_key,
            locale,
        )
        self.emergency_line: str | None = None  # shown, not as an alert, when the site has one


def _links(request: Request) -> ResponseLinks:
    settings = runtime_of(request).settings
    assert isinstance(settings, FollowupSettings)
    return ResponseLinks.from_settings(settings)


async def _verify(request: Request, followup_id: UUID, token: str) -> SignedLink:
    runtime = runtime_of(request)
    try:
        link = _links(request).verify(followup_id, token, runtime.clock.now())
    except LinkExpired as exc:
        if exc.link.subject != str(followup_id):  # another follow-up's: as an altered link
            audit.note_invalid_link()
            raise _Page(403, "invalid_title", "invalid", _browser_locale(request)) from None
        # Genuine but late: the page speaks the client's language.
        audit.note_actor(audit.Actor("link", str(exc.link.link_id)), sees_free_text=False)
        async with runtime.db().acquire() as conn:
            locale = await client_locale(PostgresFollowupStore(conn), followup_id)
        raise _Page(410, "expired_title", "expired", locale_of(locale)) from None
    except LinkTampered:
        audit.note_invalid_link()  # audited as crisis audits its page links' (no token kept)
        raise _Page(403, "invalid_title", "invalid", _browser_locale(request)) from None
    audit.note_actor(audit.Actor("link", str(link.link_id)), sees_free_text=False)
    # Lets an error page after this point speak the client's language (`page_errors`).
    request.state.verified_followup = followup_id
    return link


async def _form(request: Request, followup_id: UUID) -> FormToAnswer:
    async with runtime_of(request).db().acquire() as conn:
        try:
            form = await form_for(PostgresFollowupStore(conn), followup_id)
        except FollowUpNotFound:
            raise _Page(404, "invalid_title", "missing", _browser_locale(request)) from None
        except AlreadyAnswered as exc:
            raise _done(followup_id, exc) from None
    recent_links.remember(followup_id, locale_of(form.locale), form.emergency_line)
    audit.note_site(form.followup.site_id)
    audit.note_client(form.followup.client_id)
    return form


def _done(followup_id: UUID, exc: AlreadyAnswered) -> _Page:
    """The "already received" page: with the site's line, whatever was answered (not shown)."""
    locale = locale_of(exc.locale)
    recent_links.remember(followup_id, locale, exc.emergency_line)
    page = _Page(409, "done_title", "done", locale)
    page.emergency_line = exc.emergency_line
    return page


def _browser_locale(request: Request) -> str:
    """For a page before the link is trusted: the browser's first language we speak."""
    return browser_locale(request.headers.get("accept-language", ""))


def _message(request: Request, page: _Page, **extra: Any) -> HTMLResponse:
    t = TEXTS[page.locale]
    lines = [t[page.line_key], *extra.pop("more", [])]
    context = {
        "locale": page.locale,
        "t": t,
        "title": t[page.title_key],
        "lines": lines,
        "show_line": page.emergency_line is not None,
        "emergency_line": page.emergency_line,
    }
    return templates.TemplateResponse(
        request,
        "message.html",
        {**context, **extra},
        status_code=page.status,
        headers=PRIVATE_PAGE_HEADERS,
    )


def _render_form(
    request: Request,
    form: FormToAnswer,
    token: str,
    *,
    given: dict[str, str] | None = None,
    errors: frozenset[str] = frozenset(),
) -> HTMLResponse:
    locale = locale_of(form.locale)
    given = given or {}
    shown = [_Shown(i.value, INSTRUMENT_TEXTS[i][locale]) for i in form.instruments]
    context = {
        "locale": locale,
        "t": TEXTS[locale],
        "title": TEXTS[locale]["title"],
        "instruments": shown,
        "given": given,
        "errors": errors,
        "problems": _problems(errors, shown, TEXTS[locale]),
        "token": token,
        "action": _PATH.format(followup_id=form.followup.id),
        "emergency_line": form.emergency_line,
        "show_emergency": given.get(f"phq9_{SELF_HARM_ITEM}", "0") not in ("", "0"),
        "rating_form": form.followup.kind is FollowUpKind.SATISFACTION,
    }
    # The GET's URL holds the token; a 422 re-shows the answers given (PHQ-9 item 9 too).
    return templates.TemplateResponse(
        request,
        "form.html",
        context,
        status_code=422 if errors else 200,
        headers=PRIVATE_PAGE_HEADERS,
    )


@router.get(_PATH, response_class=HTMLResponse, include_in_schema=False)
async def show_response_form(followup_id: UUID, token: str, request: Request) -> HTMLResponse:
    """The client's answer form (HTML), opened through the signed link in the message."""
    try:
        await _verify(request, followup_id, token)
        form = await _form(request, followup_id)
    except _Page as page:
        return _message(request, page)
    return _render_form(request, form, token)


@router.post(_PATH, response_class=HTMLResponse, include_in_schema=False)
async def submit_response_form(followup_id: UUID, request: Request) -> HTMLResponse:
    """Record the client's answers once; re-show the form (422) naming what is missing."""
    fields = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    token = fields.get("token", "")
    try:
        link = await _verify(request, followup_id, token)
        # From here an outage's page gives the answers back to send again (`page_errors`).
        unsent_answers.keep(request, fields)
        form = await _form(request, followup_id)
    except _Page as page:
        return _message(request, page)
    locale = locale_of(form.locale)
    rating_form = form.followup.kind is FollowUpKind.SATISFACTION
    missing = _missing_rating(fields) if rating_form else _missing(fields, form.instruments)
    if missing:
        return _render_form(request, form, token, given=fields, errors=missing)
    if rating_form:
        submitted = SubmittedForm(0, False, {}, fields.get("comment"), int(fields["satisfaction"]))
    else:
        submitted = SubmittedForm(
            wellbeing=int(fields["wellbeing"]),
            wants_contact=fields["contact"] == "yes",
            measures={
                i: [int(fields[f"{i.value}_{n}"]) for n in range(1, ITEM_COUNT[i] + 1)]
                for i in form.instruments
            },
            comment=fields.get("comment"),
        )
    try:
        assessment = await _answer(request, followup_id, link, submitted)
    except InvalidCheckinAnswer as exc:
        return _render_form(request, form, token, given=fields, errors=frozenset({exc.field}))
    except AlreadyAnswered as exc:
        return _message(request, _done(followup_id, exc))
    t = TEXTS[locale]
    thanks = _Page(200, "thanks_title", "thanks", locale)
    thanks.emergency_line = form.emergency_line
    return _message(
        request,
        thanks,
        more=[t["callback"]] if assessment.wants_contact else [],
        show_emergency=assessment.risk_level is not None,  # then as an alert, first
    )


def _missing_rating(fields: dict[str, str]) -> frozenset[str]:
    ok = fields.get("satisfaction") in {str(v) for v in range(1, 6)}
    return frozenset() if ok else frozenset({"satisfaction"})


def _missing(fields: dict[str, str], instruments: tuple[Instrument, ...]) -> frozenset[str]:
    """Form fields without a well-formed answer, each item by its own name (`phq9_5`)."""
    missing: set[str] = set()
    if fields.get("wellbeing") not in {str(v) for v in range(1, 6)}:
        missing.add("wellbeing")
    if fields.get("contact") not in ("yes", "no"):
        missing.add("contact")
    for instrument in instruments:
        for n in range(1, ITEM_COUNT[instrument] + 1):
            if fields.get(f"{instrument.value}_{n}") not in ("0", "1", "2", "3"):
                missing.add(f"{instrument.value}_{n}")
    return frozenset(missing)


def _problems(errors: frozenset[str], shown: list[_Shown], t: dict[str, str]) -> list[_Problem]:
    """The error summary's lines, in the form's order, each naming its question."""
    questions = [("satisfaction", t["satisfaction"]), ("wellbeing", t["wellbeing"])]
    for instrument in shown:
        questions.append((instrument.code, instrument.text.title))
        questions += [
            (f"{instrument.code}_{n}", f"{instrument.text.title}, {n}. {item}")
            for n, item in enumerate(instrument.text.items, start=1)
        ]
    questions += [("contact", t["contact"]), ("comment", t["comment"])]
    return [_Problem(anchor, label) for anchor, label in questions if anchor in errors]


async def _answer(
    request: Request, followup_id: UUID, link: SignedLink, form: SubmittedForm
) -> Any:
    runtime = runtime_of(request)
    for attempt in (1, 2):
        try:
            async with unit_of_work(runtime.db(), source=runtime.name, clock=runtime.clock) as uow:
                return await _work(uow, followup_id, link, form)
        except ConcurrencyConflict:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def _work(uow: UnitOfWork, followup_id: UUID, link: SignedLink, form: SubmittedForm) -> Any:
    store = PostgresFollowupStore(uow.conn)
    return await answer_checkin(
        uow, store, PostgresMeasureStore(uow.conn), followup_id, link.link_id, form
    )
