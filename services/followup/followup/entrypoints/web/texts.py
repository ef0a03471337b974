"""The answer form's words in the four locales it speaks, one file each under `locales/`.

Each file has the form's own words (`[form]`) and the wording of PHQ-9 and GAD-7 (`[phq9]`,
`[gad7]`), with its source named in the file's header comment.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from counseling_shared.codes import Instrument
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


_RAW = {locale: _load(locale) for locale in LOCALES}
TEXTS: dict[str, dict[str, str]] = {locale: raw["form"] for locale, raw in _RAW.items()}
INSTRUMENT_TEXTS: dict[Instrument, dict[str, InstrumentText]] = {
    i: {locale: _instrument(raw[i.value], i) for locale, raw in _RAW.items()} for i in Instrument
}


def locale_of(locale: str | None) -> str:
    """The form's language for a BCP 47 tag (`fr-CA` is `fr`); English otherwise."""
    base = (locale or "en").split("-")[0].lower()
    return base if base in TEXTS else "en"
