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
