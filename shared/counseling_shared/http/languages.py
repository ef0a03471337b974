"""The language a page answers in when all it knows of the reader is their browser."""

from collections.abc import Collection


def browser_language(accept_language: str, spoken: Collection[str], default: str = "en") -> str:
    """The first language of an `Accept-Language` header among `spoken`, by its primary
    subtag (`fr-CA` is `fr`); `default` otherwise. Quality values are not weighed: browsers
    list languages in preference order."""
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip()
        language = tag.split("-")[0].lower()
        if language in spoken:
            return language
    return default
