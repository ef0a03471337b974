"""What the on-call page shows, in the staff member's language: built from the alert's view.

Coded values and staff names (from booking's StaffRegistered; a short id for a member crisis
has no name for): no client detail reaches the page except the contact details a confirmed PIN
fetched for this one answer.
"""

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from counseling_shared.codes import AlertOutcome
from crisis.application.voice_calls import call_outcome
from crisis.entrypoints.page_i18n import Translate

OUTCOME_TEXT = {
    AlertOutcome.SAFETY_PLAN: "Safety plan",
    AlertOutcome.REFERRED_EMERGENCY: "Referred to emergency services",
    AlertOutcome.REFERRED_HOSPITAL: "Referred to hospital",
    AlertOutcome.POLICE: "Police",
    AlertOutcome.NO_RISK_FOUND: "No risk found",
}
STATUS_TEXT = {"open": "Open", "acknowledged": "Acknowledged", "resolved": "Resolved"}
# Channel codes (pages' and the client's preferred channel) as words to translate.
CHANNEL_TEXT = {
    "email": "email",
    "sms": "SMS",
    "messaging": "messaging app",
    "phone": "phone",
    "voice": "phone call",
}
CALL_OUTCOME_TEXT = {
    "answered": "answered",
    "voicemail": "voicemail",
    "no_answer": "no answer",
    "busy": "busy",
    "failed": "failed",
    "canceled": "canceled",
}

# booking's closure kinds (a shift offered on a closed day); another code is shown as it is.
CLOSURE_KIND_TEXT = {
    "public_holiday": "public holiday",
    "training": "training day",
    "closure": "closure",
}


@dataclass(frozen=True)
class Notice:
    text: str
    tone: str  # good, bad or plain


def short_id(value: object) -> str:
    return str(value)[:8]


def staff_ids_in(view: dict[str, Any]) -> set[str]:
    """Every staff id the page may name: who was paged, acknowledged, resolved, and each step's."""
    return set(_staff_ids(view)) - {""}


def _staff_ids(view: dict[str, Any]) -> Iterator[str]:
    yield str(view.get("acknowledged_by") or "")
    yield str(view.get("resolved_by") or "")
    for page in view["pages"]:
        yield str(page["staff_id"])
    for step in view["timeline"]:
        yield str(step.get("staff_id") or "")
        yield from (str(s) for s in step.get("staff_ids", []))


class PageView:
    """The template's values for one alert, seen by `me`."""

    def __init__(
        self,
        view: dict[str, Any],
        me: UUID,
        _: Translate,
        when: Callable[[datetime | None], str],
        names: Mapping[str, str] | None = None,
    ) -> None:
        self.view, self.me, self._, self.when = view, me, _, when
        self.names = names or {}

    def who(self, staff_id: object) -> str:
        text = self.names.get(str(staff_id)) or short_id(staff_id)
        return f"{text} ({self._('you')})" if str(staff_id) == str(self.me) else text

    def is_fallback(self, level: object) -> bool:
        """A page one past the frozen policy's last level: the fallback staff's (its `level`
        number would read as a level that does not exist)."""
        policy = self.view.get("policy")
        if not policy or not isinstance(level, int):
            return False  # no policy: pages outside any level
        return level > len(policy["levels"])

    def channel_text(self, channel: object) -> str:
        """A channel code in words (an unknown code as it is)."""
        code = str(channel or "")
        return self._(CHANNEL_TEXT[code]) if code in CHANNEL_TEXT else code

    def acknowledged_text(self) -> str:
        v = self.view
        if v["acknowledged_at"] is None:
            return ""
        return self._(
            "%(who)s at %(when)s",
            who=self.who(v["acknowledged_by"]),
            when=self.when(v["acknowledged_at"]),
        )

    def alert(self) -> dict[str, Any]:
        v, _ = self.view, self._
        resolved = ""
        if v["resolved_at"] is not None:
            resolved = _(
                "%(who)s at %(when)s",
                who=self.who(v["resolved_by"]),
                when=self.when(v["resolved_at"]),
            )
            if v.get("outcome"):
                resolved += f" · {_(OUTCOME_TEXT[AlertOutcome(v['outcome'])])}"
        return {
            "short_id": short_id(v["id"]),
            "status": v["status"],
            "status_text": _(STATUS_TEXT[v["status"]]),
            "risk_text": _(str(v["level"])),
            "current_level": v["current_level"],
            "opened_text": self.when(v["opened_at"]),
            "acknowledged_text": self.acknowledged_text(),
            "resolved_text": resolved,
        }

    def pages(self) -> list[dict[str, Any]]:
        _ = self._
        out = []
        for p in self.view["pages"]:
            if p["sent_at"] is not None:
                delivery = f"{_('Sent')} {self.when(p['sent_at'])}"
            elif p["failed_at"] is not None:
                delivery = f"{_('Failed')} {self.when(p['failed_at'])}"
            else:
                delivery = _("Waiting for delivery")
            out.append(
                {
                    "who": self.who(p["staff_id"]),
                    "level": p["level"],
                    "fallback": self.is_fallback(p["level"]),
                    "requested_text": self.when(p["requested_at"]),
                    "delivery_text": delivery,
                }
            )
        return out

    def timeline(self) -> list[dict[str, str]]:
        return [
            {"at_text": self.when(step["at"]), "text": self._step(step)}
            for step in self.view["timeline"]
        ]

    def outcomes(self) -> list[tuple[str, str]]:
        return [(o.value, self._(text)) for o, text in OUTCOME_TEXT.items()]

    def _step(self, step: dict[str, Any]) -> str:
        _, kind = self._, step["kind"]
        who = self.who(step.get("staff_id", ""))
        level = step.get("level", "")
        match kind:
            case "flag_received":
                return f"{_('Risk flag received')} ({_(str(step.get('risk_level')))})"
            case "opened":
                return _("Alert opened")
            case "no_policy":
                return _("No escalation policy yet")
            case "policy_adopted":
                return _("Escalation policy adopted")
            case "level_raised":
                return f"{_('Risk level raised')} ({_(str(step.get('risk_level')))})"
            case "page_requested" if self.is_fallback(level):
                return _("Page requested for %(who)s (fallback)", who=who)
            case "page_requested":
                return _("Page requested for %(who)s (level %(level)s)", who=who, level=level)
            case "oncall_resolved":
                names = ", ".join(self.who(s) for s in step.get("staff_ids", [])) or "—"
                return _(
                    "On call from the schedule: %(who)s (level %(level)s)", who=names, level=level
                )
            case "level_skipped":
                return _("Level %(level)s skipped: nobody on call", level=level)
            case "page_skipped":
                return _("%(who)s skipped (%(reason)s)", who=who, reason=step.get("reason", ""))
            case "round_robin_turn":
                return _(
                    "Round robin: turn %(turn)s went to %(who)s (level %(level)s)",
                    who=who,
                    turn=step.get("turn", ""),
                    level=level,
                )
            case "page_sent":
                return _(
                    "Page to %(who)s sent by %(channel)s",
                    who=who,
                    channel=self.channel_text(step.get("channel")),
                )
            case "page_failed":
                return _(
                    "Page to %(who)s failed by %(channel)s",
                    who=who,
                    channel=self.channel_text(step.get("channel")),
                )
            case "call_ended":
                ended = call_outcome(str(step.get("outcome")), step.get("answered_by") or None)
                return _(
                    "Call to %(who)s ended: %(outcome)s",
                    who=who,
                    outcome=_(CALL_OUTCOME_TEXT.get(ended, ended)),
                )
            case "escalated":
                return _("Escalated to level %(level)s", level=level)
            case "escalated_by_staff":
                return _("Escalated by %(who)s (level %(level)s)", who=who, level=level)
            case "chain_repeated":
                return _("Chain started again")
            case "acknowledged":
                return _("Acknowledged by %(who)s", who=who)
            case "resolved":
                outcome = step.get("outcome")
                text = _("Resolved by %(who)s", who=who)
                return f"{text} · {_(OUTCOME_TEXT[AlertOutcome(outcome)])}" if outcome else text
            case "exhausted":
                return _("Every level was paged without an acknowledgement")
            case "reopened" if step.get("reason") == "ack_expired":
                return _("Reopened (acknowledgement expired): %(who)s paged again", who=who)
            case "reopened":
                return _("Reopened (risk level raised): %(who)s paged again", who=who)
            case _:
                return str(kind)
