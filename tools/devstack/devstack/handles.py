"""What tests may do with a server, whichever way it was provided."""

from typing import Protocol


class NatsHandle(Protocol):
    """A NATS server with JetStream. `start`/`kill`/`restart` skip the test when the
    server is not ours to control (given by NATS_URL)."""

    @property
    def url(self) -> str: ...

    def start(self) -> None: ...

    def kill(self) -> None: ...

    def restart(self) -> None: ...


class PostgresHandle(Protocol):
    """A PostgreSQL server reachable as superuser. `start`/`kill`/`restart` skip the test
    when the server is not ours to control (given by DATABASE_URL)."""

    def url(self, database: str = "postgres") -> str: ...

    def start(self) -> None: ...

    def kill(self) -> None: ...

    def restart(self) -> None: ...
