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


def test_the_fallback_staffs_page_says_fallback_not_a_level_past_the_last() -> None:
    """A one-level policy pages its fallback staff at level 2: the page must not say "level 2"
    (a level the policy does not have) but that it is the fallback's."""
    me, first = uuid4(), uuid4()
    view: dict[str, object] = {
        "policy": {"levels": [{"staff_ids": [str(first)]}], "repeat": 0},
        "pages": [
            {"staff_id": first, "level": 1, "requested_at": AT, "sent_at": AT},
            {"staff_id": me, "level": 2, "requested_at": AT, "sent_at": None, "failed_at": None},
        ],
        "timeline": [
            {"at": AT, "kind": "page_requested", "staff_id": str(first), "level": 1},
            {"at": AT, "kind": "exhausted", "level": 1},
            {"at": AT, "kind": "page_requested", "staff_id": str(me), "level": 2},
        ],
    }
    names = {str(me): "Alex Martin", str(first): "Bea Kim"}

    en = PageView(view, me, translator("en"), when_formatter("en", "UTC"), names)
    fr = PageView(view, me, translator("fr"), when_formatter("fr", "UTC"), names)

    assert [p["fallback"] for p in en.pages()] == [False, True]
    steps = [step["text"] for step in en.timeline()]
    assert steps[0] == "Page requested for Bea Kim (level 1)"
    assert steps[2] == "Page requested for Alex Martin (you) (fallback)"
    assert fr.timeline()[2]["text"] == "Appel demandé pour Alex Martin (vous) (dernier recours)"


def test_a_round_robin_turn_says_whose_turn_it_was_in_the_readers_language() -> None:
    me = uuid4()
    view: dict[str, object] = {
        "pages": [{"staff_id": me, "level": 1, "requested_at": AT, "sent_at": None}],
        "timeline": [
            {"at": AT, "kind": "round_robin_turn", "staff_id": str(me), "level": 1, "turn": 7},
        ],
    }
    names = {str(me): "Alex Martin"}

    en = PageView(view, me, translator("en"), when_formatter("en", "UTC"), names)
    fr = PageView(view, me, translator("fr"), when_formatter("fr", "UTC"), names)

    assert en.timeline()[0]["text"] == "Round robin: turn 7 went to Alex Martin (you) (level 1)"
    assert fr.timeline()[0]["text"] == ("Tour de rôle : tour 7 pour Alex Martin (vous) (niveau 1)")


def test_a_round_robin_turn_given_again_says_the_alert_had_paged_everyone() -> None:
    me = uuid4()
    step = {"at": AT, "kind": "round_robin_turn", "staff_id": str(me), "level": 2, "turn": 9}
    view: dict[str, object] = {"pages": [], "timeline": [{**step, "everyone_paged": True}]}
    names = {str(me): "Alex Martin"}

    en = PageView(view, me, translator("en"), when_formatter("en", "UTC"), names)
    ru = PageView(view, me, translator("ru"), when_formatter("ru", "UTC"), names)

    assert en.timeline()[0]["text"] == (
        "Round robin: turn 9 went to Alex Martin (you) again: this alert had paged everyone"
        " in level 2"
    )
    assert ru.timeline()[0]["text"].startswith("По очереди: ход 9 снова")
