"""A staff member texted STOP (or START) to crisis's paging number: notify stops (or resumes)
SMS and messaging to the phone it holds for them, as for a client's STOP to its own number.

The event names the member, not the number (nothing on the bus carries one): the phone is
notify's own copy from booking's `StaffRegistered`. A member notify has no phone for changes
nothing (no SMS would go to them anyway); the number they get later is not opted out, since
the STOP was the old phone's.
"""

from collections.abc import Sequence

from counseling_shared.envelope import Envelope
from counseling_shared.events import IntegrationEvent, StaffSmsOptOutChanged
from counseling_shared.inbox import Handler
from counseling_shared.logs import get_logger
from counseling_shared.unit_of_work import UnitOfWork
from notify.adapters import opt_outs

log = get_logger(__name__)


def staff_texts_handler(link_keys: Sequence[str]) -> Handler:
    async def on_staff_sms_opt_out_changed(
        uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent
    ) -> None:
        assert isinstance(event, StaffSmsOptOutChanged)
        phone: str | None = await uow.conn.fetchval(
            "SELECT phone FROM staff_contacts WHERE staff_id = $1", event.staff_id
        )
        if phone:
            if event.opted_out:
                await opt_outs.opt_out(uow.conn, link_keys, phone, "staff_stop", uow.now())
            else:
                await opt_outs.opt_in(uow.conn, link_keys, phone)
        log.info(
            "staff_sms_opt_out_changed",
            staff_id=str(event.staff_id),
            opted_out=event.opted_out,
            phone_known=bool(phone),
        )

    return on_staff_sms_opt_out_changed
