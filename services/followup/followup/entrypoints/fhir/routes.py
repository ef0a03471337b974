"""`GET /fhir/Observation?patient=`: a client's scores as a FHIR R4 searchset Bundle (an
extension of the contract beside `GET /clients/{id}/measures`, with the same access: people of
the client's site and admins, never integration keys; an audited read).

Paged as booking's FHIR searches and every list: `limit` (50 by default, 200 at most), the
Bundle's `next` link (and the `Link`/`Next-Cursor` headers) carrying the cursor."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from counseling_shared import audit
from counseling_shared.codes import Instrument
from counseling_shared.http.dependencies import Person
from counseling_shared.http.openapi import problem_responses
from counseling_shared.http.pagination import NEXT_CURSOR_HEADER, Page, encode_cursor
from counseling_shared.http.problems import Unprocessable
from followup.entrypoints.fhir import observations
from followup.entrypoints.measures_http import client_scores, score_key

router = APIRouter(prefix="/fhir", tags=["fhir"])


class FhirJSONResponse(JSONResponse):
    media_type = observations.FHIR_JSON


_BUNDLE = {
    200: {
        "description": "FHIR R4 `searchset` Bundle of Observation.",
        "content": {
            observations.FHIR_JSON: {
                "schema": {
                    "type": "object",
                    "required": ["resourceType"],
                    "properties": {"resourceType": {"type": "string", "enum": ["Bundle"]}},
                    "additionalProperties": True,
                }
            }
        },
    },
    **problem_responses(403, 404),
}


@router.get("/Observation", response_class=FhirJSONResponse, responses=_BUNDLE)
async def search_observations(
    request: Request,
    caller: Person,
    page: Page,
    patient: Annotated[str, Query(description="`Patient/{client_id}` (or the bare id).")],
    code: Annotated[
        str | None,
        Query(
            description="A LOINC total score: `http://loinc.org|44261-6` (PHQ-9) or"
            " `http://loinc.org|70274-6` (GAD-7); a comma means or."
        ),
    ] = None,
) -> FhirJSONResponse:
    """The client's PHQ-9 and GAD-7 total scores, oldest first, as `final` survey
    Observations: the LOINC code of the instrument's total, `valueInteger`, the published band
    as the interpretation, the follow-up that asked as the identifier. A page at a time
    (`limit`, 50 by default): the Bundle's `next` link carries the cursor; `total` is given
    when everything fits in the first page."""
    client_id = _patient(patient)
    audit.note_client(client_id)  # the client is in the query, not the path: name them
    wanted = _instruments(code)
    after = page.after(datetime, str, UUID)
    key = (after[0], after[1], after[2]) if after else None
    scores = await client_scores(
        request, caller, client_id, limit=page.fetch, after=key, instruments=wanted
    )
    served = scores[: page.limit]
    more = len(scores) > page.limit
    cursor = encode_cursor(score_key(served[-1])) if more and served else None
    base = str(request.base_url).rstrip("/")
    next_path = None
    if cursor is not None:
        url = request.url.include_query_params(cursor=cursor, limit=page.limit)
        next_path = f"{url.path}?{url.query}"
    first_and_only = cursor is None and "cursor" not in request.query_params
    body = observations.searchset(
        base,
        str(request.url),
        [observations.observation(client_id, s) for s in served],
        f"{base}{next_path}" if next_path else None,
        len(served) if first_and_only else None,
    )
    response = FhirJSONResponse(body)
    if cursor is not None:  # as on every list, beside the Bundle's own link
        response.headers["Link"] = f'<{next_path}>; rel="next"'
        response.headers[NEXT_CURSOR_HEADER] = cursor
    return response


def _patient(value: str) -> UUID:
    try:
        return UUID(value.removeprefix("Patient/"))
    except ValueError:
        message = f"expected Patient/{{id}} with a UUID id, got {value[:80]!r}"
        raise Unprocessable(message, [{"field": "patient", "message": message}]) from None


def _instruments(value: str | None) -> set[Instrument] | None:
    """The instruments whose LOINC total codes `code` names; None: every instrument."""
    if value is None:
        return None
    by_code = {loinc: i for i, (loinc, _) in observations.TOTAL_SCORE.items()}
    codes = {observations.loinc_code(part.strip()) for part in value.split(",")}
    if unknown := codes - by_code.keys():
        message = (
            f"unknown code {sorted(unknown)!r}: expected http://loinc.org|44261-6 (PHQ-9) or"
            " http://loinc.org|70274-6 (GAD-7)"
        )
        raise Unprocessable(message, [{"field": "code", "message": message}])
    return {by_code[c] for c in codes}
