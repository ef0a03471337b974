"""Which approved WhatsApp template (Twilio Content, `HX…`) carries each of our messages
(`TWILIO_WHATSAPP_CONTENT`), read and checked once at start.

WhatsApp lets a business open a conversation only with a template WhatsApp approved, so a
message by WhatsApp is sent as `ContentSid` + `ContentVariables`, never as our own text. The
mapping names, per message template (`appointment_booked`; a follow-up per kind:
`followup_due_checkin`) and language (`en`, `fr`, `ko`, `ru`), the Content template and what
fills each of its variables: an expression as notify's templates write them (`day(start)`,
`common.site(site_name)`, `manage_url`). Several entries for one language are tried in turn:
the first whose variables all have a value is sent (a check-in with its answer link, else the
one without).

    {"appointment_booked": {"en": {"content_sid": "HX…", "variables": ["common.site(site_name)",
     "day(start)", "hour(start)"], "text": "{{1}}: your appointment on {{2}} at {{3}} is …"}}}

`variables` is a list (Twilio's `{{1}}`, `{{2}}`… in order) or an object naming Twilio's keys.
`text`, the text submitted to WhatsApp, is for people; when given, its placeholders must be
exactly the variables' keys.
"""

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from notify.domain.locales import WRITTEN_LANGUAGES

MAX_VARIABLES = 100  # Twilio's limit of ContentVariables pairs
NEVER_MAPPED = frozenset({"crisis_page"})
"""Pages stay SMS, calls and email: a page never waits on a WhatsApp template's approval."""

_CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
_KEY = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_ENTRY_FIELDS = frozenset({"content_sid", "variables", "text"})


@dataclass(frozen=True)
class ContentTemplate:
    """One approved template: its Content SID and, per Twilio variable key, the expression
    that fills it."""

    content_sid: str
    variables: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class WhatsAppContent:
    """The mapping: each (template, language)'s candidates, in the order they are tried."""

    entries: Mapping[tuple[str, str], tuple[ContentTemplate, ...]]

    def candidates(self, template: str, language: str) -> tuple[ContentTemplate, ...]:
        """The candidates for a message; empty when it has no mapping (it cannot go by
        WhatsApp)."""
        return self.entries.get((template, language), ())

    def expressions(self) -> set[str]:
        return {e for cs in self.entries.values() for c in cs for _, e in c.variables}


def parse_content(
    data: object,
    known_templates: Iterable[str],
    check_expression: Callable[[str], None] = lambda _: None,
) -> WhatsAppContent:
    """The mapping from its parsed JSON; raises ValueError naming the first thing wrong
    (`appointment_booked.fr[1].content_sid: …`). `check_expression` raises ValueError for an
    expression that does not compile."""
    known = set(known_templates)
    if not isinstance(data, dict) or not data:
        raise ValueError("must be a non-empty JSON object: {template: {language: entry}}")
    entries: dict[tuple[str, str], tuple[ContentTemplate, ...]] = {}
    for template, languages in data.items():
        if template in NEVER_MAPPED:
            raise ValueError(f"{template}: crisis pages are never sent by WhatsApp")
        if template not in known:
            raise ValueError(f"{template}: no such message template ({', '.join(sorted(known))})")
        if not isinstance(languages, dict) or not languages:
            raise ValueError(f"{template}: must be an object {{language: entry}}")
        for language, given in languages.items():
            where = f"{template}.{language}"
            if language not in WRITTEN_LANGUAGES:
                raise ValueError(f"{where}: language must be one of {', '.join(WRITTEN_LANGUAGES)}")
            listed = given if isinstance(given, list) else [given]
            if not listed:
                raise ValueError(f"{where}: an empty list")
            entries[(template, language)] = tuple(
                _entry(f"{where}[{n}]" if isinstance(given, list) else where, e, check_expression)
                for n, e in enumerate(listed)
            )
    return WhatsAppContent(entries)


def _entry(where: str, entry: object, check: Callable[[str], None]) -> ContentTemplate:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: must be an object with content_sid and variables")
    if unknown := set(entry) - _ENTRY_FIELDS:
        raise ValueError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    sid = entry.get("content_sid")
    if not isinstance(sid, str) or not _CONTENT_SID.match(sid):
        raise ValueError(f"{where}.content_sid: a Twilio Content SID (HX and 32 hex digits)")
    variables = _variables(where, entry.get("variables", []))
    for key, expression in variables:
        try:
            check(expression)
        except ValueError as exc:
            raise ValueError(f"{where}.variables.{key}: {exc}") from None
    text = entry.get("text")
    if text is not None:
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{where}.text: the approved text, a non-empty string")
        placeholders = set(_PLACEHOLDER.findall(text))
        keys = {k for k, _ in variables}
        if placeholders != keys:
            raise ValueError(
                f"{where}.text: its placeholders ({', '.join(sorted(placeholders)) or 'none'})"
                f" are not the variables' keys ({', '.join(sorted(keys)) or 'none'})"
            )
    return ContentTemplate(sid, variables)


def _variables(where: str, given: object) -> tuple[tuple[str, str], ...]:
    if isinstance(given, list):
        pairs = [(str(n), e) for n, e in enumerate(given, start=1)]
    elif isinstance(given, dict):
        pairs = list(given.items())
    else:
        raise ValueError(f"{where}.variables: a list of expressions or an object of them")
    if len(pairs) > MAX_VARIABLES:
        raise ValueError(f"{where}.variables: at most {MAX_VARIABLES}")
    for key, expression in pairs:
        if not _KEY.match(key):
            raise ValueError(f"{where}.variables: {key!r} is no Twilio variable key")
        if not isinstance(expression, str) or not expression.strip():
            raise ValueError(f"{where}.variables.{key}: an expression (a non-empty string)")
    return tuple((k, e.strip()) for k, e in pairs)


def variable_value(value: object) -> str | None:
    """A variable's text as WhatsApp takes it (one line, no runs of spaces); None when there is
    nothing to put in it (the parameter is missing or empty: that entry cannot be sent)."""
    if value is None or value is False:
        return None
    text = " ".join(str(value).split())
    return text or None
