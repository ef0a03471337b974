"""schemathesis fuzzes every operation of each service's OpenAPI document against the running
suite (real NATS and PostgreSQL): no 5xx, and every answer (status, content type, headers, body)
is one the document declares. Examples are bounded to keep the run to a minute or two.

The documents are built from the code at collection (as `make docs` does); the first test proves
each running service serves that same document."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import checks

from devstack.handles import PostgresHandle
from devstack.sinks import Sinks
from opsctl.config import Service
from opsctl.docs import openapi_document
from tests.e2e.harness import AUTH, Suite

pytestmark = pytest.mark.e2e

# Every stateless check but `positive_data_acceptance`: a valid request naming random ids is
# rightly refused (404, 422), which that check would count as a failure.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
    checks.ignored_auth,
    checks.unsupported_method,
    checks.allow_header_conformance,
    checks.missing_required_header,
]
FUZZ = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
DOCUMENTS = {service: openapi_document(service) for service in Service}

booking = schemathesis.openapi.from_dict(DOCUMENTS[Service.BOOKING])
followup = schemathesis.openapi.from_dict(DOCUMENTS[Service.FOLLOWUP])
notify = schemathesis.openapi.from_dict(DOCUMENTS[Service.NOTIFY])
crisis = schemathesis.openapi.from_dict(DOCUMENTS[Service.CRISIS])


@pytest.fixture(scope="module")
async def suite(
    nats_url: str,
    postgres_server: PostgresHandle,
    e2e_sinks: Sinks,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Suite]:
    """The suite, with a short wait for ids it has not heard of (most fuzzed ids are random),
    and every optional route configured."""
    running = Suite(
        nats_url=nats_url,
        postgres_url=postgres_server.url(),
        sinks=e2e_sinks,
        work_dir=tmp_path_factory.mktemp("fuzz"),
        extra_env={
            "KNOWN_ID_WAIT_SECONDS": "0.1",
            "CRISIS_STAFF_WAIT_SECONDS": "0.1",
            "CRISIS_CLIENT_WAIT_SECONDS": "0.1",
            # Without a secret the SMS webhook is a deliberate 503 (not configured); with one,
            # the fuzzed header is a wrong secret: a 401.
            "INBOUND_SMS_SECRET": "fuzz-inbound-secret",
            # Twilio's routes likewise (notify and crisis): the fuzzed posts carry no valid
            # signature, a 401. Nothing listens at the API URL: sends fail, unseen here.
            "SMS_PROVIDER": "twilio",
            "TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000",
            "TWILIO_AUTH_TOKEN": "fuzz-twilio-token",
            "TWILIO_FROM": "+15005550006",
            "TWILIO_WEBHOOK_BASE_URL": "https://sms.center.example",
            "TWILIO_API_URL": "http://127.0.0.1:9",
        },
    )
    try:
        await running.start()
        yield running
    finally:
        await running.stop()


def _call(suite: Suite, service: Service, case: Any) -> None:
    case.call_and_validate(base_url=suite.url(service), headers=AUTH, checks=CHECKS, timeout=10)


@pytest.mark.parametrize("service", list(Service))
async def test_each_service_serves_the_document_built_from_its_code(
    suite: Suite, service: Service
) -> None:
    async with suite.client(service) as client:
        served = (await client.get("/openapi.json")).json()

    assert served == DOCUMENTS[service]


@booking.parametrize()
@FUZZ
def test_booking_answers_only_what_its_document_declares(case: Any, suite: Suite) -> None:
    _call(suite, Service.BOOKING, case)


@followup.parametrize()
@FUZZ
def test_followup_answers_only_what_its_document_declares(case: Any, suite: Suite) -> None:
    _call(suite, Service.FOLLOWUP, case)


@notify.parametrize()
@FUZZ
def test_notify_answers_only_what_its_document_declares(case: Any, suite: Suite) -> None:
    _call(suite, Service.NOTIFY, case)


@crisis.parametrize()
@FUZZ
def test_crisis_answers_only_what_its_document_declares(case: Any, suite: Suite) -> None:
    _call(suite, Service.CRISIS, case)
