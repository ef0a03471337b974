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
