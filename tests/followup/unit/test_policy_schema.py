"""The follow-up policy's OpenAPI schema documents the default each omitted field takes."""

from typing import Any

from followup.entrypoints.schemas import PolicyIn


def test_every_default_an_omitted_field_takes_is_shown_in_the_schema() -> None:
    properties: dict[str, Any] = PolicyIn.model_json_schema()["properties"]
    taken = PolicyIn().model_dump(mode="json")

    shown = {name: properties[name].get("default", "<not shown>") for name in taken}

    assert shown == taken
    assert shown["post_closure_checkins"] == ["P14D", "P1M", "P3M"]  # the contract's defaults
    assert shown["appointment_reminders"] == ["P1D", "PT2H"]


def test_a_shown_default_is_a_copy_no_request_can_change() -> None:
    first = PolicyIn()
    first.post_closure_checkins.append("P1Y")
    first.appointment_reminders.clear()

    assert PolicyIn().post_closure_checkins == ["P14D", "P1M", "P3M"]
    assert PolicyIn().appointment_reminders == ["P1D", "PT2H"]
    default = PolicyIn.model_json_schema()["properties"]["post_closure_checkins"]["default"]
    assert default == ["P14D", "P1M", "P3M"]
