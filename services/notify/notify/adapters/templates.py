"""Messages from Jinja2 templates, one folder per language, dates and times by Babel.

Each template file defines three blocks: `subject` and `body` (email) and `short` (SMS and
messaging). Templates see the notification's parameters, `site_name`, `common` (the macros of
the language's `_common.txt`: site names, modalities, signatures) and `day`, `date`, `hour`,
`zone`, which format an instant in the recipient's time zone and locale, `zone_over(first,
last)`, the zone of a list of dates (generic when they straddle a DST change), and `money`, which
formats an amount and its ISO 4217 currency in the recipient's locale.
A client's email body ends with `_common.txt`'s `preferences_footer` when the parameters carry
`preferences_url` (the Courier adds it for clients).
"""

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time, get_timezone_name
from babel.numbers import format_currency

from notify.application.ports import PREFERENCES_URL, RenderedMessage, TemplateMissing
from notify.domain.codes import Template, template_name
from notify.domain.locales import MessageLocale
from notify.domain.notification import Params

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
BLOCKS = ("subject", "body", "short")

# CLDR abbreviates the Korean day period as AM/PM; the wide form (오전/오후) reads naturally.
_TIME_PATTERNS = {"ko": "aaaa h:mm"}


def template_file(template: Template, params: Params, language: str) -> str:
    """`<language>/<template>.txt`; a follow-up has one file per kind."""
    return f"{language}/{template_name(template, params)}.txt"


class JinjaRenderer:
    def __init__(self, directory: Path = TEMPLATES_DIR) -> None:
        self._directory = directory
        # Plain-text messages: nothing is rendered as HTML, so there is nothing to escape.
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(directory),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # noqa: S701
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )

    def preload(self, templates: Iterable[Template]) -> None:
        """Compile `templates` and `_common.txt` in every language now: the first message of
        each used to pay for its compilation (about 10 ms, several times that under load)."""
        languages = sorted(p.name for p in self._directory.iterdir() if p.is_dir())
        names = ["_common", *(t.value for t in templates)]
        for language in languages:
            for name in names:
                with contextlib.suppress(jinja2.TemplateNotFound):
                    self._env.get_template(f"{language}/{name}.txt")

    def render(
        self, template: Template, params: Params, locale: MessageLocale, zone: ZoneInfo
    ) -> RenderedMessage:
        name = template_file(template, params, locale.language)
        try:
            compiled = self._env.get_template(name)
            values = {**params, **_formatters(_babel_locale(locale), zone)}
            common = self._env.get_template(f"{locale.language}/_common.txt")
            values["common"] = common.make_module(values)
            context = compiled.new_context(values, shared=False)
            parts = {block: _render_block(compiled, block, context) for block in BLOCKS}
            if url := params.get(PREFERENCES_URL):
                # The email's last lines (never the SMS's: no room for a long link there).
                footer = str(values["common"].preferences_footer(url)).strip()
                parts["body"] = f"{parts['body']}\n\n{footer}"
        except (jinja2.TemplateError, KeyError, ValueError, ArithmeticError) as exc:
            raise TemplateMissing(f"{name}: {type(exc).__name__}: {exc}") from None
        return RenderedMessage(subject=parts["subject"], body=parts["body"], short=parts["short"])

    def check_expression(self, expression: str) -> None:
        """Raises ValueError when `expression` (a WhatsApp template variable's) does not
        compile as an expression of these templates."""
        try:
            self._env.compile_expression(expression)
        except jinja2.TemplateSyntaxError as exc:
            raise ValueError(f"{expression!r} is no template expression ({exc.message})") from None

    def evaluate(
        self, expressions: Sequence[str], params: Params, locale: MessageLocale, zone: ZoneInfo
    ) -> list[object]:
        """`expressions` computed as a template of `locale` sees them (`day(start)`,
        `common.site(site_name)`); a name not among `params` is None. Raises TemplateMissing
        when one cannot be computed (a date parameter missing, …)."""
        try:
            values = {**params, **_formatters(_babel_locale(locale), zone)}
            common = self._env.get_template(f"{locale.language}/_common.txt")
            values["common"] = common.make_module(values)
            return [
                self._env.compile_expression(e, undefined_to_none=True)(**values)
                for e in expressions
            ]
        except (
            jinja2.TemplateError,
            KeyError,
            ValueError,
            TypeError,
            AttributeError,
            ArithmeticError,
        ) as exc:
            raise TemplateMissing(f"{type(exc).__name__}: {exc}") from None


def template_names(directory: Path = TEMPLATES_DIR) -> set[str]:
    """Every message template's name as `template_file` names it (`appointment_booked`,
    `followup_due_checkin`), from the English folder (every language has them all)."""
    return {p.stem for p in (directory / "en").glob("*.txt") if not p.stem.startswith("_")}


def _render_block(compiled: jinja2.Template, block: str, context: Any) -> str:
    text = "".join(compiled.blocks[block](context)).strip()
    # One line for the subject; at most one blank line between paragraphs elsewhere.
    if block == "subject":
        return " ".join(text.split())
    lines = [line.rstrip() for line in text.splitlines()]
    tidy: list[str] = []
    for line in lines:
        if line or (tidy and tidy[-1]):
            tidy.append(line)
    return "\n".join(tidy)


def _babel_locale(locale: MessageLocale) -> Locale:
    """The formatting locale (e.g. fr_CA) when Babel knows it, else the language."""
    for tag in (locale.formatting, locale.language):
        try:
            return Locale.parse(tag)
        except (UnknownLocaleError, ValueError):
            continue
    return Locale.parse("en")


def _formatters(locale: Locale, zone: ZoneInfo) -> Mapping[str, Callable[..., str]]:
    time_pattern = _TIME_PATTERNS.get(locale.language, "short")

    def local(value: str | datetime) -> datetime:
        instant = datetime.fromisoformat(value) if isinstance(value, str) else value
        if instant.tzinfo is None:
            raise ValueError("instants in messages must carry an offset")
        return instant.astimezone(zone)

    def day(value: str | datetime) -> str:
        return format_date(local(value), "full", locale=locale)

    def date(value: str | datetime) -> str:
        return format_date(local(value), "long", locale=locale)

    def hour(value: str | datetime) -> str:
        return format_time(local(value), time_pattern, tzinfo=zone, locale=locale)

    def zone_name(value: str | datetime) -> str:
        return get_timezone_name(local(value), "long", locale=locale)

    def zone_over(first: str | datetime, last: str | datetime) -> str:
        """The zone of a list of dates: its specific name ("Central European Summer Time")
        when both ends share it, else the generic one ("Central European Time")."""
        named = zone_name(first)
        return named if named == zone_name(last) else get_timezone_name(zone, "long", locale=locale)

    def short(value: object) -> str:
        return str(value)[:8]

    def money(amount: str, currency: str) -> str:
        """An amount in the recipient's locale: `€40.00`, `40,00 €`, `₩40,000`."""
        return format_currency(Decimal(amount), currency, locale=locale)

    return {
        "day": day,
        "date": date,
        "hour": hour,
        "zone": zone_name,
        "zone_over": zone_over,
        "short": short,
        "money": money,
    }


def formatters_for(language: str, zone: ZoneInfo) -> Mapping[str, Callable[..., str]]:
    """The templates' `day`, `hour`, `money`, … for a text written outside a template (the
    answer to a client's reply to a reminder)."""
    return _formatters(_babel_locale(MessageLocale(language, language)), zone)
