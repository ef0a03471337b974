"""A check-in's answers that met an outage, given back to the client's browser so that nothing
typed is lost: the outage page carries them in a form of hidden fields with a "send again"
button (`page_errors`), posting to the same address.

They live only in the request being answered (`request.state`): never stored, logged, traced
or put in a URL. Only the form's own fields are carried, and only once the request's link was
verified, so the page never echoes what a stranger posted.
"""

from __future__ import annotations

from fastapi import Request

from counseling_shared.codes import Instrument
from followup.domain.measures.scoring import ITEM_COUNT

_FORM_FIELDS = frozenset(
    {"token", "wellbeing", "contact", "comment", "satisfaction"}
    | {f"{i.value}_{n}" for i in Instrument for n in range(1, ITEM_COUNT[i] + 1)}
)


def keep(request: Request, fields: dict[str, str]) -> None:
    """Hold the posted answers for this request's error page, if it comes to one."""
    request.state.unsent_answers = {k: v for k, v in fields.items() if k in _FORM_FIELDS}


def kept(request: Request) -> dict[str, str] | None:
    """The answers to give back, or None when nothing but the link was posted."""
    answers: dict[str, str] | None = getattr(request.state, "unsent_answers", None)
    if request.method != "POST" or not answers or set(answers) <= {"token"}:
        return None
    return answers
