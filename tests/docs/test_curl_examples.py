"""Every `curl` request the pages show (README.md, services/*/README.md, docs/*.md) is one the
service accepts: its method and path are in the service's committed OpenAPI document, and its
JSON body validates against that operation's request schema. A newcomer copies these lines
literally: the README once set a 4-digit PIN that `PUT /staff/{id}/pin` refuses (6 to 12
digits). Checked against docs/openapi/*.json (tests/opsctl/test_published_docs.py keeps them
equal to the code); nothing is sent."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parents[2]
PAGES = [
    "README.md",
    *(str(p.relative_to(ROOT)) for p in sorted(ROOT.glob("services/*/README.md"))),
    *(
        str(p.relative_to(ROOT))
        for p in sorted((ROOT / "docs").glob("*.md"))
        if p.name != "performance.md"  # written by `make bench`
    ),
]
PORTS = {"8001": "booking", "8002": "followup", "8003": "notify", "8004": "crisis"}
# What the shell would put in place of the pages' variables and command substitutions.
_NOW = "$(date -u +%FT%TZ)"
_VARIABLES = {
    "K": "Authorization: Bearer dev-admin-key",
    "J": "Content-Type: application/json",
}
_ANY_ID = "0b7e4f1a-2c55-4d0e-9a51-6f3c2e8d9b10"
_URL = re.compile(r"^(?:https?://)?(?:localhost|127\.0\.0\.1):(\d+)(/[^?#]*)")


def _command(text: str, start: int) -> str:
    """The shell command from `start` to its end: an unquoted newline (not continued with a
    backslash), pipe, `)` or `;`."""
    quote, i = "", start
    while i < len(text):
        c = text[i]
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "\\" and text[i + 1 : i + 2] == "\n":
            i += 1
        elif c in "\n|);":
            break
        i += 1
    return text[start:i]


def curl_calls(text: str) -> list[list[str]]:
    """The words of each `curl` command in the page's code (fenced blocks and inline code)."""
    calls = []
    fenced = re.findall(r"^```.*?^```", text, re.M | re.S)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"^```.*?^```", "", text, flags=re.M | re.S))
    for code in [*fenced, *inline]:
        code = code.replace(_NOW, "2026-12-07T10:00:00Z")
        for match in re.finditer(r"\bcurl ", code):
            line = _command(code, match.start())
            line = re.sub(
                r"\$\{?([A-Za-z_]\w*)\}?", lambda m: _VARIABLES.get(m.group(1), _ANY_ID), line
            )
            calls.append(shlex.split(line.replace("\\\n", " ")))
    return calls


def request_of(words: list[str]) -> tuple[str, str, str, Any] | None:
    """(service, method, path, body or None) of a curl call to one of the services' ports;
    None for a call elsewhere, or with a placeholder (`<pod>:<port>`)."""
    method, body, target = None, None, None
    rest = iter(words[1:])
    for word in rest:
        if word in ("-X", "--request"):
            method = next(rest)
        elif word in ("-d", "--data", "--data-raw"):
            body = json.loads(next(rest))
        elif word in ("-H", "--header", "-o", "-w"):
            next(rest)
        elif not word.startswith("-"):
            target = word
    match = _URL.match(target or "")
    if not match or match.group(1) not in PORTS:
        return None
    method = method or ("POST" if body is not None else "GET")
    return PORTS[match.group(1)], method, match.group(2), body


def _openapi(service: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((ROOT / f"docs/openapi/{service}.json").read_text())
    return document


def problems(service: str, method: str, path: str, body: Any) -> list[str]:
    """What the service would refuse in the request, judged by its OpenAPI document."""
    document = _openapi(service)
    operation = next(
        (
            operations.get(method.lower())
            for template, operations in document["paths"].items()
            if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path)
        ),
        None,
    )
    where = f"{method} {path} ({service})"
    if operation is None:
        return [f"{where}: no such operation"]
    if body is None:
        return []
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return [f"{where} takes no JSON body"]
    schema = {**content["application/json"]["schema"], "components": document["components"]}
    return [
        f"{where}: {'/'.join(map(str, e.absolute_path)) or 'body'}: {e.message}"
        for e in Draft202012Validator(schema).iter_errors(body)
    ]


@pytest.mark.parametrize("page", PAGES)
def test_every_curl_request_shown_is_one_the_service_accepts(page: str) -> None:
    text = (ROOT / page).read_text("utf-8")
    requests = [r for words in curl_calls(text) if (r := request_of(words))]
    wrong = [p for request in requests for p in problems(*request)]
    assert not wrong, f"{page}:\n" + "\n".join(wrong)


def test_the_readme_shows_requests_with_bodies() -> None:
    requests = [r for w in curl_calls((ROOT / "README.md").read_text()) if (r := request_of(w))]
    with_bodies = {(service, method, path) for service, method, path, body in requests if body}
    assert len(with_bodies) >= 8
    assert ("crisis", "PUT", f"/staff/{_ANY_ID}/pin") in with_bodies


def test_the_check_sees_a_wrong_body_path_or_method() -> None:
    pin = f"/staff/{_ANY_ID}/pin"
    assert problems("crisis", "PUT", pin, {"pin": "123456"}) == []
    assert problems("crisis", "PUT", pin, {"pin": "1234"})  # too short since 6 digits
    assert problems("crisis", "PUT", pin, {"pin": "123456", "colour": "red"})
    assert problems("crisis", "PUT", "/staff/x/pins", {"pin": "123456"})
    assert problems("booking", "PUT", "/sites", {"name": "x"})
    assert problems("booking", "GET", "/readyz", None) == []


def test_calls_are_read_as_the_shell_would() -> None:
    page = (
        "```sh\n"
        "K='Authorization: Bearer dev-admin-key'\n"
        'SITE=$(curl -s -X POST localhost:8001/sites -H "$K" \\\n'
        '  -d \'{"name":"R","timezone":"Europe/Paris"}\' | id)\n'
        'APPT=$(curl -s localhost:8001/x -d \'{"site_id":"\'$SITE\'",\n'
        '  "start":"\'$(date -u +%FT%TZ)\'"}\' | id)\n'
        "```\n"
        "then `curl -s localhost:8004/alerts` and `curl <pod>:<port>/readyz`."
    )
    found = [request_of(words) for words in curl_calls(page)]
    assert found == [
        ("booking", "POST", "/sites", {"name": "R", "timezone": "Europe/Paris"}),
        ("booking", "POST", "/x", {"site_id": _ANY_ID, "start": "2026-12-07T10:00:00Z"}),
        ("crisis", "GET", "/alerts", None),
        None,
    ]
