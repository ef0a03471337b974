"""Every `counselctl …` command line the pages show (README.md, services/*/README.md, docs/*.md)
or the alerts' annotations (deploy/prometheus/alerts.yaml) tell an operator to run is one
counselctl accepts: its command path exists, each option it passes is one of that command's,
and a line that invokes a command (gives it anything) passes its required options. Checked
against the Typer command tree, nothing is run. An alert told operators `contact-gaps --site-id`
(the option is `--site`) and a page `dead-letters list --waiting` (without the required
`--service`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from opsctl.bus import service_consumers
from opsctl.cli import app
from opsctl.config import Service

ROOT = Path(__file__).resolve().parents[2]
PAGES = [
    "README.md",
    *(str(p.relative_to(ROOT)) for p in sorted(ROOT.glob("services/*/README.md"))),
    *(
        str(p.relative_to(ROOT))
        for p in sorted((ROOT / "docs").glob("*.md"))
        if p.name != "performance.md"  # written by `make bench`, names no command
    ),
]
ALERTS = "deploy/prometheus/alerts.yaml"

_FENCED = re.compile(r"^```.*?^```", re.M | re.S)
_WORD = re.compile(r"[a-z][a-z-]*")  # a command's name (not an argument, option or placeholder)
# Where a shell line stops being counselctl's: a comment, a pipe, the next command, a redirect.
_SHELL_TAIL = re.compile(r"\s(?:#|\||&&|;|\d?>).*$")
_ELIDED = {"…", "..."}


def _code_calls(code: str) -> list[str]:
    return re.findall(r"\bcounselctl ([^`]*)", code)


def markdown_calls(text: str) -> list[str]:
    """What follows `counselctl` on the command lines of code blocks (continued lines joined)
    and in inline code."""
    calls = []
    for block in _FENCED.findall(text):
        joined = re.sub(r"\s*\\\n\s*", " ", block)
        calls += re.findall(r"^\s*(?:\$ )?(?:\.venv/bin/)?counselctl (.*)$", joined, re.M)
    for code in re.findall(r"`([^`]+)`", _FENCED.sub("", text)):
        calls += _code_calls(code)
    return calls


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in _strings(value)]
    return []


def alert_calls(text: str) -> list[str]:
    """In the rules' annotations: inline code, and a bare `counselctl a b` in the prose (its
    command words only)."""
    calls = []
    for rule in (r for g in yaml.safe_load(text)["groups"] for r in g["rules"]):
        for annotation in _strings(rule.get("annotations", {})):
            calls += [c for code in re.findall(r"`([^`]+)`", annotation) for c in _code_calls(code)]
            prose = re.sub(r"`[^`]*`", "", annotation)
            calls += re.findall(r"\bcounselctl ((?:[a-z][a-z-]*\b ?)+)", prose)
    return calls


def _options(command: Any) -> dict[str, Any]:
    return {
        name: param
        for param in command.params
        if param.param_type_name == "option"
        for name in (*param.opts, *param.secondary_opts)
    }


def problems(call: str, root: Any) -> list[str]:
    """What counselctl would refuse in `counselctl <call>` (empty: nothing)."""
    words = _SHELL_TAIL.sub("", call).split()
    command, path = root, ["counselctl"]
    while words and hasattr(command, "commands") and _WORD.fullmatch(words[0]):
        if words[0] not in command.commands:
            return [f"{' '.join(path)} has no command {words[0]}"]
        path.append(words.pop(0))
        command = command.commands[path[-1]]
    where, known = " ".join(path), _options(command)
    given = {w.split("=", 1)[0] for w in words if w.startswith("-")}
    found = [f"{where} has no option {o}" for o in sorted(given - set(known) - {"--help"})]
    invoked = words and not _ELIDED & set(words) and "--help" not in given
    if invoked and not hasattr(command, "commands"):
        required = {p.opts[0]: p for p in known.values() if p.required}
        found += [
            f"{where} needs {name}"
            for name, param in sorted(required.items())
            if not given & {*param.opts, *param.secondary_opts}
        ]
    return found


def _calls(source: str) -> list[str]:
    text = (ROOT / source).read_text("utf-8")
    return alert_calls(text) if source == ALERTS else markdown_calls(text)


@pytest.mark.parametrize("source", [*PAGES, ALERTS])
def test_every_counselctl_call_is_one_counselctl_accepts(source: str) -> None:
    root = typer.main.get_command(app)
    wrong = {call: found for call in _calls(source) if (found := problems(call, root))}
    assert not wrong, f"{source}: {wrong}"


@pytest.mark.parametrize("source", [*PAGES, ALERTS])
def test_dead_letter_examples_name_a_service_that_has_some(source: str) -> None:
    """A service without consumers never has a dead letter: README's example listed booking's,
    which always shows nothing."""
    consuming = {s.value for s in Service if service_consumers(s)}
    named = [
        m.group(1)
        for call in _calls(source)
        if call.startswith("dead-letters ")
        for m in [re.search(r"(?:--service|-s)[ =](\w+)", call)]
        if m and m.group(1) in {s.value for s in Service}
    ]
    assert not [n for n in named if n not in consuming], f"{source}: {named}"


def test_the_pages_and_alerts_show_calls_at_all() -> None:
    assert len([c for source in PAGES for c in _calls(source)]) > 50
    assert "staff reannounce " in _calls(ALERTS)


def test_the_check_sees_a_wrong_command_option_or_missing_required_option() -> None:
    root = typer.main.get_command(app)
    assert problems("dlq purge", root) == ["counselctl has no command dlq"]
    assert problems("dead-letters purge", root) == ["counselctl dead-letters has no command purge"]
    assert problems("contact-gaps --site-id {{ $labels.site_id }}", root) == [
        "counselctl contact-gaps has no option --site-id"
    ]
    assert problems("dead-letters list --waiting", root) == [
        "counselctl dead-letters list needs --service"
    ]
    assert problems("dead-letters review 42 -s crisis", root) == []
    assert problems("dead-letters review 42 --service=crisis | less", root) == []
    assert problems("dead-letters list", root) == []  # the command named, not invoked
    assert problems("dead-letters list --help", root) == []
    assert problems("keys new --role … --site …", root) == []
    assert problems("streams --json", root) == []  # a group that runs on its own
    assert problems("streams --jsn", root) == ["counselctl streams has no option --jsn"]


def test_calls_are_found_in_code_blocks_inline_code_and_alert_prose() -> None:
    page = (
        "run `counselctl dlq purge` or `kubectl exec x -- counselctl streams`\n"
        "```sh\n$ counselctl keys new \\\n    --role admin  # first\nkubectl get pods\n```"
    )
    assert markdown_calls(page) == ["keys new --role admin  # first", "dlq purge", "streams"]
    alerts = yaml.safe_dump(
        {
            "groups": [
                {
                    "rules": [
                        {
                            "annotations": {
                                "description": "Run counselctl staff reannounce (see docs), "
                                "or `counselctl followups overdue --site X`."
                            }
                        }
                    ]
                }
            ]
        }
    )
    assert alert_calls(alerts) == ["followups overdue --site X", "staff reannounce "]
