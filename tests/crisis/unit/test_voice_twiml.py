"""The TwiML of a page's call: one key gathered, said in the staff member's language, the
code spelled out, nothing clinical, and XML-safe."""

import xml.etree.ElementTree as ET  # our own TwiML, not untrusted input

import pytest

from crisis.application.voice_calls import answered_by, call_outcome, valid_code
from crisis.entrypoints.voice_twiml import final, hang_up, prompt


@pytest.mark.parametrize(
    ("language", "say"), [("en", "en-US"), ("fr", "fr-FR"), ("ko", "ko-KR"), ("ru", "ru-RU")]
)
def test_the_prompt_gathers_one_key_in_the_staff_members_language(language: str, say: str) -> None:
    root = ET.fromstring(  # noqa: S314
        prompt(language, "1A2B3C", "https://c.example/g?code=1A2B3C&x=1")
    )
    gather = root.find("Gather")
    assert gather is not None
    assert (gather.get("numDigits"), gather.get("actionOnEmptyResult")) == ("1", "true")
    assert gather.get("action") == "https://c.example/g?code=1A2B3C&x=1"  # escaped, read back
    said = gather.find("Say")
    assert said is not None
    assert said.get("language") == say
    assert "1 A 2 B 3 C" in (said.text or "")


def test_closing_words_hang_up_and_a_machine_hears_nothing() -> None:
    root = ET.fromstring(  # noqa: S314
        final("ko", "acknowledged")
    )
    assert [child.tag for child in root] == ["Say", "Hangup"]
    assert [
        child.tag
        for child in ET.fromstring(  # noqa: S314
            hang_up()
        )
    ] == ["Hangup"]


def test_codes_and_machine_detection_are_coded() -> None:
    assert valid_code(" 1a2b3c ") == "1A2B3C"
    assert valid_code("1A2B3C&x") is None
    assert [answered_by(v) for v in ("human", "machine_end_beep", "fax", "unknown", "")] == [
        "human",
        "machine",
        "machine",
        "unknown",
        None,
    ]
    assert call_outcome("completed", "machine") == "voicemail"
    assert call_outcome("completed", "human") == "answered"
    assert call_outcome("no_answer", None) == "no_answer"
