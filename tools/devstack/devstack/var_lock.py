"""One `make run` per var directory. A second run on the same directory took the first one's
PostgreSQL and NATS for the leftovers of a killed run and stopped them, breaking the stack
still in use before failing on its ports."""

import fcntl
import os
from pathlib import Path

from devstack.procs import StartupError

LOCK_FILE = "devstack.lock"


def hold_var_dir(var_dir: Path) -> int:
    """Lock `var_dir` for this run and return the descriptor holding the lock (close it to let
    go). The lock goes with the process, even a SIGKILLed one, so the next run still finds a
    killed run's servers and stops them; the descriptor is not inherited by the servers."""
    var_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(var_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StartupError(
            f"another `make run` (pid {holder}) is using {var_dir}: use that one, stop it "
            "first (Ctrl-C in its terminal), or start this one with another DEVSTACK_VAR_DIR"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
