"""One trace per business flow: the FollowUpDue a durable timer fires continues the trace of the
booking event that planned the follow-up, not a new one."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from uuid import UUID, uuid4

import httpx
import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from counseling_shared.codes import Channel, GoalHorizon, RiskLevel
from counseling_shared.envelope import wrap
from counseling_shared.events import ClientRegistered, SessionCompleted
from tests.followup.integration.support import eventually, publish_as_booking, register_site

pytestmark = pytest.mark.integration


async def _published(js: JetStreamContext, site_id: UUID, event_type: str) -> list[Msg]:
    """Every message followup published for the site on FOLLOWUP, with its headers."""
    subject = f"followup.{site_id}.{event_type}"
    info = await js.stream_info("FOLLOWUP", subjects_filter=subject)
    expected = sum((info.state.subjects or {}).values())
    if expected == 0:
        return []
    sub = await js.pull_subscribe(
        subject,
        stream="FOLLOWUP",
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=10.0
        ),
    )
    try:
        msgs: list[Msg] = []
        while len(msgs) < expected:
            msgs += await sub.fetch(expected - len(msgs), timeout=5.0)
        return msgs
    finally:
        await sub.unsubscribe()


def _trace_id(msg: Msg) -> str:
    traceparent = (msg.headers or {}).get("traceparent", "")
    return traceparent.split("-")[1] if traceparent.count("-") == 3 else ""


async def test_follow_up_due_continues_the_trace_of_the_completed_session(
    api: httpx.AsyncClient, js: JetStreamContext
) -> None:
    site_id, client_id, appointment_id = uuid4(), uuid4(), uuid4()
    policy = {"first_checkin_after": "PT1S", "short_term_every": "PT1H"}
    await register_site(js, site_id)
    assert (await api.put(f"/sites/{site_id}/followup-policy", json=policy)).status_code == 200
    registered = ClientRegistered(
        client_id=client_id,
        site_id=site_id,
        locale="ko",
        timezone="Asia/Seoul",
        preferred_channel=Channel.SMS,
    )
    await publish_as_booking(js, registered, client_id)
    session = SessionCompleted(
        appointment_id=appointment_id,
        site_id=site_id,
        client_id=client_id,
        counselor_id=uuid4(),
        completed_at=datetime.now(UTC),
        goal_horizon=GoalHorizon.SHORT_TERM,
        risk_level=RiskLevel.NONE,
    )
    trace_id = secrets.token_hex(16)
    envelope = wrap(session, source="booking", subject=appointment_id)
    await js.publish(
        envelope.nats_subject,
        envelope.encode(),
        stream="BOOKING",
        headers={
            "Nats-Msg-Id": str(envelope.id),
            "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01",
        },
    )

    [due] = await eventually(lambda: _published(js, site_id, "FollowUpDue"), timeout=10)

    assert _trace_id(due) == trace_id
