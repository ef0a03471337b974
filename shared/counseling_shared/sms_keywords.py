"""The keywords a texter sends to stop, resume or ask about texts (carrier conventions).

English ones work everywhere (carriers and regulators expect STOP whatever the language). The
other languages notify writes in (fr, ko, ru) add their usual words. Words that are also an
ordinary answer to a reminder ("oui", "да", "네") are left out: texting "yes" in French must not
resubscribe anyone, nor a "no" unsubscribe them. The whole message must be the keyword (case,
accents of case, surrounding spaces and final punctuation aside): "please stop" is not a STOP,
since a sentence may mean anything; the reply to anything else says how to stop.
"""

import unicodedata
from dataclasses import dataclass
from enum import StrEnum


class Keyword(StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"


@dataclass(frozen=True)
class Parsed:
    keyword: Keyword | None
    language: str  # the reply's language: the keyword's, English when it is shared


_WORDS: dict[Keyword, dict[str, tuple[str, ...]]] = {
    Keyword.STOP: {
        "en": ("stop", "stopall", "unsubscribe", "cancel", "end", "quit"),
        "fr": ("arret", "arrêt", "desabonner", "désabonner", "desinscrire", "désinscrire"),
        "ko": ("중지", "수신거부", "거부"),
        "ru": ("стоп", "отписаться", "отписка"),
    },
    Keyword.START: {
        "en": ("start", "unstop", "yes"),
        "fr": ("demarrer", "démarrer"),
        "ko": ("시작", "수신동의"),
        "ru": ("старт",),
    },
    Keyword.HELP: {
        "en": ("help", "info"),
        "fr": ("aide",),
        "ko": ("도움말", "도움"),
        "ru": ("помощь",),
    },
}

_INDEX: dict[str, tuple[Keyword, str]] = {
    unicodedata.normalize("NFC", word).casefold(): (keyword, language)
    for keyword, languages in _WORDS.items()
    for language, words in languages.items()
    for word in words
}

_TRAILING = ".!?。,;:"


def parse(text: str) -> Parsed:
    """The keyword `text` is, if any, and the language to answer in."""
    word = unicodedata.normalize("NFC", text).strip().rstrip(_TRAILING).strip().casefold()
    found = _INDEX.get(word)
    if found is None:
        return Parsed(None, "en")
    return Parsed(*found)
