"""Choosing TCP ports on the loopback interface."""

import os
import socket
import tempfile
import threading
import time
from pathlib import Path

LOOPBACK = "127.0.0.1"

# Ports this process has handed out. The kernel may hand the same free port out twice in a row
# (nothing is bound to it between two calls); two services given one port meant one of them
# could not bind, and its readiness probe was answered by the other.
_handed_out: set[int] = set()
_lock = threading.Lock()

# Ports handed out by any process of this user on this machine (one file each), so that two
# processes choosing at once (pytest-xdist's workers, each starting a stack) never get the same
# port: one such pair made crisis's readiness probe be answered by another worker's booking.
CLAIMS = Path(tempfile.gettempdir()) / f"devstack-ports-{os.getuid()}"
# A claim older than this is taken to be bound by now, or abandoned: its port may go out again.
CLAIM_LIFETIME = 600.0


def free_port(host: str = LOOPBACK) -> int:
    """A port free just now, never handed out before by this process, and not handed out by
    another process on this machine in the last `CLAIM_LIFETIME` seconds.

    A process that does not use this function may still take it before it is bound."""
    with _lock:
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((host, 0))
                port: int = sock.getsockname()[1]
            if port not in _handed_out and _claim(port):
                _handed_out.add(port)
                return port


def _claim(port: int) -> bool:
    """Claim `port` for this process among the processes on this machine; False if another
    claimed it recently."""
    CLAIMS.mkdir(exist_ok=True)
    claim = CLAIMS / str(port)
    try:
        os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        try:
            if time.time() - claim.stat().st_mtime < CLAIM_LIFETIME:
                return False
            claim.touch()  # stale: renewed for this process (a race here is as rare as before)
        except FileNotFoundError:
            pass
        return True


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Same option the servers set, so a port in TIME_WAIT still counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def pick_port(preferred: int, host: str = LOOPBACK) -> int:
    """`preferred` when it can be bound, else any free port (0 means: any free port)."""
    if preferred and port_is_free(preferred, host):
        return preferred
    return free_port(host)


def accepts_connections(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
