"""Stopping child processes and waiting for things to come up."""

import contextlib
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil


class StartupError(RuntimeError):
    """A server or service did not become ready."""


def wait_until(
    ready: Callable[[], bool], timeout: float, what: str, interval: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise StartupError(f"{what} not ready after {timeout:.0f} s")
        time.sleep(interval)


def terminate(
    proc: subprocess.Popen[bytes], timeout: float = 10.0, sig: int = signal.SIGTERM
) -> None:
    """Ask politely with `sig`, then SIGKILL it and its descendants; returns once reaped."""
    if proc.poll() is not None:
        return
    descendants = _descendants(proc.pid)
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        _kill_all(descendants, timeout)


def kill_tree(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGKILL a child and all its descendants, as a crash or an OOM kill would."""
    descendants = _descendants(proc.pid)
    proc.kill()
    _kill_all(descendants, timeout)
    proc.wait()


def stop_stray(proc: psutil.Process, sig: int, timeout: float = 10.0) -> None:
    """Stop a process that is not our child (left over from a run that was killed)."""
    try:
        descendants = proc.children(recursive=True)
        proc.send_signal(sig)
    except psutil.NoSuchProcess:
        return
    if not _wait_dead([proc], timeout):
        _kill_all([proc, *descendants], timeout)


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _kill_all(procs: list[psutil.Process], timeout: float) -> None:
    for victim in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            victim.kill()
    _wait_dead(procs, timeout)


def _wait_dead(procs: list[psutil.Process], timeout: float) -> bool:
    # A zombie counts as dead: it holds no port or memory, and reaping an orphan is up to
    # PID 1, which in some containers takes seconds.
    def dead(proc: psutil.Process) -> bool:
        try:
            return proc.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    deadline = time.monotonic() + timeout
    while not all(dead(proc) for proc in procs):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
