"""What crosses `crisis.staff_replies` of a staff member's text: a coded command (the ACK
code upper-cased, STOP/START/HELP in any of notify's languages, else `other`) and the
number's staff-phone digests, equal to crisis's own for the same number however written."""

import pytest

from counseling_shared.codes import AlertOutcome
from counseling_shared.sms_keywords import parse
from counseling_shared.staff_replies import (
    REPLY_WORDS,
    StaffCommand,
    StaffText,
    bare_reply_word,
    fold,
    read,
    sender_digests,
)
from crisis.domain.phones import key_fingerprint, phone_digest


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ACK 1A2B3C", StaffText(StaffCommand.ACK, "1A2B3C")),
        ("  ack 1a2b3c ", StaffText(StaffCommand.ACK, "1A2B3C")),
        ("ACK 1A2B3", StaffText(StaffCommand.OTHER)),  # a typo: crisis answers how to ACK
        ("ACK 1A2B3C please", StaffText(StaffCommand.OTHER)),
        ("ESC 1A2B3C", StaffText(StaffCommand.ESCALATE, "1A2B3C")),
        (" esc 1a2b3c", StaffText(StaffCommand.ESCALATE, "1A2B3C")),
        ("ESCALATE 1A2B3C", StaffText(StaffCommand.OTHER)),  # answered with how to ESC
        ("RES 1A2B3C", StaffText(StaffCommand.RESOLVE, "1A2B3C")),  # answered the list
        (" res 1a2b3c 1 ", StaffText(StaffCommand.RESOLVE, "1A2B3C", AlertOutcome.SAFETY_PLAN)),
        ("RES 1A2B3C 5", StaffText(StaffCommand.RESOLVE, "1A2B3C", AlertOutcome.NO_RISK_FOUND)),
        ("RES 1A2B3C 6", StaffText(StaffCommand.RESOLVE, "1A2B3C")),  # no such digit: the list
        ("RES 1A2B3C police", StaffText(StaffCommand.RESOLVE, "1A2B3C")),
        ("RES 1A2B3C 1 2", StaffText(StaffCommand.OTHER)),
        ("RESOLVE 1A2B3C 1", StaffText(StaffCommand.OTHER)),
        ("Stop!", StaffText(StaffCommand.STOP)),
        ("СТОП", StaffText(StaffCommand.STOP)),
        ("start", StaffText(StaffCommand.START)),
        ("aide", StaffText(StaffCommand.HELP)),
        ("on my way", StaffText(StaffCommand.OTHER)),
    ],
)
def test_a_staff_text_is_read_into_a_coded_command(text: str, expected: StaffText) -> None:
    assert read(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PRIS 1A2B3C", StaffText(StaffCommand.ACK, "1A2B3C")),
        ("  prise 1a2b3c ", StaffText(StaffCommand.ACK, "1A2B3C")),
        (
            "Résolu 1A2B3C 2",
            StaffText(StaffCommand.RESOLVE, "1A2B3C", AlertOutcome("referred_emergency")),
        ),
        ("RESOLUE 1A2B3C", StaffText(StaffCommand.RESOLVE, "1A2B3C")),
        ("résolu 1A2B3C", StaffText(StaffCommand.RESOLVE, "1A2B3C")),
        ("확인 1A2B3C", StaffText(StaffCommand.ACK, "1A2B3C")),
        ("해결 1a2b3c 5", StaffText(StaffCommand.RESOLVE, "1A2B3C", AlertOutcome.NO_RISK_FOUND)),
        ("принято 1A2B3C", StaffText(StaffCommand.ACK, "1A2B3C")),
        ("Приняла 1A2B3C", StaffText(StaffCommand.ACK, "1A2B3C")),
        ("РЕШЕНО 1A2B3C 1", StaffText(StaffCommand.RESOLVE, "1A2B3C", AlertOutcome.SAFETY_PLAN)),
        ("PRIS 1A2B3C merci", StaffText(StaffCommand.OTHER)),
        # An ordinary answer to a text is never an acknowledgement ("ok thanks" has 6 letters).
        ("OK THANKS", StaffText(StaffCommand.OTHER)),
        ("ok 1A2B3C", StaffText(StaffCommand.OTHER)),
        ("oui 1A2B3C", StaffText(StaffCommand.OTHER)),
        ("ОК 1A2B3C", StaffText(StaffCommand.OTHER)),  # noqa: RUF001 (Cyrillic on purpose)
        ("확인", StaffText(StaffCommand.OTHER)),
    ],
)
def test_each_staff_languages_words_are_read_whatever_the_case_and_accents(
    text: str, expected: StaffText
) -> None:
    assert read(text) == expected


def test_no_reply_word_means_two_things_nor_is_a_stop_start_or_help_keyword() -> None:
    """Every language's words are read from everyone: one word, one command, in any
    language, and none that STOP, START or HELP would be in any language."""
    meanings: dict[str, set[StaffCommand]] = {}
    for words in REPLY_WORDS.values():
        for command, spelled in words.items():
            for word in spelled:
                meanings.setdefault(fold(word), set()).add(command)
                assert parse(word).keyword is None, word
                assert read(f"{word} 1A2B3C").command is command, word
    assert all(len(commands) == 1 for commands in meanings.values()), meanings
    assert {command for words in REPLY_WORDS.values() for command in words} <= {
        StaffCommand.ACK,
        StaffCommand.ESCALATE,
        StaffCommand.RESOLVE,
    }
    assert all(StaffCommand.ACK in words for words in REPLY_WORDS.values())
    assert all(StaffCommand.RESOLVE in words for words in REPLY_WORDS.values())


def test_the_request_carries_crisiss_digests_under_each_key_and_no_number() -> None:
    keys = ["current-key-" + "c" * 32, "previous-key-" + "p" * 32]

    sender = sender_digests(keys, "0033 6 12 34 56 78")
    request = read("ack 1a2b3c").as_request(sender)

    assert request == {
        "sender": [
            {"key": key_fingerprint(k), "digest": phone_digest(k, "+33612345678")} for k in keys
        ],
        "command": "ack",
        "code": "1A2B3C",
    }
    assert "612345678" not in str(request)


def test_res_digits_follow_the_outcomes_order_and_only_a_chosen_one_crosses() -> None:
    assert [read(f"RES 1A2B3C {n}").outcome for n in range(1, 6)] == [
        AlertOutcome.SAFETY_PLAN,
        AlertOutcome.REFERRED_EMERGENCY,
        AlertOutcome.REFERRED_HOSPITAL,
        AlertOutcome.POLICE,
        AlertOutcome.NO_RISK_FOUND,
    ]
    assert read("RES 1a2b3c 3").as_request([]) == {
        "sender": [],
        "command": "resolve",
        "code": "1A2B3C",
        "resolve_outcome": "referred_hospital",
    }
    assert "resolve_outcome" not in read("RES 1A2B3C").as_request([])


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("확인", StaffCommand.ACK),
        (" 확인. ", StaffCommand.ACK),
        ("résolue!", StaffCommand.RESOLVE),
        ("ack", StaffCommand.ACK),
        ("확인 1A2B3C", None),
        ("C", None),
        ("취소", None),
        ("", None),
    ],
)
def test_a_bare_reply_word_is_read_without_its_code(
    text: str, command: StaffCommand | None
) -> None:
    assert bare_reply_word(text) == command
