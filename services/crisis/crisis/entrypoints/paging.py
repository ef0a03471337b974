"""How crisis builds its `Paging` (the alert URL and the signer of page links) from settings."""

from crisis.application.publishing import Paging
from crisis.domain.durations import parse_duration
from crisis.settings import CrisisSettings


def paging_for(settings: CrisisSettings) -> Paging:
    return Paging(
        settings.alert_base_url,
        settings.link_signer(),
        parse_duration(settings.page_link_ttl),
    )
