"""Which language a message is written in."""

from dataclasses import dataclass

WRITTEN_LANGUAGES = ("en", "ko", "fr", "ru")
FALLBACK_LANGUAGE = "en"


@dataclass(frozen=True)
class MessageLocale:
    """`language` picks the template; `formatting` (e.g. `fr_CA`) formats dates and times."""

    language: str
    formatting: str


def message_locale(recipient_locale: str | None) -> MessageLocale:
    """`fr-CA` is written in French and formatted the Canadian way; an unwritten language
    (say `de`) falls back to English throughout, so dates match the words around them."""
    tag = (recipient_locale or "").strip().replace("_", "-")
    parts = [p for p in tag.split("-") if p]
    language = parts[0].lower() if parts else ""
    if language not in WRITTEN_LANGUAGES:
        return MessageLocale(FALLBACK_LANGUAGE, FALLBACK_LANGUAGE)
    region = next((p.upper() for p in parts[1:] if len(p) == 2 and p.isalpha()), None)
    return MessageLocale(language, f"{language}_{region}" if region else language)
