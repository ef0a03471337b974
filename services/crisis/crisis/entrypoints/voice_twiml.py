"""The TwiML of a page's phone call: the prompt in a `<Gather numDigits="1">`, and the short
answers after a key (or none) was pressed."""

from xml.sax.saxutils import escape, quoteattr

from crisis.domain.voice_words import SAY_LANGUAGE, spelled, words_for

GATHER_TIMEOUT_SECONDS = 8


def _response(body: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'


def _say(language: str, text: str) -> str:
    lang = quoteattr(SAY_LANGUAGE.get(language, "en-US"))
    return f"<Say language={lang}>{escape(text)}</Say>"


def prompt(language: str, code: str, gather_url: str) -> str:
    """Say the prompt and wait for one key. `actionOnEmptyResult`: no key pressed also
    comes back to `gather_url` (with no `Digits`), which answers that nothing was
    acknowledged."""
    words = words_for(language)
    say = _say(language, words.prompt.format(code=spelled(code)))
    return _response(
        f'<Gather numDigits="1" timeout="{GATHER_TIMEOUT_SECONDS}" method="POST"'
        f' actionOnEmptyResult="true" action={quoteattr(gather_url)}>{say}</Gather>'
    )


def final(language: str, kind: str) -> str:
    """Say one of the closing sentences (`acknowledged`, `not_acknowledged`, `already`,
    `unknown`, `escalated`, `moved_on`) and hang up."""
    text = getattr(words_for(language), kind)
    return _response(_say(language, text) + "<Hangup/>")


def hang_up() -> str:
    """For an answering machine: nothing is said (a voicemail is heard by whoever plays
    it back), nothing acknowledged."""
    return _response("<Hangup/>")
