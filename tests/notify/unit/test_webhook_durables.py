"""The webhook durables: one per stream, and only the one added to running suites starts at the
stream's next event (an upgrade must not replay the NOTIFY stream's 90 days to subscribers)."""

from notify.entrypoints.consumers import WEBHOOK_STREAMS, webhook_routes


def test_each_stream_has_one_webhook_durable_and_only_notifys_starts_from_new() -> None:
    specs = {route.spec.stream: route.spec for route in webhook_routes()}

    assert sorted(specs) == sorted(WEBHOOK_STREAMS)
    assert {stream for stream, spec in specs.items() if spec.from_new} == {"NOTIFY"}
    assert specs["NOTIFY"].durable == "notify-webhooks-notify"
