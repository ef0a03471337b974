"""A client answers a check-in through its signed link (contract v2: the client's side).

One transaction: the follow-up is completed `responded`, the answers and scores are kept here,
and the public events say only coded values: `FollowUpCompleted`, one `MeasureRecorded` per
instrument (naming the client's counselor and, in `counselor_review`, whether the site's
policy asks them to review the score: `review_bands` for the instrument, else
`notify_counselor_from_band`), `CallbackRequested` when the client asked to be contacted, and
`RiskFlagged` when PHQ-9 item 9 is above 0, whatever the review bands. The comment (the
client's words) never leaves followup's database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from counseling_shared.codes import FollowUpKind, FollowUpOutcome, Instrument
from counseling_shared.events import CallbackRequested, MeasureRecorded
from counseling_shared.unit_of_work import UnitOfWork
from followup.application import commands
from followup.application.commands import FollowUpNotFound
from followup.application.ports import FollowupStore, MeasureStore
from followup.domain.errors import FollowUpAlreadyClosed
from followup.domain.followup import Complete, FollowUp
from followup.domain.measures.answers import (
    Assessment,
    assess,
    checkin_answers,
    satisfaction_answer,
)
from followup.domain.policy import FollowUpPolicy


class AlreadyAnswered(Exception):
    """The link was used before (or staff recorded the outcome): nothing changes."""

    def __init__(self, locale: str | None = None, emergency_line: str | None = None) -> None:
        super().__init__("the follow-up was already answered or closed")
        self.locale = locale
        # The site's line, shown on the "already received" page (a reload, the link reopened).
        self.emergency_line = emergency_line


@dataclass(frozen=True)
class SubmittedForm:
    """The form's fields, as the client sent them (validated against the site's policy)."""

    wellbeing: int
    wants_contact: bool
    measures: Mapping[Instrument, Sequence[int]]
    comment: str | None
    satisfaction: int | None = None  # a rating form (kind `satisfaction`) asks only this


@dataclass(frozen=True)
class FormToAnswer:
    followup: FollowUp
    instruments: tuple[Instrument, ...]
    locale: str | None
    emergency_line: str | None
    policy: FollowUpPolicy  # the site's: which scores its counselors review
    counselor_id: UUID | None = None


async def form_for(store: FollowupStore, followup_id: UUID) -> FormToAnswer:
    """What the client's form asks; raises `AlreadyAnswered` once the follow-up is closed."""
    state = await store.followup(followup_id)
    if state is None:
        raise FollowUpNotFound(followup_id)
    client = await store.client(state.client_id)
    policy, _ = await store.policy(state.site_id)
    if not state.status.is_open:
        raise AlreadyAnswered(client.locale if client else None, policy.emergency_line)
    return FormToAnswer(
        state,
        policy.instruments_for(state.kind),
        client.locale if client else None,
        policy.emergency_line,
        policy,
        client.counselor_id if client else None,
    )


async def answer_checkin(
    uow: UnitOfWork,
    store: FollowupStore,
    measures: MeasureStore,
    followup_id: UUID,
    link_id: UUID,
    form: SubmittedForm,
) -> Assessment:
    """Record the answers; raises `InvalidCheckinAnswer` (nothing stored) or `AlreadyAnswered`."""
    asked = await form_for(store, followup_id)
    if asked.followup.kind is FollowUpKind.SATISFACTION:
        answers = satisfaction_answer(form.satisfaction or 0, form.comment)
    else:
        answers = checkin_answers(
            form.wellbeing, form.wants_contact, form.measures, asked.instruments, form.comment
        )
    assessment = assess(answers)
    complete = Complete(
        FollowUpOutcome.RESPONDED,
        satisfaction=form.satisfaction if answers.wellbeing is None else None,
        risk_level=assessment.risk_level,
    )

    def same_site(site_id: UUID | None) -> None:
        assert site_id == asked.followup.site_id

    try:
        done = await commands.complete_followup(
            uow, store, followup_id, complete, same_site, how_are_you=answers.wellbeing
        )
    except FollowUpAlreadyClosed:
        raise AlreadyAnswered(asked.locale, asked.emergency_line) from None
    now = uow.now()
    if not await measures.save_response(done, link_id, answers, now):
        raise AlreadyAnswered(
            asked.locale, asked.emergency_line
        )  # unreachable while completion is once-only; kept as a guard
    for score in assessment.scores:
        await measures.save_score(done, score, now)
        uow.publish(
            MeasureRecorded(
                client_id=done.client_id,
                site_id=done.site_id,
                followup_id=done.id,
                instrument=score.instrument,
                score=score.total,
                band=score.band,
                counselor_id=asked.counselor_id,
                # followup knows the site's policy; notify only reads the coded answer.
                counselor_review=asked.policy.counselor_reviews(score.band, score.instrument),
            ),
            subject=done.id,
        )
    if assessment.wants_contact:
        uow.publish(
            CallbackRequested(
                client_id=done.client_id,
                site_id=done.site_id,
                counselor_id=asked.counselor_id,
                followup_id=done.id,
            ),
            subject=done.id,
        )
    return assessment


async def client_locale(store: FollowupStore, followup_id: UUID) -> str | None:
    """The locale of the client a follow-up is for (pages about a link speak it)."""
    state = await store.followup(followup_id)
    client = await store.client(state.client_id) if state else None
    return client.locale if client else None
