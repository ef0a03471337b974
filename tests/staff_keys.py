"""What every service's "a deactivated member's staff key is refused" test checks."""

from typing import Any

import httpx


def staff_key_entry(secret: str, site_id: Any, staff_id: Any) -> str:
    """An `API_KEYS` entry for a `staff` key of one site."""
    return f"{secret};role=staff;sites={site_id};staff={staff_id}"


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def assert_staff_deactivated(answer: httpx.Response) -> None:
    """The 403 of a deactivated member's key: problem+json with a type of its own."""
    assert answer.status_code == 403, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["type"].endswith("/problems/staff-deactivated")
    assert problem["title"] == "Staff member deactivated"
    assert problem["status"] == 403


async def refusals_audited(
    http: httpx.AsyncClient, admin: dict[str, str], staff_id: Any
) -> list[dict[str, Any]]:
    """The member's refused requests in the service's audit trail (read with an admin key)."""
    answer = await http.get("/audit", params={"actor_id": str(staff_id)}, headers=admin)
    assert answer.status_code == 200, answer.text
    return [
        e
        for e in answer.json()["items"]
        if e["actor"] == {"kind": "staff", "id": str(staff_id)} and e["status"] == 403
    ]
