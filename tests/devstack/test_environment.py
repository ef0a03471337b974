"""What `make run` gives every service besides the servers it started: development defaults
that a newcomer needs to follow the READMEs, each overridable."""

from devstack.environment import DEV_INBOUND_SMS_SECRET, common_env

SECRET = "INBOUND_SMS_SECRET"  # noqa: S105 - the variable's name
PORTS = {"booking": 8001, "followup": 8002, "notify": 8003, "crisis": 8004}


def _common(base: dict[str, str]) -> dict[str, str]:
    return common_env(base, nats_url="nats://127.0.0.1:4222", ports=PORTS, sinks={})


def test_texts_back_can_be_posted_with_the_documented_secret() -> None:
    # Without it notify's reminders by text never asked for C or X in the dev stack, and
    # neither `POST /inbound/sms` (notify's C/X and STOP, crisis's ACK) could be tried (503).
    assert _common({})[SECRET] == DEV_INBOUND_SMS_SECRET == "dev-inbound-sms-secret"


def test_a_secret_given_or_replies_switched_off_are_kept() -> None:
    assert _common({SECRET: "mine"})[SECRET] == "mine"
    assert _common({SECRET: ""})[SECRET] == ""
