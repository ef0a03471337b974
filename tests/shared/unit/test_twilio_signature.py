"""Our check of `X-Twilio-Signature` agrees with Twilio's: the values below are the ones
Twilio's security documentation and its Python library's tests publish for the same request
(auth token `12345`), not values our own function produced."""

import pytest

from counseling_shared import twilio_signature

TOKEN = "12345"  # noqa: S105 (Twilio's documented example token)
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
TWILIO_SAYS = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_the_signature_of_twilios_documented_request() -> None:
    assert twilio_signature.signature(TOKEN, URL, PARAMS) == TWILIO_SAYS


def test_the_older_documented_example_too() -> None:
    params = {**PARAMS, "Caller": "+12349013030", "From": "+12349013030"}
    assert twilio_signature.signature(TOKEN, URL, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


@pytest.mark.parametrize(
    ("url", "given"),
    [
        (URL, TWILIO_SAYS),
        (URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),  # Twilio signed it with `:443`
        (URL.replace("https", "http"), "0ZXoZLH/DfblKGATFgpif+LLRf4="),  # with `:80`
        (URL.replace(".com", ".com:443"), TWILIO_SAYS),  # configured with the port, signed without
    ],
)
def test_the_default_port_may_be_there_or_not(url: str, given: str) -> None:
    assert twilio_signature.valid(TOKEN, url, PARAMS, given)


@pytest.mark.parametrize(
    "change",
    [
        {"token": "54321"},
        {"url": URL.replace("foo=1", "foo=2")},  # the query string is signed
        {"url": URL.replace("https://", "http://")},  # so is the scheme
        {"url": URL.replace(".com", ".com:8443")},  # and a port that is not the default
        {"params": {**PARAMS, "Digits": "1235"}},
        {"params": {**PARAMS, "Extra": ""}},  # an added parameter, even empty
    ],
)
def test_anything_else_changed_is_refused(change: dict[str, object]) -> None:
    token = str(change.get("token", TOKEN))
    url = str(change.get("url", URL))
    params = change.get("params", PARAMS)
    assert isinstance(params, dict)
    assert not twilio_signature.valid(token, url, params, TWILIO_SAYS)


def test_twiml_escapes_the_reply_and_can_say_nothing() -> None:
    assert twilio_signature.twiml(["a < b & c"]).endswith(
        "<Response><Message>a &lt; b &amp; c</Message></Response>"
    )
    assert twilio_signature.twiml().endswith("<Response></Response>")


def test_a_name_posted_twice_is_signed_with_each_distinct_value_sorted() -> None:
    """As Twilio's libraries sign a form: names sorted, then each name's distinct values
    sorted; a mapping and its pairs sign alike."""
    pairs = [("b", "2"), ("a", "1"), ("b", "1"), ("b", "2")]
    by_hand = twilio_signature.signature(TOKEN, URL + "a1b1b2", {})

    assert twilio_signature.signature(TOKEN, URL, pairs) == by_hand
    assert twilio_signature.valid(TOKEN, URL, pairs, by_hand)
    assert not twilio_signature.valid(TOKEN, URL, [("a", "1"), ("b", "2")], by_hand)
    assert twilio_signature.signature(TOKEN, URL, dict(PARAMS)) == TWILIO_SAYS
    assert twilio_signature.signature(TOKEN, URL, list(PARAMS.items())) == TWILIO_SAYS
