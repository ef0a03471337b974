"""structlog JSON logs to stdout, each line with the active trace and span ids."""

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog
from opentelemetry import trace

QUIET_LOGGERS = ("httpx", "httpcore")
"""At WARNING whatever the level: their INFO lines carry request URLs, and a provider's URL
may carry its token."""


def _add_trace_ids(_: Any, __: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event["trace_id"] = format(span_context.trace_id, "032x")
        event["span_id"] = format(span_context.span_id, "016x")
    return event


# Defence in depth: a provider's exception (aiosmtplib's refused recipient, an httpx error) may
# carry an address into `error=repr(exc)` or the traceback. Emails need a dotted alphabetic
# domain (so `user@10.0.0.5` in a URL and `x@y` stay); phones need a `+` or `00` prefix and 8
# to 15 digits, so UUIDs, hex trace ids, counts and timestamps (`+00:00`) are left alone.
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?:(?<![\w+])\+|(?<![\w+.:/-])00)\d(?:[ .()-]{0,2}\d){7,14}(?![\w])")
EMAIL_MASK = "<email>"
PHONE_MASK = "<phone>"


def redact_contact(text: str) -> str:
    """`text` with email addresses and international phone numbers masked."""
    if "@" in text:
        text = _EMAIL.sub(EMAIL_MASK, text)
    if "+" in text or "00" in text:
        text = _PHONE.sub(PHONE_MASK, text)
    return text


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact_contact(value)
    if isinstance(value, list | tuple):
        return type(value)(_redacted(v) for v in value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    return value


def redact_contacts(_: Any, __: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
    """A structlog processor, after `format_exc_info`: masks contact details in every string
    field, the rendered exception included."""
    for name, value in event.items():
        event[name] = _redacted(value)
    return event


def configure_logging(service_name: str, level: str = "INFO") -> None:
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    enrich: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_ids,
    ]
    # Lines from the standard library (uvicorn, asyncio, OpenTelemetry) get the same JSON shape
    # and trace ids, so stdout is one JSON document per line whoever wrote it.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*enrich, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact_contacts,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    logging.basicConfig(handlers=[handler], level=numeric, force=True)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    structlog.configure(
        processors=[
            *enrich,
            structlog.processors.format_exc_info,
            redact_contacts,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service_name)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
