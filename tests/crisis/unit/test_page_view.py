"""What the on-call page says: staff by name (a short id for one crisis has no name for),
channels in words of the reader's language, times with their zone."""

from datetime import UTC, datetime
from uuid import uuid4

from crisis.entrypoints.page_i18n import time_formatter, translator, when_formatter
from crisis.entrypoints.page_view import PageView, staff_ids_in

AT = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)


def _view(me: object, other: object, unnamed: object) -> dict[str, object]:
    return {
        "id": uuid4(),
        "status": "acknowledged",
        "level": "high",
        "current_level": 1,
        "opened_at": AT,
        "acknowledged_at": AT,
        "acknowledged_by": other,
        "resolved_at": None,
        "resolved_by": None,
        "pages": [{"staff_id": me, "level": 1, "requested_at": AT, "sent_at": AT}],
        "timeline": [
            {"at": AT, "kind": "page_sent", "staff_id": str(me), "channel": "sms"},
            {"at": AT, "kind": "oncall_resolved", "staff_ids": [str(unnamed)], "level": 2},
        ],
    }


def test_staff_are_named_and_channels_are_words_of_the_readers_language() -> None:
    me, other, unnamed = uuid4(), uuid4(), uuid4()
    view = _view(me, other, unnamed)
    assert staff_ids_in(view) == {str(me), str(other), str(unnamed)}
    names = {str(me): "Alex Martin", str(other): "Bea Kim"}
    page = PageView(view, me, translator("fr"), when_formatter("fr", "Europe/Paris"), names)
    assert page.alert()["acknowledged_text"] == "Bea Kim, le 5 déc. 2026, 04:00:00 (Paris)"
    assert page.pages()[0]["who"] == "Alex Martin (vous)"
    steps = [step["text"] for step in page.timeline()]
    assert steps[0] == "Appel à Alex Martin (vous) envoyé par SMS"
    assert str(unnamed)[:8] in steps[1]
    ko = PageView(view, me, translator("ko"), when_formatter("ko", "Asia/Seoul"), names)
    assert ko.channel_text("email") == "이메일"
    assert "sms" not in ko.timeline()[0]["text"]


def test_the_update_time_says_its_zone() -> None:
    assert time_formatter("fr", "Europe/Paris")(AT) == "04:00 (Paris)"
    assert time_formatter("en", "America/New_York")(AT) == "10:00\u202fPM (New York)"
