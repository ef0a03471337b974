"""What notify does when a client answers a check-in: the counselor of the client's latest
session gets one bulk-lane email in their own locale, naming the client by id only, when the
client asked to be contacted (followup's `CallbackRequested`) or scored in a band the site's
follow-up policy asks the counselor to review (`MeasureRecorded.counselor_review`, decided by
followup). Nobody is told when followup knows no counselor for the client."""

from __future__ import annotations

from counseling_shared.codes import Instrument, MeasureBand
from counseling_shared.envelope import Envelope
from counseling_shared.events import CallbackRequested, IntegrationEvent, MeasureRecorded
from counseling_shared.unit_of_work import UnitOfWork
from notify.application.staff_emails import email_staff
from notify.domain.codes import Template

# A total of 10 or more on PHQ-9 or GAD-7: the authors' cut-off for a probable disorder, and
# the score at which measurement-based care asks for a clinician's look (Canvas's
# FollowUpElevatedPHQ9). Only for events from before `counselor_review` (every site had it).
ELEVATED_BANDS = frozenset(
    {MeasureBand.MODERATE, MeasureBand.MODERATELY_SEVERE, MeasureBand.SEVERE}
)

MAX_SCORE = {Instrument.PHQ9: 27, Instrument.GAD7: 21}  # 9 and 7 items of 0-3


async def on_callback_requested(
    uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent
) -> None:
    assert isinstance(event, CallbackRequested)
    if event.counselor_id is None:
        return
    params = {"client_id": str(event.client_id), "followup_id": str(event.followup_id)}
    await email_staff(
        uow, envelope, [event.counselor_id], event.site_id, Template.CALLBACK_REQUESTED, params
    )


async def on_measure_recorded(uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
    assert isinstance(event, MeasureRecorded)
    # Events from before followup named the counselor carry none: nobody to tell.
    if event.counselor_id is None or not _to_review(event):
        return
    params = {
        "client_id": str(event.client_id),
        "followup_id": str(event.followup_id),
        "instrument": event.instrument.value,
        "score": event.score,
        "max_score": MAX_SCORE[event.instrument],
        "band": event.band.value,
    }
    await email_staff(
        uow, envelope, [event.counselor_id], event.site_id, Template.ELEVATED_SCORE, params
    )


def _to_review(event: MeasureRecorded) -> bool:
    """followup's answer from the site's policy; events from before it: today's fixed rule."""
    if event.counselor_review is None:
        return event.band in ELEVATED_BANDS
    return event.counselor_review
