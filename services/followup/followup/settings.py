"""followup's settings: the backbone's, plus its port."""

from pydantic import Field

from counseling_shared.settings import ServiceSettings


class FollowupSettings(ServiceSettings):
    service_name: str = "followup"
    port: int = Field(default=8002, alias="FOLLOWUP_PORT")
