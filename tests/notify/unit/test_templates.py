"""Messages in each language, with times in the recipient's own zone."""

import re
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from counseling_shared.staff_replies import REPLY_WORDS, StaffCommand, StaffText, read
from notify.adapters.templates import JinjaRenderer
from notify.application.ports import TemplateMissing
from notify.domain.codes import Template
from notify.domain.locales import WRITTEN_LANGUAGES, message_locale
from notify.domain.notification import Params

RENDERER = JinjaRenderer()
START = "2030-05-14T06:00:00+00:00"  # a Tuesday
APPOINTMENT = {
    "appointment_id": str(uuid4()),
    "start": START,
    "end": "2030-05-14T06:50:00+00:00",
    "modality": "in_person",
    "previous_start": "2030-05-13T06:00:00+00:00",
    "cancelled_by": "client",
    "late": False,
    "site_name": "Riverside",
}
WAITLIST_OFFER = {
    "offer_id": str(uuid4()),
    "start": START,
    "end": "2030-05-14T06:50:00+00:00",
    "expires_at": "2030-05-13T09:15:00+00:00",
    "accept_url": "https://booking.example/waitlist/offers/1/accept?token=abc",
    "site_name": "Riverside",
}
FEE = {"fee_amount": "40.00", "fee_currency": "EUR"}
SERIES = {
    "series_id": str(uuid4()),
    "modality": "online",
    "count": 10,
    "occurrences": [  # what notify lists of a 10-week series: its first dates
        {"start": f"2030-{day}T06:00:00+00:00", "end": f"2030-{day}T06:50:00+00:00"}
        for day in ("05-14", "05-21", "05-28", "06-04")
    ],
    "more": 6,
    "first_start": START,
    "last_start": "2030-07-16T06:00:00+00:00",
    "site_name": "Riverside",
}
GROUP_SERIES = {  # a client's seats in a 6-week group: every date listed
    "group_series_id": str(uuid4()),
    "modality": "in_person",
    "count": 6,
    "occurrences": [
        {"start": f"2030-{day}T16:00:00+00:00", "end": f"2030-{day}T17:30:00+00:00"}
        for day in ("05-14", "05-21", "05-28", "06-04", "06-11", "06-18")
    ],
    "more": 0,
    "first_start": "2030-05-14T16:00:00+00:00",
    "last_start": "2030-06-18T16:00:00+00:00",
    "site_name": "Riverside",
}
GROUP_LEFT = {**GROUP_SERIES, "cause": "left", "cancelled_by": "client"}
ALERT_ID = str(uuid4())
PAGE = {"alert_id": ALERT_ID, "page_id": str(uuid4()), "level": 2, "alert_url": "https://c/a/1"}
ELEVATED = {
    "client_id": str(uuid4()),
    "followup_id": str(uuid4()),
    "instrument": "phq9",
    "score": 17,
    "max_score": 27,
    "band": "moderately_severe",
    "site_name": "Riverside",
}
SWAP = {
    "swap_request_id": str(uuid4()),
    "schedule_id": str(uuid4()),
    "requester_id": str(uuid4()),
    "requester_name": "Ana Ruiz",
    "start": "2030-03-09T22:00:00+00:00",  # across New York's change to summer time
    "end": "2030-03-10T14:00:00+00:00",
    "site_name": "Riverside",
}
SWAP_TAKEN = {**SWAP, "taken_by": str(uuid4()), "taker_name": "Ben Ito"}
EVERY_MESSAGE: list[tuple[Template, Params]] = [
    (Template.APPOINTMENT_BOOKED, APPOINTMENT),
    (Template.APPOINTMENT_RESCHEDULED, APPOINTMENT),
    (Template.APPOINTMENT_CANCELLED, APPOINTMENT),
    (Template.APPOINTMENT_CANCELLED, {**APPOINTMENT, "cancelled_by": "center"}),
    (Template.FOLLOWUP_DUE, {"kind": "checkin", "site_name": None}),
    (Template.FOLLOWUP_DUE, {"kind": "no_show_outreach", "site_name": "Riverside"}),
    (Template.FOLLOWUP_DUE, {"kind": "post_closure", "site_name": None}),
    (Template.FOLLOWUP_DUE, {"kind": "satisfaction", "site_name": "Riverside"}),
    (Template.FOLLOWUP_DUE, {"kind": "reminder", "site_name": None, "appointment_start": START}),
    (Template.CRISIS_PAGE, {**PAGE, "site_name": "Riverside"}),
    (Template.WAITLIST_OFFER, WAITLIST_OFFER),
    (
        Template.CALLBACK_REQUESTED,
        {"client_id": str(uuid4()), "followup_id": str(uuid4()), "site_name": None},
    ),
    (Template.ELEVATED_SCORE, {**ELEVATED, "site_name": None}),
    (
        Template.ELEVATED_SCORE,
        {**ELEVATED, "instrument": "gad7", "max_score": 21, "band": "severe"},
    ),
    (Template.MISSED_SESSION_FEE, {**APPOINTMENT, "reason": "no_show", **FEE}),
    (Template.MISSED_SESSION_FEE, {**APPOINTMENT, "reason": "late_cancellation", **FEE}),
    (Template.APPOINTMENT_SERIES_BOOKED, SERIES),
    (Template.APPOINTMENT_SERIES_BOOKED, {**SERIES, "count": 2, "more": 0, "site_name": None}),
    (Template.APPOINTMENT_SERIES_CANCELLED, {**SERIES, "cancelled_by": "client"}),
    (Template.APPOINTMENT_SERIES_CANCELLED, {**SERIES, "cancelled_by": "center"}),
    (Template.GROUP_SERIES_SEAT_TAKEN, GROUP_SERIES),
    (Template.GROUP_SERIES_SEAT_TAKEN, {**SERIES, "site_name": None}),
    (Template.GROUP_SERIES_SEAT_CANCELLED, GROUP_LEFT),
    (Template.GROUP_SERIES_SEAT_CANCELLED, {**GROUP_LEFT, "cancelled_by": "center"}),
    (
        Template.GROUP_SERIES_SEAT_CANCELLED,
        {**SERIES, "cause": "series_cancelled", "cancelled_by": "center", "site_name": None},
    ),
    (Template.SHIFT_SWAP_REQUESTED, SWAP),
    (Template.SHIFT_SWAP_REQUESTED, {**SWAP, "requester_name": None, "site_name": None}),
    (Template.SHIFT_SWAP_TAKEN, SWAP_TAKEN),
    (Template.SHIFT_SWAP_TAKEN, {**SWAP_TAKEN, "taker_name": None}),
    (Template.SHIFT_SWAP_ON_CALL, SWAP_TAKEN),
    (Template.SHIFT_SWAP_ON_CALL, {**SWAP_TAKEN, "requester_name": None, "site_name": None}),
    (Template.SHIFT_SWAP_CANCELLED, SWAP),
    (Template.SHIFT_SWAP_EXPIRED, SWAP),
]


def render(template: Template, params: Params, locale: str, zone: str = "UTC") -> str:
    message = RENDERER.render(template, params, message_locale(locale), ZoneInfo(zone))
    return "\n".join((message.subject, message.body, message.short))


@pytest.mark.parametrize("language", WRITTEN_LANGUAGES)
@pytest.mark.parametrize(("template", "params"), EVERY_MESSAGE)
def test_every_message_is_written_in_every_language(
    language: str, template: Template, params: Params
) -> None:
    message = RENDERER.render(template, params, message_locale(language), ZoneInfo("UTC"))
    assert message.subject
    assert "\n" not in message.subject
    assert len(message.body) > len(message.short) > 20
    for text in (message.subject, message.body, message.short):
        assert "{{" not in text
        assert "None" not in text
        assert "  " not in text.replace("\n", "")


@pytest.mark.parametrize(
    ("locale", "zone", "expected"),
    [
        ("en", "America/New_York", ["Tuesday, May 14, 2030", "2:00\u202fAM"]),
        ("ko", "Asia/Seoul", ["2030년 5월 14일 화요일", "오후 3:00"]),
        ("fr", "Europe/Paris", ["mardi 14 mai 2030", "08:00"]),
        ("fr-CA", "America/Montreal", ["mardi 14 mai 2030", "02 h 00"]),
        ("ru", "Europe/Moscow", ["вторник, 14 мая 2030", "09:00"]),
    ],
)
def test_an_appointment_is_shown_in_the_recipients_zone_and_language(
    locale: str, zone: str, expected: list[str]
) -> None:
    text = render(Template.APPOINTMENT_BOOKED, APPOINTMENT, locale, zone)
    for fragment in expected:
        assert fragment in text


def test_the_same_instant_reads_differently_in_two_zones() -> None:
    seoul = render(Template.APPOINTMENT_BOOKED, APPOINTMENT, "en", "Asia/Seoul")
    paris = render(Template.APPOINTMENT_BOOKED, APPOINTMENT, "en", "Europe/Paris")
    assert "3:00\u202fPM" in seoul
    assert "8:00\u202fAM" in paris


def test_an_unwritten_language_gets_english_with_english_dates() -> None:
    text = render(Template.APPOINTMENT_BOOKED, APPOINTMENT, "de-DE", "Europe/Berlin")
    assert "Your appointment" in text
    assert "Tuesday, May 14, 2030" in text


def test_each_followup_kind_has_its_own_words() -> None:
    subjects = {
        kind: RENDERER.render(
            Template.FOLLOWUP_DUE,
            {"kind": kind, "site_name": None},
            message_locale("en"),
            ZoneInfo("UTC"),
        ).subject
        for kind in ("checkin", "no_show_outreach", "post_closure", "satisfaction")
    }
    assert len(set(subjects.values())) == 4


@pytest.mark.parametrize("language", WRITTEN_LANGUAGES)
def test_a_page_carries_the_alert_link_and_id_in_every_form(language: str) -> None:
    message = RENDERER.render(
        Template.CRISIS_PAGE,
        {**PAGE, "site_name": None},
        message_locale(language),
        ZoneInfo("UTC"),
    )
    for text in (message.body, message.short):
        assert "https://c/a/1" in text
        assert ALERT_ID in text


NO_TWO = "a1b3c4d5-e6f7-4a8b-9c0d-1e3f4a5b6c7d"
FALLBACK_WORDS = {
    "en": "fallback",
    "fr": "dernier recours",
    "ko": "최종 대체",
    "ru": "резервный",
}


@pytest.mark.parametrize("language", WRITTEN_LANGUAGES)
def test_a_fallback_page_says_so_in_every_form_and_never_its_level_number(language: str) -> None:
    """The fallback staff's page is one past the last level (2 for a one-level policy): its
    texts say it is the fallback page instead of that number; other pages keep their level."""
    page = {**PAGE, "alert_id": NO_TWO, "level": 2, "site_name": None}  # no other "2" in it
    message = RENDERER.render(
        Template.CRISIS_PAGE, {**page, "fallback": True}, message_locale(language), ZoneInfo("UTC")
    )
    level_page = RENDERER.render(
        Template.CRISIS_PAGE, page, message_locale(language), ZoneInfo("UTC")
    )

    for text in (message.subject, message.body, message.short):
        assert FALLBACK_WORDS[language] in text
        assert "2" not in text  # the level's number is nowhere
    assert all("2" in text for text in (level_page.subject, level_page.body, level_page.short))
    assert FALLBACK_WORDS[language] not in level_page.body + level_page.short


def test_a_missing_parameter_is_a_template_error_not_a_crash() -> None:
    with pytest.raises(TemplateMissing):
        RENDERER.render(Template.CRISIS_PAGE, {"level": 1}, message_locale("en"), ZoneInfo("UTC"))


def test_an_unknown_followup_kind_is_a_template_error() -> None:
    with pytest.raises(TemplateMissing):
        RENDERER.render(
            Template.FOLLOWUP_DUE, {"kind": "séance"}, message_locale("en"), ZoneInfo("UTC")
        )


@pytest.mark.parametrize("language", WRITTEN_LANGUAGES)
@pytest.mark.parametrize("kind", ["checkin", "no_show_outreach", "post_closure", "satisfaction"])
def test_a_followup_with_a_response_link_carries_it_in_every_form(language: str, kind: str) -> None:
    url = "https://f/followups/1/response?token=abc.def"
    message = RENDERER.render(
        Template.FOLLOWUP_DUE,
        {"kind": kind, "site_name": None, "response_url": url},
        message_locale(language),
        ZoneInfo("UTC"),
    )
    for text in (message.body, message.short):
        assert text.count(url) == 1
        assert "  " not in text.replace("\n", "")
    without = RENDERER.render(
        Template.FOLLOWUP_DUE,
        {"kind": kind, "site_name": None, "response_url": None},
        message_locale(language),
        ZoneInfo("UTC"),
    )
    assert "https://" not in without.body + without.short


@pytest.mark.parametrize(
    ("locale", "amount"),
    [("en", "€40.00"), ("fr", "40,00\u00a0€"), ("ko", "€40.00"), ("ru", "40,00\u00a0€")],
)
def test_a_missed_session_fee_is_stated_in_the_clients_language_with_its_amount(
    locale: str, amount: str
) -> None:
    params = {**APPOINTMENT, "reason": "no_show", **FEE}
    message = RENDERER.render(
        Template.MISSED_SESSION_FEE, params, message_locale(locale), ZoneInfo("Europe/Paris")
    )
    for text in (message.body, message.short):
        assert amount in text, text
    assert (
        message.body
        != RENDERER.render(
            Template.MISSED_SESSION_FEE,
            {**params, "reason": "late_cancellation"},
            message_locale(locale),
            ZoneInfo("Europe/Paris"),
        ).body
    )


def test_a_fee_with_a_bad_amount_is_a_template_error_not_a_crash() -> None:
    params = {**APPOINTMENT, "reason": "no_show", "fee_amount": "forty", "fee_currency": "EUR"}
    with pytest.raises(TemplateMissing):
        RENDERER.render(Template.MISSED_SESSION_FEE, params, message_locale("en"), ZoneInfo("UTC"))


@pytest.mark.parametrize(
    ("locale", "zone", "expected"),
    [
        ("en", "America/New_York", "Tuesday, May 14, 2030"),
        ("ko", "Asia/Seoul", "2030년 5월 14일 화요일"),
        ("fr", "Europe/Paris", "mardi 14 mai 2030"),
        ("ru", "Europe/Moscow", "вторник, 14 мая 2030"),
    ],
)
def test_a_waitlist_offer_carries_its_accept_link_in_the_clients_language(
    locale: str, zone: str, expected: str
) -> None:
    text = render(Template.WAITLIST_OFFER, WAITLIST_OFFER, locale, zone)

    assert expected in text
    assert text.count(WAITLIST_OFFER["accept_url"]) == 2  # in the email and in the SMS


@pytest.mark.parametrize(
    ("locale", "zone", "expected"),
    [
        ("en", "America/New_York", "Tuesday, May 14, 2030"),
        ("ko", "Asia/Seoul", "2030년 5월 14일 화요일"),
        ("fr", "Europe/Paris", "mardi 14 mai 2030"),
        ("ru", "Europe/Moscow", "вторник, 14 мая 2030"),
    ],
)
def test_a_reminder_shows_the_appointment_in_the_clients_zone_and_language(
    locale: str, zone: str, expected: str
) -> None:
    params = {"kind": "reminder", "site_name": None, "appointment_start": START}
    text = render(Template.FOLLOWUP_DUE, params, locale, zone)
    assert expected in text


@pytest.mark.parametrize("language", WRITTEN_LANGUAGES)
def test_a_reminder_carries_the_confirm_or_cancel_link_in_every_language(language: str) -> None:
    link = "https://booking.example/appointments/4b1c/manage?token=eyJzIjoi.signed"
    params = {"kind": "reminder", "site_name": "Riverside", "appointment_start": START}
    message = RENDERER.render(
        Template.FOLLOWUP_DUE,
        {**params, "manage_url": link},
        message_locale(language),
        ZoneInfo("UTC"),
    )
    assert link in message.short  # SMS and messaging
    assert link in message.body  # email
    without = RENDERER.render(
        Template.FOLLOWUP_DUE, params, message_locale(language), ZoneInfo("UTC")
    )
    assert "token" not in without.body  # a reminder planned before the link renders as before


@pytest.mark.parametrize("language", WRITTEN_LANGUAGES)
def test_a_pages_sms_carries_the_signed_link_and_the_reply_code_in_every_language(
    language: str,
) -> None:
    link = "https://crisis.example/pages/7f3c?token=eyJzIjoi.signed"
    params = {**PAGE, "alert_url": link, "reply_code": "7F3C1A", "site_name": "Riverside"}
    message = RENDERER.render(
        Template.CRISIS_PAGE, params, message_locale(language), ZoneInfo("UTC")
    )
    assert link in message.short
    assert link in message.body
    # The reply in the staff member's language (English's is ACK), which crisis reads as ACK.
    word = REPLY_WORDS[language][StaffCommand.ACK][0]
    assert f"{word} 7F3C1A" in message.short
    assert read(f"{word} 7F3C1A") == StaffText(StaffCommand.ACK, "7F3C1A")
    without = RENDERER.render(Template.CRISIS_PAGE, PAGE, message_locale(language), ZoneInfo("UTC"))
    assert "ACK" not in without.short  # a page stored before reply codes renders as before
    assert f"{word} " not in without.short


@pytest.mark.parametrize("language", WRITTEN_LANGUAGES)
def test_a_preloaded_page_is_rendered_without_compiling_anything(
    language: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    renderer = JinjaRenderer()
    renderer.preload([Template.CRISIS_PAGE])
    env: Any = renderer._env
    compile_now = env.compile
    compiled: list[Any] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        compiled.append(args[1:2] or kwargs.get("name"))
        return compile_now(*args, **kwargs)

    monkeypatch.setattr(env, "compile", counting)
    page = {**PAGE, "site_name": "Riverside"}

    renderer.render(Template.CRISIS_PAGE, page, message_locale(language), ZoneInfo("UTC"))

    assert compiled == []


@pytest.mark.parametrize(
    ("locale", "dates", "more", "zone"),
    [
        (
            "en",
            ("Tuesday, May 14, 2030", "Tuesday, June 4, 2030", "8:00 AM"),
            "and 6 more",
            "Central European Summer Time",
        ),
        (
            "fr",
            ("mardi 14 mai 2030", "mardi 4 juin 2030", "08:00"),
            "et 6 autres",
            "été d\u2019Europe centrale",
        ),
        (
            "ko",
            ("2030년 5월 14일 화요일", "2030년 6월 4일 화요일", "오전 8:00"),
            "외 6회",
            "중부유럽 하계 표준시",
        ),
        (
            "ru",
            ("вторник, 14 мая 2030", "вторник, 4 июня 2030", "08:00"),
            "и ещё 6",
            "Центральная Европа, летнее время",
        ),
    ],
)
def test_a_series_confirmation_lists_its_first_dates_and_how_many_more_in_the_clients_zone(
    locale: str, dates: tuple[str, ...], more: str, zone: str
) -> None:
    message = RENDERER.render(
        Template.APPOINTMENT_SERIES_BOOKED, SERIES, message_locale(locale), ZoneInfo("Europe/Paris")
    )

    body = message.body.replace("\u202f", " ")  # CLDR's narrow no-break spaces
    for shown in dates:
        assert shown in body
    assert more in body
    assert zone in body
    assert "10" in message.subject
    assert "10" in message.short
    assert "21" not in message.short  # the SMS lists no dates but the first and last


@pytest.mark.parametrize(
    ("locale", "closed"),
    [
        ("en", "We are closed on these days"),
        ("fr", "Nous sommes fermés ces jours-là"),
        ("ko", "휴무일이라 상담이 없습니다"),
        ("ru", "дни мы закрыты"),
    ],
)
def test_a_series_confirmation_names_the_closed_dates_it_left_out(locale: str, closed: str) -> None:
    skipping = {**SERIES, "skipped": [{"start": "2030-05-07T06:00:00+00:00"}]}

    with_gap = render(Template.APPOINTMENT_SERIES_BOOKED, skipping, locale, "Europe/Paris")
    without = render(Template.APPOINTMENT_SERIES_BOOKED, SERIES, locale, "Europe/Paris")

    assert closed in with_gap
    listed = with_gap.split(closed, 1)[1].splitlines()[2]  # the first date under it
    assert listed.startswith("- ")
    assert "7" in listed
    assert "2030" in listed
    assert closed not in without  # params stored before name no gap, and still render


@pytest.mark.parametrize(
    ("locale", "dates", "group"),
    [
        (
            "en",
            ("Tuesday, May 14, 2030", "Tuesday, June 18, 2030", "6:00 PM", "7:30 PM"),
            "place in a group",
        ),
        ("fr", ("mardi 14 mai 2030", "mardi 18 juin 2030", "18:00", "19:30"), "séances de groupe"),
        ("ko", ("2030년 5월 14일 화요일", "2030년 6월 18일 화요일", "오후 6:00"), "그룹 상담"),
        ("ru", ("вторник, 14 мая 2030", "вторник, 18 июня 2030", "18:00", "19:30"), "в группе"),
    ],
)
def test_a_group_seat_confirmation_lists_every_date_in_the_clients_zone_and_language(
    locale: str, dates: tuple[str, ...], group: str
) -> None:
    message = RENDERER.render(
        Template.GROUP_SERIES_SEAT_TAKEN,
        GROUP_SERIES,
        message_locale(locale),
        ZoneInfo("Europe/Paris"),
    )

    body = message.body.replace("\u202f", " ")  # CLDR's narrow no-break spaces
    for shown in dates:
        assert shown in body
    assert group in body
    assert body.count("\n- ") == 6  # six dates, none left out
    assert "6" in message.subject
    assert "6" in message.short


@pytest.mark.parametrize(
    ("params", "says"),
    [
        (GROUP_LEFT, "As you asked, your place in the group"),
        ({**GROUP_LEFT, "cancelled_by": "center"}, "Your place in the group at Riverside"),
        ({**GROUP_LEFT, "cause": "series_cancelled"}, "We are sorry: the group"),
    ],
)
def test_a_group_seat_notice_says_why_it_was_cancelled(params: Params, says: str) -> None:
    text = render(Template.GROUP_SERIES_SEAT_CANCELLED, params, "en", "Europe/Paris")

    assert says in text
    assert "6 group sessions" in text


def test_a_series_across_a_dst_change_names_the_zone_without_a_season() -> None:
    winter = {**SERIES, "first_start": "2030-03-11T16:00:00+00:00"}

    text = render(
        Template.APPOINTMENT_SERIES_CANCELLED,
        {**winter, "cancelled_by": "client"},
        "en",
        "Europe/Paris",
    )

    assert "Times: Central European Time" in text


@pytest.mark.parametrize(
    ("language", "score", "band"),
    [
        ("en", "17 out of 27", "moderately severe"),
        ("fr", "17 sur 27", "modérément sévère"),
        ("ko", "27점 만점에 17점", "중등도-중증"),
        ("ru", "17 из 27", "умеренно тяжёлая"),
    ],
)
def test_an_elevated_score_is_in_the_body_only_in_the_counselors_language(
    language: str, score: str, band: str
) -> None:
    message = RENDERER.render(
        Template.ELEVATED_SCORE, ELEVATED, message_locale(language), ZoneInfo("UTC")
    )
    assert score in message.body
    assert band in message.body
    assert str(ELEVATED["client_id"]) in message.body  # the client by id only
    # A subject and a text show on a locked screen: neither carries the score or its band.
    for shown in (message.subject, message.short):
        assert re.search(r"\b17\b", shown) is None  # (the client's id may hold "17")
        assert band not in shown


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        (
            "en",
            ["Saturday, March 9, 2030", "5:00\u202fPM", "Sunday, March 10, 2030", "10:00\u202fAM"],
        ),
        ("ko", ["2030년 3월 9일 토요일", "오후 5:00", "2030년 3월 10일 일요일", "오전 10:00"]),
        ("fr", ["samedi 9 mars 2030", "17:00", "dimanche 10 mars 2030", "10:00"]),
        ("ru", ["с 9 марта 2030\u202fг., 17:00 до 10 марта 2030\u202fг., 10:00"]),  # noqa: RUF001 - Russian text
    ],
)
def test_a_swap_names_the_shift_in_the_staff_members_zone_across_a_dst_change(
    locale: str, expected: list[str]
) -> None:
    """22:00Z is 17:00 EST the evening before the change; 14:00Z is 10:00 EDT after it."""
    text = render(Template.SHIFT_SWAP_REQUESTED, SWAP, locale, "America/New_York")

    for part in expected:
        assert part in text
    assert "Ana Ruiz" in text
    assert SWAP["swap_request_id"] in text
