"""The progress page for staff (contract v2: `GET /clients/{id}/progress`): the client's scores
over time as server-drawn SVG charts with band lines, and their follow-ups' outcomes beneath.
HTML for people, in the browser's language (`Accept-Language`: en, ko, fr, ru); the same data
as JSON is `GET /clients/{id}/measures`. Dates by Babel in that language and the site's zone,
named by its city (`dates`); errors are HTML pages too (`page_errors`)."""

from __future__ import annotations

from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from counseling_shared.http.dependencies import Person
from counseling_shared.http.private_pages import PRIVATE_PAGE_HEADERS
from counseling_shared.service import runtime_of
from counseling_shared.zone_names import zone_city
from followup.adapters.postgres_store import PostgresFollowupStore
from followup.entrypoints.measures_http import client_scores
from followup.entrypoints.web.chart import charts
from followup.entrypoints.web.dates import day_formatter, when_formatter
from followup.entrypoints.web.response_form import templates
from followup.entrypoints.web.texts import PROGRESS_TEXTS, browser_locale

router = APIRouter()


@router.get("/clients/{client_id}/progress", response_class=HTMLResponse, include_in_schema=False)
async def show_progress(client_id: UUID, caller: Person, request: Request) -> HTMLResponse:
    scores = await client_scores(request, caller, client_id)
    async with runtime_of(request).db().acquire() as conn:
        store = PostgresFollowupStore(conn)
        followups = await store.list_followups(client_id=client_id)
        client = await store.client(client_id)
        site_id = client.site_id if client is not None else None
        timezone = await store.site_timezone(site_id) if site_id is not None else None
    zone = _zone(timezone)
    locale = browser_locale(request.headers.get("accept-language", ""))
    t = PROGRESS_TEXTS[locale]
    context = {
        "locale": locale,
        "t": t,
        "title": t["title"],
        "client_id": client_id,
        "zone": zone_city(zone, locale, runtime_of(request).clock.now()),
        # The site's wall-clock time, where the staff reading it work, as their language writes it.
        "when": when_formatter(locale, zone),
        "charts": charts(scores, zone, day_formatter(locale, zone)),
        "scores": scores,
        "followups": followups,
    }
    return templates.TemplateResponse(
        request, "progress.html", context, headers=PRIVATE_PAGE_HEADERS
    )


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
