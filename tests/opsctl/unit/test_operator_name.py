"""The operator's name in the audit trail (`clients erase`, `staff reannounce`) under a UID that
has no login name: `getpass.getuser()` raised KeyError there (a container run with
`--user 12345`, OpenShift), which stopped the command with a traceback."""

import getpass
import os
import pwd
import re
from pathlib import Path

import pytest

from opsctl.operator import operator_name

OPSCTL = Path(__file__).resolve().parents[3] / "tools/opsctl/opsctl"


def _no_passwd_entry(uid: int) -> pwd.struct_passwd:
    raise KeyError(f"getpwuid(): uid not found: {uid}")


def test_a_uid_without_a_name_is_recorded_by_number(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(pwd, "getpwuid", _no_passwd_entry)
    with pytest.raises(KeyError):
        getpass.getuser()  # what the commands called

    assert operator_name() == f"uid:{os.getuid()}"


def test_a_login_name_is_used_when_there_is_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGNAME", "alex")

    assert operator_name() == "alex"


def test_no_command_asks_getpass_itself() -> None:
    callers = [
        p.name
        for p in OPSCTL.rglob("*.py")
        if p.name != "operator.py" and re.search(r"getpass\.getuser\(", p.read_text())
    ]
    assert not callers
