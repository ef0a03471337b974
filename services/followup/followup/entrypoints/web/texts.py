"""The pages' words in the four locales they speak, one file each under `locales/`.

Each file has the answer form's own words (`[form]`), the wording of PHQ-9 and GAD-7 (`[phq9]`,
`[gad7]`), with its source named in the file's header comment, and the staff progress page's
words (`[progress]`, with a name for every band, kind, status and outcome code).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from counseling_shared.codes import FollowUpKind, FollowUpOutcome, Instrument, MeasureBand
from counseling_shared.http.languages import browser_language
from followup.domain.followup import Status
from followup.domain.measures.scoring import ITEM_COUNT

LOCALES = ("en", "ko", "fr", "ru")
_DIR = Path(__file__).parent / "locales"


@dataclass(frozen=True)
class InstrumentText:
    title: str
    stem: str
    items: tuple[str, ...]
    options: tuple[str, ...]  # the answers scored 0, 1, 2, 3


def _load(locale: str) -> dict[str, Any]:
    with (_DIR / f"{locale}.toml").open("rb") as file:
        return tomllib.load(file)


def _instrument(raw: dict[str, Any], instrument: Instrument) -> InstrumentText:
    text = InstrumentText(raw["title"], raw["stem"], tuple(raw["items"]), tuple(raw["options"]))
    if len(text.items) != ITEM_COUNT[instrument] or len(text.options) != 4:
        raise ValueError(f"{instrument.value}: wrong number of items or options")
    return text


_CODES: dict[str, type[StrEnum]] = {
    "bands": MeasureBand,
    "kinds": FollowUpKind,
    "statuses": Status,
    "outcomes": FollowUpOutcome,
}


def _progress(locale: str, raw: dict[str, Any], english: dict[str, Any]) -> dict[str, Any]:
    """A locale's progress words, refused at start-up if it misses one English has or a code."""
    missing = [key for key in english if key not in raw]
    missing += [
        f"{table}.{code.value}"
        for table, codes in _CODES.items()
        for code in codes
        if code.value not in raw.get(table, {})
    ]
    if missing:
        raise ValueError(f"locales/{locale}.toml [progress] lacks {', '.join(missing)}")
    return raw


def _form(locale: str, raw: dict[str, str], english: dict[str, str]) -> dict[str, str]:
    """A locale's form words, refused at start-up if it misses one English has."""
    missing = [key for key in english if key not in raw]
    if missing:
        raise ValueError(f"locales/{locale}.toml [form] lacks {', '.join(missing)}")
    return raw


_RAW = {locale: _load(locale) for locale in LOCALES}
PROGRESS_TEXTS: dict[str, dict[str, Any]] = {
    locale: _progress(locale, raw["progress"], _RAW["en"]["progress"])
    for locale, raw in _RAW.items()
}
TEXTS: dict[str, dict[str, str]] = {
    locale: _form(locale, raw["form"], _RAW["en"]["form"]) for locale, raw in _RAW.items()
}
INSTRUMENT_TEXTS: dict[Instrument, dict[str, InstrumentText]] = {
    i: {locale: _instrument(raw[i.value], i) for locale, raw in _RAW.items()} for i in Instrument
}


def locale_of(locale: str | None) -> str:
    """The form's language for a BCP 47 tag (`fr-CA` is `fr`); English otherwise."""
    base = (locale or "en").split("-")[0].lower()
    return base if base in TEXTS else "en"


def browser_locale(accept_language: str) -> str:
    """The first language of an `Accept-Language` header that the pages speak; English
    otherwise."""
    return browser_language(accept_language, TEXTS)
