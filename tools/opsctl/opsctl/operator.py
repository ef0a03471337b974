"""Who runs counselctl, for the audit trail."""

from __future__ import annotations

import getpass
import os


def operator_name() -> str:
    """The operator's login name. A container running under a UID its image does not name
    (OpenShift's arbitrary UIDs, `docker run --user`) has none, and `getpass.getuser()` raises
    there: the command must still run and be recorded, as `uid:<n>`."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # KeyError up to Python 3.12, OSError from 3.13
        return f"uid:{os.getuid()}"
