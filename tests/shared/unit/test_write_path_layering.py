"""The write path (unit of work, idempotency records, audit) knows nothing of HTTP: it raises
its own errors, which the HTTP layer answers as problems (or a person's HTML page)."""

import subprocess
import sys

import pytest

from counseling_shared import audit, idempotency
from counseling_shared.http.problems import Problem, problem_of


def test_the_unit_of_work_imports_no_http_module() -> None:
    # A fresh interpreter: this one has imported the HTTP layer already.
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, counseling_shared.unit_of_work; print(' '.join(sorted(sys.modules)))",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    http = [m for m in loaded if m.startswith(("counseling_shared.http", "fastapi", "starlette"))]
    assert http == []


@pytest.mark.parametrize(
    ("raised", "status", "kind"),
    [
        (audit.AuditUnavailable(), 503, "unavailable"),
        (idempotency.KeyInUse(), 409, "request-in-progress"),
        (idempotency.AlreadyDone(), 409, "request-done"),
    ],
)
def test_the_write_paths_errors_are_answered_as_before(
    raised: Exception, status: int, kind: str
) -> None:
    problem = problem_of(raised)
    assert problem is not None
    assert (problem.status, problem.kind) == (status, kind)
    assert not isinstance(raised, Problem)


def test_an_unrecorded_change_says_why_it_was_not_made() -> None:
    problem = problem_of(audit.AuditUnavailable())
    assert problem is not None
    assert problem.detail == (
        "This change could not be recorded in the audit trail, so it was not made; try again"
        " shortly."
    )
    assert problem_of(RuntimeError("a bug")) is None
