"""What a sink received: numbered files on disk plus an in-memory list for assertions."""

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


class OutboxFolder(Generic[T]):
    """One channel's messages, as `<directory>/<n><suffix>` files and as `T` records."""

    def __init__(self, directory: Path, suffix: str) -> None:
        self.directory = directory
        self.suffix = suffix
        self._items: list[T] = []
        self._changed = threading.Condition()
        directory.mkdir(parents=True, exist_ok=True)
        # Continue the numbering of an earlier run instead of overwriting its files.
        numbers = [int(p.stem) for p in directory.glob(f"*{suffix}") if p.stem.isdigit()]
        self._next = max(numbers, default=0) + 1

    def add(self, content: bytes, record: Callable[[Path], T]) -> T:
        """Write `content` to the next numbered file and keep `record(path)`."""
        with self._changed:
            path = self.directory / f"{self._next}{self.suffix}"
            self._next += 1
            # Write then rename, so whoever watches the folder never reads half a message.
            partial = path.with_name(f".{path.name}.partial")
            partial.write_bytes(content)
            os.replace(partial, path)
            item = record(path)
            self._items.append(item)
            self._changed.notify_all()
            return item

    def items(self) -> list[T]:
        with self._changed:
            return list(self._items)

    def clear(self) -> None:
        """Forget what was received (the files stay)."""
        with self._changed:
            self._items.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[T]:
        """Block until at least `count` items arrived; raises TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._items) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{self.directory}: {len(self._items)} of {count} messages "
                        f"after {timeout} s"
                    )
                self._changed.wait(remaining)
            return list(self._items)
