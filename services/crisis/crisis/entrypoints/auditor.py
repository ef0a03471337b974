"""Runs the escalation auditor every CRISIS_AUDIT_INTERVAL seconds."""

import asyncio

from counseling_shared.logs import get_logger
from counseling_shared.service import BackgroundTask, Runtime
from crisis.application.auditor import audit_next_steps
from crisis.application.publishing import Paging
from crisis.settings import CrisisSettings

log = get_logger(__name__)


def escalation_auditor(paging: Paging) -> BackgroundTask:
    async def escalation_auditor(runtime: Runtime) -> None:
        settings = runtime.settings
        interval = settings.audit_interval if isinstance(settings, CrisisSettings) else 5.0
        while True:
            await asyncio.sleep(interval)
            try:
                await audit_next_steps(runtime.db(), runtime.clock, paging)
            except Exception as exc:
                # The next pass tries again; a crashed task would stop auditing for good.
                log.warning("escalation_audit_failed", error=repr(exc))

    return escalation_auditor
