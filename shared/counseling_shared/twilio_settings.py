"""What notify and crisis both read to take Twilio's webhooks: which SMS provider the center
uses, the account's auth token (it keys Twilio's signatures) and the public URL Twilio calls;
and the per-number budget of texts received (any provider's).

A mixin of settings fields, so each service's settings table names the same variables.
"""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

from counseling_shared.http.rate_limit import parse_rate_limit

SmsProviderKind = Literal["webhook", "twilio"]


def read_secret(value: SecretStr | None, path: Path | None) -> str:
    """A secret from its variable or its `_FILE` (without the trailing newline `echo` writes);
    empty when neither is set."""
    if value is not None:
        return value.get_secret_value()
    if path is not None:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    return ""


class TwilioWebhookSettings(BaseModel):
    twilio_auth_token: SecretStr | None = Field(
        default=None,
        alias="TWILIO_AUTH_TOKEN",
        description="The Twilio account's auth token: it keys the `X-Twilio-Signature` of"
        " every webhook Twilio posts (and authenticates sends without an API key).",
    )
    twilio_auth_token_file: Path | None = Field(
        default=None,
        alias="TWILIO_AUTH_TOKEN_FILE",
        description="A file holding TWILIO_AUTH_TOKEN instead (a mounted Secret); read at start.",
    )
    twilio_webhook_base_url: str | None = Field(
        default=None,
        alias="TWILIO_WEBHOOK_BASE_URL",
        description="This service's public URL as Twilio calls it (`https://sms.center.example`"
        "), exactly as in Twilio's console up to the path: Twilio signs the URL it calls, which"
        " behind an ingress is not the one the service sees.",
    )

    inbound_sms_per_number_limit: str = Field(
        default="10/minute",
        alias="INBOUND_SMS_PER_NUMBER_LIMIT",
        description="Texts one phone number may send per period, in `limits` notation"
        " (`10/minute`), or `off`: past it a text is not acted on and not answered (notify"
        " still records a STOP), on `POST /inbound/sms` and Twilio's route alike. Counted per"
        " process, or in RATE_LIMIT_STORAGE_URI's shared store; keyed by the number's digest.",
    )

    @field_validator("inbound_sms_per_number_limit")
    @classmethod
    def _per_number_limit_parses(cls, value: str) -> str:
        parse_rate_limit(value)  # a ValueError names what is wrong
        return value

    @field_validator(
        "twilio_auth_token", "twilio_auth_token_file", "twilio_webhook_base_url", mode="before"
    )
    @classmethod
    def _empty_twilio_value_is_unset(cls, value: object) -> object:
        # (Its own name: a validator named as one of ServiceSettings' would replace that one.)
        return None if value == "" else value

    def twilio_token(self) -> str:
        """The auth token from the variable or its file; empty when neither is set."""
        return read_secret(self.twilio_auth_token, self.twilio_auth_token_file)

    def check_twilio_webhooks(self, who: str = "SMS provider twilio") -> None:
        """Raises ValueError naming what Twilio's webhooks need and lack (`who`: the setting
        that chose Twilio, for the message)."""
        if self.twilio_auth_token is not None and self.twilio_auth_token_file is not None:
            raise ValueError("set TWILIO_AUTH_TOKEN or TWILIO_AUTH_TOKEN_FILE, not both")
        try:
            token = self.twilio_token()
        except OSError as exc:
            raise ValueError(f"TWILIO_AUTH_TOKEN_FILE: {exc}") from None
        if not token:
            raise ValueError(f"{who} needs TWILIO_AUTH_TOKEN (or its _FILE)")
        base = self.twilio_webhook_base_url or ""
        if not base.startswith(("https://", "http://")):
            raise ValueError(f"{who} needs TWILIO_WEBHOOK_BASE_URL (an http(s) URL)")
        # The console's full webhook URL pasted here: every signature would be checked against
        # `<it>/inbound/sms/twilio` (all 401) and notify's status callbacks would go astray.
        if "/inbound/sms" in base or "?" in base:
            raise ValueError(
                "TWILIO_WEBHOOK_BASE_URL is the service's public base URL, without"
                " /inbound/sms/twilio or a query (Twilio's console takes <it>/inbound/sms/twilio)"
            )
