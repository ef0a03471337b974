"""Make the demo plan's calls against running services, over their public HTTP APIs only."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from opsctl.demo.plan import Json, Ref, Step

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


KEY_REUSED = "idempotency-key-reused"


class DemoLoadFailed(Exception):
    def __init__(self, step: Step, response: httpx.Response) -> None:
        hint = ""
        if KEY_REUSED in response.text:
            hint = (
                " (an earlier run with this seed sent another body under the same key: "
                "keep its options, or choose another --seed)"
            )
        super().__init__(
            f"{step.method} {step.service} {response.request.url.path} ({step.key}) answered "
            f"{response.status_code}: {response.text[:500]}{hint}"
        )
        self.step = step
        self.response = response


@dataclass
class LoadedCenter:
    """What the load made (or found made by an earlier run with the same seed)."""

    ids: dict[str, str] = field(default_factory=dict)  # step key -> id
    created: Counter[str] = field(default_factory=Counter)  # kind -> 201 answers
    replayed: Counter[str] = field(default_factory=Counter)  # kind -> answers replayed

    def sites(self) -> dict[str, str]:
        return {k.split(":", 1)[1]: v for k, v in self.ids.items() if k.startswith("site:")}


def idempotency_key(seed: int, step: Step) -> str:
    return f"counselctl-demo:{seed}:{step.key}"


def resolve(value: Json, ids: Mapping[str, str]) -> Json:
    """The body with each `Ref` replaced by the id its step returned."""
    if isinstance(value, Ref):
        return ids[value.key]
    if isinstance(value, dict):
        return {k: resolve(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, ids) for v in value]
    return value


def resolve_path(path: str, ids: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: ids[m.group(1)], path)


async def load_demo(
    plan: Sequence[Step],
    *,
    urls: Mapping[str, str],
    api_key: str,
    seed: int,
    on_step: Callable[[Step], None] = lambda step: None,
    wait_for_events: float = 30.0,
) -> LoadedCenter:
    """Make every call in order; raise `DemoLoadFailed` at the first unexpected answer.

    A POST replayed from an earlier run answers with the first answer (same id) and the header
    `Idempotent-Replayed: true`; nothing is created twice.
    """
    center = LoadedCenter()
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(headers=headers, timeout=30.0) as http:
        for step in plan:
            response = await _call(http, urls[step.service], step, center, seed, wait_for_events)
            kind = step.key.split(":", 1)[0]
            answer: dict[str, Any] = response.json()
            if "id" in answer:
                center.ids[step.key] = str(answer["id"])
            if response.status_code == 201 and not _replayed(response):
                center.created[kind] += 1
            elif response.status_code == 201:
                center.replayed[kind] += 1
            on_step(step)
    return center


async def _call(
    http: httpx.AsyncClient,
    base_url: str,
    step: Step,
    center: LoadedCenter,
    seed: int,
    wait_for_events: float,
) -> httpx.Response:
    url = base_url.rstrip("/") + resolve_path(step.path, center.ids)
    body = resolve(step.body, center.ids)
    headers = {"Idempotency-Key": idempotency_key(seed, step)} if step.method == "POST" else {}
    deadline = time.monotonic() + wait_for_events
    while True:
        response = await http.request(step.method, url, json=body, headers=headers)
        if response.is_success:
            return response
        if step.retry_unprocessable and response.status_code == 422 and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            continue
        raise DemoLoadFailed(step, response)


def _replayed(response: httpx.Response) -> bool:
    return bool(response.headers.get("idempotent-replayed") == "true")
