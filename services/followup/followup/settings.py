"""followup's settings: the backbone's, plus its port and the gauges' refresh interval."""

from pydantic import Field

from counseling_shared.settings import ServiceSettings


class FollowupSettings(ServiceSettings):
    service_name: str = "followup"
    port: int = Field(default=8002, alias="FOLLOWUP_PORT")
    gauge_interval: float = Field(
        default=5.0,
        alias="FOLLOWUP_GAUGE_INTERVAL",
        gt=0,
        description="Seconds between refreshes of the scheduled, due and overdue gauges.",
    )
    response_base_url: str = Field(
        default="http://127.0.0.1:8002",
        alias="FOLLOWUP_RESPONSE_BASE_URL",
        description="Where clients reach followup's answer forms; `FollowUpDue.response_url` is"
        " `<this>/followups/{id}/response?token=…`.",
    )
    response_link_ttl: str = Field(
        default="P14D",
        alias="FOLLOWUP_RESPONSE_LINK_TTL",
        description="How long a client's answer link stays valid after the follow-up falls due"
        " (ISO 8601).",
    )
