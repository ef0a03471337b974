"""How the inbox consumer classes a database error raised outside its handlers."""

import asyncpg

from counseling_shared.inbox import _is_outage, _message_at_fault, is_overload_error


def test_a_value_the_database_refuses_is_the_messages_fault_not_an_outage() -> None:
    for refusal in (
        asyncpg.UntranslatableCharacterError("\\u0000 cannot be converted to text"),
        asyncpg.CharacterNotInRepertoireError("invalid byte sequence for encoding UTF8: 0x00"),
        # What asyncpg raises itself for an argument it cannot encode (an int4 overflow).
        asyncpg.DataError("invalid input for query argument $1: 3000000000"),
        asyncpg.DivisionByZeroError("division by zero"),
        asyncpg.UniqueViolationError("duplicate key"),
        asyncpg.ProgramLimitExceededError("index row size exceeds maximum"),
    ):
        assert _message_at_fault(refusal), refusal
        assert not _is_outage(refusal), refusal


def test_the_databases_set_up_is_neither_an_outage_nor_a_messages_fault() -> None:
    for refusal in (
        asyncpg.InsufficientPrivilegeError("permission denied for table dead_letters"),
        asyncpg.UndefinedTableError('relation "inbox" does not exist'),
    ):
        assert not _message_at_fault(refusal), refusal
        assert not _is_outage(refusal), refusal


def test_a_server_short_of_resources_or_unreachable_is_an_outage() -> None:
    for fault in (
        asyncpg.DiskFullError("could not extend file"),
        asyncpg.OutOfMemoryError("out of memory"),
        asyncpg.AdminShutdownError("terminating connection"),
        asyncpg.InterfaceError("connection is closed"),
        ConnectionResetError(),
        TimeoutError(),
    ):
        assert _is_outage(fault), fault
        assert not _message_at_fault(fault), fault


def test_a_busy_database_is_overloaded_not_refusing() -> None:
    for busy in (
        asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
        asyncpg.LockNotAvailableError("canceling statement due to lock timeout"),
        asyncpg.DeadlockDetectedError("deadlock detected"),
        asyncpg.SerializationError("could not serialize access"),
    ):
        assert is_overload_error(busy), busy
        assert not _message_at_fault(busy), busy
    assert not is_overload_error(asyncpg.DivisionByZeroError("division by zero"))
