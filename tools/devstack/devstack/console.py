"""One console shared by the runner and the log pumps of every service."""

import contextlib
import sys
import threading

_lock = threading.Lock()


def say(text: str = "") -> None:
    # A closed console (`make run | head`) must not stop the log pumps: a pump that dies
    # leaves its service blocked on a full pipe.
    with _lock, contextlib.suppress(OSError, ValueError):
        print(text, file=sys.stdout, flush=True)


def prefixed(prefix: str, line: str) -> None:
    say(f"{prefix:<9}| {line}")
