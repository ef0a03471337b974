"""SIGINT / SIGTERM / SIGHUP become one orderly shutdown."""

import signal
from types import FrameType

from devstack import console

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Shutdown(BaseException):
    """Raised in the main thread by the first stop signal (a BaseException, like
    KeyboardInterrupt, so that no `except Exception` swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def raise_on_stop_signals() -> None:
    for signum in STOP_SIGNALS:
        signal.signal(signum, _raise_shutdown)


def shield() -> None:
    """From now on a stop signal only reassures: the cleanup under way must finish."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _be_patient)


def _raise_shutdown(signum: int, frame: FrameType | None) -> None:
    shield()
    raise Shutdown(signum)


def _be_patient(signum: int, frame: FrameType | None) -> None:
    console.say("devstack: still stopping, please wait")
