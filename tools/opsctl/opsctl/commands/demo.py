"""`counselctl demo load`."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Annotated

import httpx
import typer

from opsctl.commands.common import JsonOption, fail, run
from opsctl.config import API_VARIABLES, Service, missing_stack_hint, service_url
from opsctl.console import print_json, progress, stdout, table
from opsctl.demo.load import DemoLoadFailed, LoadedCenter, load_demo
from opsctl.demo.plan import Step, demo_plan, next_week

app = typer.Typer(help="A demo center for trying the suite.", no_args_is_help=True)

DEV_API_KEY = "dev-admin-key"
API_OPTIONS = "--booking-url, --followup-url and --crisis-url"


def _url_option(service: str, port: int) -> object:
    return typer.Option(
        f"--{service}-url",
        help=f"Default: `http://127.0.0.1:${service.upper()}_PORT`, else where a running"
        f" `make run` serves it, else port {port}.",
        show_default=False,
    )


@app.command()
def load(
    booking_url: Annotated[str | None, _url_option("booking", 8001)] = None,
    followup_url: Annotated[str | None, _url_option("followup", 8002)] = None,
    crisis_url: Annotated[str | None, _url_option("crisis", 8004)] = None,
    api_key: Annotated[
        str, typer.Option("--api-key", envvar="COUNSELCTL_API_KEY", help="An admin key.")
    ] = DEV_API_KEY,
    seed: Annotated[
        int, typer.Option(help="Same seed, same center: a re-run creates nothing twice.")
    ] = 1,
    week_of: Annotated[
        datetime | None,
        typer.Option(
            "--week-of",
            formats=["%Y-%m-%d"],
            help="A day of the week to fill with appointments. Default: next week.",
            show_default=False,
        ),
    ] = None,
    clients_per_site: Annotated[int, typer.Option(min=1, max=200)] = 10,
    wait: Annotated[
        float,
        typer.Option(help="Seconds to wait for crisis to learn of the staff from booking."),
    ] = 30.0,
    as_json: JsonOption = False,
) -> None:
    """Load a demo center through the services' HTTP APIs: two sites (Paris, Seoul), staff,
    rooms, clients, a week of appointments, and each site's follow-up and escalation policy."""
    week = week_of.date() if week_of else next_week(datetime.now(UTC).date())
    plan = demo_plan(seed, week, clients_per_site)
    urls = {
        "booking": service_url(Service.BOOKING, booking_url),
        "followup": service_url(Service.FOLLOWUP, followup_url),
        "crisis": service_url(Service.CRISIS, crisis_url),
    }
    explicit = any((booking_url, followup_url, crisis_url))
    center = _load(plan, urls, api_key, seed, wait, explicit=explicit)
    summary = {
        "week_of": week.isoformat(),
        "sites": center.sites(),
        "created": dict(center.created),
        "replayed": dict(center.replayed),
    }
    if as_json:
        print_json(summary)
        return
    out = stdout()
    out.print(
        table(f"Demo center (seed {seed}, week of {week})", ["site", "id"], center.sites().items())
    )
    kinds = sorted(set(center.created) | set(center.replayed))
    out.print(
        table(
            "Records",
            ["kind", "created", "already there"],
            ([k, center.created[k], center.replayed[k]] for k in kinds),
        )
    )


def _load(
    plan: list[Step],
    urls: dict[str, str],
    api_key: str,
    seed: int,
    wait: float,
    *,
    explicit: bool = False,
) -> LoadedCenter:
    async def work() -> LoadedCenter:
        with progress() as bar:
            task = bar.add_task("loading the demo center", total=len(plan))
            return await load_demo(
                plan,
                urls=urls,
                api_key=api_key,
                seed=seed,
                on_step=lambda step: bar.advance(task),
                wait_for_events=wait,
            )

    try:
        return run(work())
    except DemoLoadFailed as exc:
        fail(str(exc))
    except httpx.HTTPError as exc:
        message = f"cannot reach {exc.request.url}: {exc!r}" if _has_request(exc) else repr(exc)
        # Nothing said where the services are: most likely a `make run` with DEVSTACK_VAR_DIR.
        hint = None if explicit else missing_stack_hint(os.environ, API_VARIABLES, API_OPTIONS)
        fail(message + (f"\n{hint}" if hint else ""))


def _has_request(exc: httpx.HTTPError) -> bool:
    try:
        exc.request  # noqa: B018 - raises RuntimeError when the error has none
    except RuntimeError:
        return False
    return True
