"""The shared auth layer asks the service's look-up for `staff` keys only (one read per such
request, none for admin and integration keys), and every service gives it one."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI

from booking.bootstrap import definition as booking
from counseling_shared.http.auth import ApiKeyAuth
from counseling_shared.http.dependencies import Caller
from counseling_shared.http.idempotency import IdempotencyMiddleware
from counseling_shared.http.problems import install_problem_handlers
from counseling_shared.service import ServiceDefinition
from crisis.bootstrap import definition as crisis
from followup.bootstrap import definition as followup
from notify.bootstrap import definition as notify

SITE, LEFT, STAYED = uuid4(), uuid4(), uuid4()
KEYS = ",".join(
    [
        "admin-key",
        f"integration-key;role=integration;sites={SITE}",
        f"left-key;role=staff;sites={SITE};staff={LEFT}",
        f"stayed-key;role=staff;sites={SITE};staff={STAYED}",
    ]
)


def app_asking(asked: list[UUID]) -> FastAPI:
    async def deactivated(staff_id: UUID) -> bool:
        asked.append(staff_id)
        return staff_id == LEFT

    app = FastAPI()
    app.state.auth = ApiKeyAuth(KEYS, staff_deactivated=deactivated)
    install_problem_handlers(app)

    @app.get("/who")
    async def who(caller: Caller) -> dict[str, str]:
        return {"role": caller.role}

    return app


@pytest.mark.parametrize(
    ("key", "status", "asked"),
    [
        ("admin-key", 200, []),
        ("integration-key", 200, []),
        ("stayed-key", 200, [STAYED]),
        ("left-key", 403, [LEFT]),
    ],
    ids=["admin", "integration", "staff-active", "staff-deactivated"],
)
async def test_only_staff_keys_are_looked_up_and_a_deactivated_members_is_refused(
    key: str, status: int, asked: list[UUID]
) -> None:
    looked_up: list[UUID] = []
    transport = httpx.ASGITransport(app=app_asking(looked_up))
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        answer = await client.get("/who", headers={"Authorization": f"Bearer {key}"})

    assert answer.status_code == status, answer.text
    assert looked_up == asked
    if status == 403:
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"].endswith("/problems/staff-deactivated")


@pytest.mark.parametrize(
    "service", [booking, crisis, followup, notify], ids=["booking", "crisis", "followup", "notify"]
)
def test_every_service_gives_the_auth_layer_its_look_up(
    service: Callable[[], ServiceDefinition],
) -> None:
    assert service().staff_deactivated is not None


class NoKeysYet:
    """A pool whose idempotency table holds no key (the middleware's one look-up)."""

    async def fetchrow(self, query: str, *args: Any) -> None:
        return None


def keyed_app_asking(asked: list[UUID]) -> FastAPI:
    app = app_asking(asked)
    app.state.pool = NoKeysYet()

    @app.post("/things")
    async def make(caller: Caller) -> dict[str, str]:
        return {"role": caller.role}

    app.add_middleware(IdempotencyMiddleware, auth=app.state.auth, ttl=timedelta(hours=1))
    return app


@pytest.mark.parametrize(
    ("key", "status", "asked"),
    [("stayed-key", 200, [STAYED]), ("left-key", 403, [LEFT])],
    ids=["staff-active", "staff-deactivated"],
)
async def test_a_keyed_post_asks_about_its_staff_key_once(
    key: str, status: int, asked: list[UUID]
) -> None:
    """The idempotency middleware's answer is the route's: one read per request, not two."""
    looked_up: list[UUID] = []
    transport = httpx.ASGITransport(app=keyed_app_asking(looked_up))
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid4())}
        answer = await client.post("/things", headers=headers)
        again = await client.post("/things", headers={**headers, "Idempotency-Key": "other"})

    assert (answer.status_code, again.status_code) == (status, status), answer.text
    assert looked_up == asked * 2, "once per request"
