"""`TWILIO_WHATSAPP_CONTENT` read at start: a JSON file's path, or the JSON itself (it starts
with `{`), checked against notify's templates (`domain/whatsapp_content`)."""

import json
from pathlib import Path

from notify.adapters.templates import JinjaRenderer, template_names
from notify.domain.whatsapp_content import WhatsAppContent, parse_content

SETTING = "TWILIO_WHATSAPP_CONTENT"


def load_content(value: str, renderer: JinjaRenderer | None = None) -> WhatsAppContent:
    """The mapping; raises ValueError in one line naming the setting and what is wrong."""
    text = value.strip()
    try:
        raw = text if text.startswith("{") else Path(text).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{SETTING}: cannot read {text!r} ({exc.strerror or exc})") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{SETTING}: not JSON ({exc})") from None
    check = (renderer or JinjaRenderer()).check_expression
    try:
        return parse_content(data, template_names(), check)
    except ValueError as exc:
        raise ValueError(f"{SETTING}: {exc}") from None
