"""One console shared by the runner and the log pumps of every service."""

import sys
import threading

_lock = threading.Lock()


def say(text: str = "") -> None:
    with _lock:
        print(text, file=sys.stdout, flush=True)


def prefixed(prefix: str, line: str) -> None:
    say(f"{prefix:<9}| {line}")
