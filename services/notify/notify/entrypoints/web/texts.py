"""The preferences page's words in the four locales it speaks, one file each under `locales/`."""

from __future__ import annotations

import tomllib
from pathlib import Path

LOCALES = ("en", "ko", "fr", "ru")
_DIR = Path(__file__).parent / "locales"


def _load(locale: str) -> dict[str, str]:
    with (_DIR / f"{locale}.toml").open("rb") as file:
        texts: dict[str, str] = tomllib.load(file)["preferences"]
    return texts


TEXTS: dict[str, dict[str, str]] = {locale: _load(locale) for locale in LOCALES}


def locale_of(locale: str | None) -> str:
    """The page's language for a BCP 47 tag (`fr-CA` is `fr`); English otherwise."""
    base = (locale or "en").replace("_", "-").split("-")[0].lower()
    return base if base in TEXTS else "en"
