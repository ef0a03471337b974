"""`GET /fhir/Observation?patient=`: a client's scores as a FHIR R4 searchset Bundle (an
extension of the contract beside `GET /clients/{id}/measures`, with the same access: people of
the client's site and admins, never integration keys; an audited read)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from counseling_shared import audit
from counseling_shared.http.dependencies import Person
from counseling_shared.http.openapi import problem_responses
from counseling_shared.http.problems import Unprocessable
from followup.entrypoints.fhir import observations
from followup.entrypoints.measures_http import client_scores

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
    as the interpretation, the follow-up that asked as the identifier."""
    client_id = _patient(patient)
    audit.note_client(client_id)  # the client is in the query, not the path: name them
    wanted = _codes(code)
    scores = await client_scores(request, caller, client_id)
    found: list[dict[str, Any]] = [
        observations.observation(client_id, s)
        for s in scores
        if wanted is None or observations.TOTAL_SCORE[s.instrument][0] in wanted
    ]
    base = str(request.base_url).rstrip("/")
    return FhirJSONResponse(observations.searchset(base, str(request.url), found))


def _patient(value: str) -> UUID:
    try:
        return UUID(value.removeprefix("Patient/"))
    except ValueError:
        message = f"expected Patient/{{id}} with a UUID id, got {value[:80]!r}"
        raise Unprocessable(message, [{"field": "patient", "message": message}]) from None


def _codes(value: str | None) -> set[str] | None:
    if value is None:
        return None
    known = {loinc for loinc, _ in observations.TOTAL_SCORE.values()}
    codes = {observations.loinc_code(part.strip()) for part in value.split(",")}
    if unknown := codes - known:
        message = (
            f"unknown code {sorted(unknown)!r}: expected http://loinc.org|44261-6 (PHQ-9) or"
            " http://loinc.org|70274-6 (GAD-7)"
        )
        raise Unprocessable(message, [{"field": "code", "message": message}])
    return codes
