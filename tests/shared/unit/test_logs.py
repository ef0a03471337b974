"""Log lines are JSON on stdout and name the trace they belong to, whoever wrote them."""

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from counseling_shared.logs import configure_logging, get_logger


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        configure_logging("probe", "INFO")
    yield buffer
    configure_logging("probe", "INFO")


def parsed(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_structlog_line_inside_a_span_names_its_trace(log_lines: io.StringIO) -> None:
    tracer = TracerProvider().get_tracer("probe")
    with tracer.start_as_current_span("handle SessionCompleted") as span:
        get_logger("probe").info("followup_planned", followup_id="f-1")
    get_logger("probe").info("idle")

    inside, outside = parsed(log_lines)
    context = span.get_span_context()
    assert inside["event"] == "followup_planned"
    assert inside["service"] == "probe"
    assert inside["level"] == "info"
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert "trace_id" not in outside


def test_a_standard_library_line_is_json_with_its_trace_too(log_lines: io.StringIO) -> None:
    # uvicorn, asyncio and OpenTelemetry log through the standard library.
    tracer = TracerProvider().get_tracer("probe")
    with tracer.start_as_current_span("POST /appointments") as span:
        logging.getLogger("uvicorn.error").warning("Started server process [%d]", 42)

    [line] = parsed(log_lines)
    assert line["event"] == "Started server process [42]"
    assert line["level"] == "warning"
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")


def test_debug_lines_are_dropped_at_info_level(log_lines: io.StringIO) -> None:
    get_logger("probe").debug("noise")
    logging.getLogger("asyncpg").debug("noise")

    assert parsed(log_lines) == []


def test_httpx_never_logs_request_urls_even_at_debug() -> None:
    """Provider URLs may carry tokens; httpx logs each request's URL at INFO."""
    configure_logging("probe", "DEBUG")
    try:
        assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
        assert not logging.getLogger("httpcore").isEnabledFor(logging.INFO)
        assert logging.getLogger("httpx").isEnabledFor(logging.WARNING)
    finally:
        configure_logging("probe", "INFO")


def test_an_exception_carrying_an_email_or_a_phone_is_logged_without_them(
    log_lines: io.StringIO,
) -> None:
    try:
        raise RuntimeError("550 <ana.lee+x@clinic.example.org> refused; sms +33 6 12 34 56 78")
    except RuntimeError as exc:
        get_logger("probe").exception("delivery_failed", error=repr(exc), to="0033612345678")
    try:
        raise ValueError("call +15551234567")
    except ValueError:
        logging.getLogger("uvicorn.error").exception("boom from stdlib")

    text = log_lines.getvalue()
    first, second = parsed(log_lines)
    for secret in ("ana.lee", "clinic.example.org", "12 34 56", "5551234567", "612345678"):
        assert secret not in text
    assert "<email>" in first["error"]
    assert "<phone>" in first["error"]
    assert first["to"] == "<phone>"
    assert "<email>" in first["exception"]
    assert "<phone>" in second["exception"]


def test_ids_timestamps_and_plain_numbers_are_not_mistaken_for_contacts(
    log_lines: io.StringIO,
) -> None:
    kept = {
        "id": "3f2b8c1e-9d4a-4b6f-8e21-00a1b2c3d4e5",
        "digit_id": "3f2b8c1e-9d4a-4b6f-8e21-001234567890",
        "fraction": "took 15.00123456789 s",
        "trace": "0af7651916cd43dd8448eb211c80319c",
        "at": "2026-12-05T03:30:15.123456+00:00",
        "count": "12345678901",
        "url": "postgresql://booking@127.0.0.1:5432/booking",
        "subject": "crisis.alert.v1.AlertRaised",
        "offset": "+0100",
    }
    get_logger("probe").info("kept", **kept)

    [line] = parsed(log_lines)
    assert {k: line[k] for k in kept} == kept
