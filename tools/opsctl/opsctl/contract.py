"""The generated tables of `docs/contract.md`, from the OpenAPI and AsyncAPI documents.

The page is written by hand except between `<!-- generated:NAME -->` and `<!-- /generated -->`
markers, which `make docs` fills: `http:<service>` (every operation the service serves, with its
answers) and `events` (every event on the bus, with its `data` fields). A test fails when the
committed page differs from what the documents give.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MARKER = re.compile(
    r"(<!-- generated:(?P<name>[\w:-]+) -->\n)(?P<body>.*?)(<!-- /generated -->)", re.S
)
_METHODS = ("get", "put", "post", "delete", "patch")
# Declared on every keyed operation (413: on those taking a body): the page's Conventions say so
# once instead of on each row.
_EVERY_KEYED_ROUTE = frozenset({"413", "429"})


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _body_fields(document: Mapping[str, Any], operation: Mapping[str, Any]) -> str:
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema", {})
    # An optional body (`X | None`) is `anyOf: [{$ref: X}, {type: null}]`.
    refs = [schema.get("$ref"), *(s.get("$ref") for s in schema.get("anyOf", []))]
    ref = next((r for r in refs if r), None)
    if not ref:
        return ""
    schema = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    required = set(schema.get("required", []))
    return ", ".join(
        f"`{name}`" if name in required else f"`{name}`?" for name in schema.get("properties", {})
    )


def http_table(document: Mapping[str, Any]) -> str:
    rows = ["| method, path | body | success | errors |", "|---|---|---|---|"]
    for path, item in document["paths"].items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            statuses = sorted(operation["responses"])
            success = [s for s in statuses if s.startswith("2")]
            public = " (no key)" if operation.get("security") == [] else ""
            errors = [
                s
                for s in statuses
                if not s.startswith("2") and (public or s not in _EVERY_KEYED_ROUTE)
            ]
            rows.append(
                f"| `{method.upper()} {path}`{public} | {_body_fields(document, operation)} "
                f"| {', '.join(success)} | {', '.join(errors)} |"
            )
    return "\n".join(rows) + "\n"


def events_table(asyncapi: Mapping[str, Any]) -> str:
    schemas = asyncapi["components"]["schemas"]
    messages = asyncapi["components"]["messages"]
    rows = ["| subject | what happened | `data` |", "|---|---|---|"]
    for channel in asyncapi["channels"].values():
        message = messages[channel["messages"]["Message"]["$ref"].rsplit("/", 1)[1]]
        schema = schemas[message["payload"]["$ref"].rsplit("/", 1)[1]]
        required = set(schema.get("required", []))
        fields = ", ".join(
            f"`{name}`" if name in required else f"`{name}`?" for name in schema["properties"]
        )
        what = _cell(schema.get("description", ""))
        rows.append(f"| `{channel['address']}` | {what} | {fields} |")
    return "\n".join(rows) + "\n"


def generated_sections(
    openapi: Mapping[str, Mapping[str, Any]], asyncapi: Mapping[str, Any]
) -> dict[str, str]:
    sections = {f"http:{service}": http_table(doc) for service, doc in openapi.items()}
    sections["events"] = events_table(asyncapi)
    return sections


def filled(page: str, sections: Mapping[str, str]) -> str:
    """The page with every marked section replaced by its generated text."""

    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in sections:
            raise KeyError(f"docs/contract.md names an unknown generated section {name!r}")
        return f"{match.group(1)}{sections[name]}{match.group(4)}"

    return MARKER.sub(replace, page)
