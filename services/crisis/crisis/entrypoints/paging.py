"""How crisis builds its `Paging` (the alert URL and the signer of page links) from settings."""

from counseling_shared.links import LinkSigner
from crisis.application.publishing import Paging
from crisis.domain.durations import parse_duration
from crisis.settings import CrisisSettings


def link_signer(settings: CrisisSettings) -> LinkSigner:
    return LinkSigner(settings.link_signing_key.get_secret_value())


def paging_for(settings: CrisisSettings) -> Paging:
    return Paging(
        settings.alert_base_url,
        link_signer(settings),
        parse_duration(settings.page_link_ttl),
    )
