"""GET /notifications a page at a time, newest first: the pages join up, once each."""

from uuid import uuid4

import pytest

from counseling_shared.codes import RiskLevel
from counseling_shared.events import PageRequested
from tests.notify.integration.conftest import Notify, eventually

pytestmark = pytest.mark.integration


async def test_a_recipients_notifications_come_in_pages(notify: Notify) -> None:
    site_id = await notify.new_site()
    staff_id = await notify.new_staff(site_id)
    for _ in range(3):  # two notifications each: SMS and email
        alert_id = uuid4()
        await notify.publish(
            PageRequested(
                alert_id=alert_id,
                page_id=uuid4(),
                staff_id=staff_id,
                site_id=site_id,
                level=1,
                risk_level=RiskLevel.HIGH,
            ),
            source="crisis",
            subject=alert_id,
        )
    everyone = await eventually(lambda: _when_count(notify, str(staff_id), 6), timeout=15)

    pages: list[list[str]] = []
    params = {"recipient_id": str(staff_id), "limit": "4"}
    while True:
        answer = await notify.http.get("/notifications", params=params)
        assert answer.status_code == 200, answer.text
        pages.append([n["id"] for n in answer.json()])
        if "next-cursor" not in answer.headers:
            break
        params = {**params, "cursor": answer.headers["next-cursor"]}

    assert [len(p) for p in pages] == [4, 2]
    assert [n for p in pages for n in p] == everyone


async def _when_count(notify: Notify, recipient_id: str, count: int) -> list[str]:
    rows = await notify.notifications(recipient_id=recipient_id)
    return [r["id"] for r in rows] if len(rows) == count else []
