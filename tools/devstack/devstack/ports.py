"""Choosing TCP ports on the loopback interface."""

import socket
import threading

LOOPBACK = "127.0.0.1"

# Ports this process has handed out. The kernel may hand the same free port out twice in a row
# (nothing is bound to it between two calls); two services given one port meant one of them
# could not bind, and its readiness probe was answered by the other.
_handed_out: set[int] = set()
_lock = threading.Lock()


def free_port(host: str = LOOPBACK) -> int:
    """A port free just now and never handed out before by this process.

    Another process may still take it before it is bound: good enough on a developer machine."""
    with _lock:
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((host, 0))
                port: int = sock.getsockname()[1]
            if port not in _handed_out:
                _handed_out.add(port)
                return port


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
