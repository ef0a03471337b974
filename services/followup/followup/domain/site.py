"""What followup keeps about a site: its time zone (from booking) and its follow-up policy."""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from followup.domain.policy import FollowUpPolicy, policy_from_text


@dataclass(frozen=True)
class SiteRecorded:
    timezone: str
    locale: str


@dataclass(frozen=True)
class PolicySet:
    policy: FollowUpPolicy


def site_stream_id(site_id: UUID) -> str:
    return f"site-{site_id}"


def policy_stream_id(site_id: UUID) -> str:
    return f"policy-{site_id}"


def to_record(event: SiteRecorded | PolicySet) -> tuple[str, dict[str, Any]]:
    if isinstance(event, SiteRecorded):
        return "SiteRecorded", {"timezone": event.timezone, "locale": event.locale}
    return "FollowUpPolicySet", dict(event.policy.as_text())


def from_record(event_type: str, data: dict[str, Any]) -> SiteRecorded | PolicySet:
    if event_type == "SiteRecorded":
        return SiteRecorded(data["timezone"], data["locale"])
    return PolicySet(policy_from_text(data))
