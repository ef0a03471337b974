"""A client's PHQ-9 and GAD-7 scores as FHIR R4 Observations (survey scores with LOINC codes).

Identifiers and coded values only: the total score, its published band as an interpretation,
the follow-up that asked for it, and when. The item answers and the client's comment stay in
followup's database.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid5

from counseling_shared.codes import Instrument
from followup.domain.measures.scoring import RecordedScore

FHIR_JSON = "application/fhir+json"
LOINC = "http://loinc.org"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
BAND_SYSTEM = "urn:counseling-suite:measure-band"
FOLLOWUP_SYSTEM = "urn:counseling-suite:followup"

# The LOINC codes of the instruments' total scores.
TOTAL_SCORE: dict[Instrument, tuple[str, str]] = {
    Instrument.PHQ9: ("44261-6", "Patient Health Questionnaire 9 item (PHQ-9) total score"),
    Instrument.GAD7: ("70274-6", "Generalized anxiety disorder 7 item (GAD-7) total score"),
}
_OBSERVATIONS = UUID("a1f0c6de-3d2b-4f57-9a0e-5b8f6e1c2d47")


def observation_id(score: RecordedScore) -> UUID:
    # One score per instrument per follow-up: the pair names it on every read.
    return uuid5(_OBSERVATIONS, f"{score.followup_id}/{score.instrument.value}")


def loinc_code(text: str) -> str:
    """The code of a FHIR token (`http://loinc.org|44261-6` or `44261-6`)."""
    system, bar, code = text.rpartition("|")
    return code if bar and system in ("", LOINC) else text


def observation(client_id: UUID, score: RecordedScore) -> dict[str, Any]:
    code, display = TOTAL_SCORE[score.instrument]
    return {
        "resourceType": "Observation",
        "id": str(observation_id(score)),
        "identifier": [{"system": FOLLOWUP_SYSTEM, "value": str(score.followup_id)}],
        "status": "final",
        "category": [
            {"coding": [{"system": CATEGORY_SYSTEM, "code": "survey", "display": "Survey"}]}
        ],
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{client_id}"},
        "effectiveDateTime": score.recorded_at.isoformat(),
        "valueInteger": score.total,
        "interpretation": [
            {
                "coding": [{"system": BAND_SYSTEM, "code": score.band.value}],
                "text": score.band.value.replace("_", " "),
            }
        ],
    }


def searchset(
    base: str,
    self_url: str,
    resources: list[dict[str, Any]],
    next_url: str | None,
    total: int | None,
) -> dict[str, Any]:
    """A `searchset` Bundle, as booking's FHIR searches answer it: a `next` link when more
    matches follow, `total` only when known (everything fitted in the first page)."""
    links = [{"relation": "self", "url": self_url}]
    if next_url is not None:
        links.append({"relation": "next", "url": next_url})
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": [
            {
                "fullUrl": f"{base}/fhir/Observation/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }
    if total is not None:
        bundle["total"] = total
    return bundle
