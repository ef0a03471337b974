"""Scores as FHIR Observations: codes read from FHIR tokens, stable ids, valid R4 resources."""

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from fhir.resources.R4B import get_fhir_model_class

from counseling_shared.codes import Instrument, MeasureBand
from followup.domain.measures.scoring import RecordedScore
from followup.entrypoints.fhir.observations import loinc_code, observation, observation_id


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("http://loinc.org|44261-6", "44261-6"),
        ("|70274-6", "70274-6"),
        ("44261-6", "44261-6"),
        ("http://snomed.info/sct|44261-6", "http://snomed.info/sct|44261-6"),  # not LOINC
    ],
    ids=["system-and-code", "no-system", "bare", "other-system"],
)
def test_a_token_gives_its_loinc_code_and_another_system_stays_unknown(
    token: str, code: str
) -> None:
    assert loinc_code(token) == code


@pytest.mark.parametrize("instrument", list(Instrument), ids=[i.value for i in Instrument])
def test_each_instruments_score_is_a_valid_observation_with_a_stable_id(
    instrument: Instrument,
) -> None:
    followup_id, client_id = uuid4(), uuid4()
    score = RecordedScore(followup_id, instrument, 7, MeasureBand.MILD, datetime.now(UTC))

    resource = observation(client_id, score)

    get_fhir_model_class("Observation").model_validate(resource)
    assert resource["id"] == str(observation_id(score))
    again = RecordedScore(followup_id, instrument, 9, MeasureBand.MILD, datetime.now(UTC))
    assert observation_id(again) == observation_id(score)  # one per follow-up and instrument
    other = RecordedScore(uuid4(), instrument, 7, MeasureBand.MILD, score.recorded_at)
    assert observation_id(other) != observation_id(score)
