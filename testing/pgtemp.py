"""A throwaway PostgreSQL server, for the test suite and `govflow bench`.

``PostgresServer`` runs ``initdb`` into a temporary directory, starts the
server on a free loopback port with durability switched off (the data is
thrown away anyway), hands out fresh databases as SQLAlchemy URLs and removes
everything on ``stop()``.

The binaries come from the distribution's PostgreSQL packages
(``/usr/lib/postgresql/<version>/bin``, highest version wins). PostgreSQL
refuses to run as root, so when the tests run as root the directory is given
to the ``postgres`` system user and ``initdb``/``pg_ctl`` run through
``runuser -u postgres --``.

    with PostgresServer() as pg:
        url = pg.create_database("t1")   # postgresql+psycopg://govflow@127.0.0.1:<port>/t1
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
SYSTEM_USER = "postgres"
SUPERUSER = "govflow"
HOST = "127.0.0.1"

# Durability is off: the data is thrown away. fsync/full_page_writes only
# matter if the machine itself crashes, so a server killed with
# ``restart(mode="immediate")`` still keeps every committed transaction.
# synchronous_commit stays ``on`` on purpose: with fsync off it costs nothing
# measurable, while ``off`` would lose the last commits on such a crash restart
# and make crash tests lie.
DEFAULT_SETTINGS: dict[str, str] = {
    "fsync": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}

_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresServerError(RuntimeError):
    """initdb or pg_ctl failed; the message carries their output."""


def _version_key(bin_dir: str) -> tuple[int, ...]:
    version = Path(bin_dir).parent.name
    return tuple(int(part) for part in re.findall(r"\d+", version)) or (0,)


def find_bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb and pg_ctl."""
    candidates = [
        d
        for d in glob.glob(PG_BIN_GLOB)
        if os.access(os.path.join(d, "initdb"), os.X_OK) and os.access(os.path.join(d, "pg_ctl"), os.X_OK)
    ]
    if not candidates:
        return None
    return Path(max(candidates, key=_version_key))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _is_root() -> bool:
    return os.geteuid() == 0


class PostgresServer:
    """One throwaway PostgreSQL cluster (see the module docstring)."""

    def __init__(self, bin_dir: Path | str | None = None, settings: dict[str, str] | None = None) -> None:
        found = Path(bin_dir) if bin_dir else find_bin_dir()
        if found is None:
            raise PostgresServerError(
                f"PostgreSQL is not installed (no initdb/pg_ctl under {PG_BIN_GLOB}); "
                "run scripts/install-system-deps.sh"
            )
        self.bin_dir = found
        self.settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self.base_dir: Path | None = None
        self.port: int | None = None
        self._running = False
        self._run_as: list[str] = []
        self._owner: pwd.struct_passwd | None = None
        if _is_root():
            self._owner = pwd.getpwnam(SYSTEM_USER)
            self._run_as = ["runuser", "-u", SYSTEM_USER, "--"]

    # --- detection -------------------------------------------------------------
    @staticmethod
    def available() -> bool:
        """True if a server can be started here (binaries present and, as root,
        a ``postgres`` user and ``runuser`` to run them as)."""
        if find_bin_dir() is None:
            return False
        if _is_root():
            try:
                pwd.getpwnam(SYSTEM_USER)
            except KeyError:
                return False
            if shutil.which("runuser") is None:
                return False
        return True

    # --- paths -----------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        assert self.base_dir is not None, "server not started"
        return self.base_dir / "data"

    @property
    def log_file(self) -> Path:
        assert self.base_dir is not None, "server not started"
        return self.base_dir / "server.log"

    @property
    def running(self) -> bool:
        return self._running

    # --- subprocess helpers ----------------------------------------------------
    def _env(self) -> dict[str, str]:
        # Drop PG* variables of the caller so they cannot redirect initdb/pg_ctl.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C.UTF-8"
        env.pop("LANG", None)
        return env

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [*self._run_as, str(self.bin_dir / tool), *args]
        proc = subprocess.run(
            cmd,
            cwd=self.base_dir,
            env=self._env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        if check and proc.returncode != 0:
            raise PostgresServerError(
                f"{tool} failed (exit {proc.returncode}): {shlex.join(cmd)}\n{proc.stdout}{self._log_tail()}"
            )
        return proc

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except (OSError, AssertionError):
            return ""
        tail = "\n".join(text.splitlines()[-lines:])
        return f"\n--- server log (last {lines} lines) ---\n{tail}" if tail else ""

    # --- lifecycle -------------------------------------------------------------
    def start(self) -> PostgresServer:
        """initdb a fresh cluster and start it; returns self."""
        if self._running:
            return self
        self.base_dir = Path(tempfile.mkdtemp(prefix="govflow-pg-"))
        atexit.register(self.stop)
        try:
            if self._owner is not None:
                os.chmod(self.base_dir, 0o700)
                os.chown(self.base_dir, self._owner.pw_uid, self._owner.pw_gid)
            self._initdb()
            self._start_server(new_port=True)
        except BaseException:
            self.stop()
            raise
        return self

    def _initdb(self) -> None:
        common = ["-D", str(self.data_dir), "-A", "trust", "-U", SUPERUSER, "-E", "UTF8", "--no-sync"]
        proc = self._run("initdb", *common, "--locale=C.UTF-8", check=False)
        if proc.returncode != 0:
            # The C.UTF-8 locale may be missing: fall back to the plain C locale.
            self._remove_data_dir()
            self._run("initdb", *common, "--no-locale")

    def _remove_data_dir(self) -> None:
        if self.base_dir is None or not self.data_dir.exists():
            return
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def _server_options(self) -> str:
        assert self.base_dir is not None and self.port is not None
        options = ["-k", shlex.quote(str(self.base_dir)), "-h", HOST, "-p", str(self.port)]
        for key, value in self.settings.items():
            options += ["-c", shlex.quote(f"{key}={value}")]
        return " ".join(options)

    def _start_server(self, new_port: bool) -> None:
        attempts = 3 if new_port else 1
        for attempt in range(attempts):
            if new_port or self.port is None:
                self.port = _free_port()
            proc = self._run(
                "pg_ctl",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                "60",
                "-o",
                self._server_options(),
                "start",
                check=False,
            )
            if proc.returncode == 0:
                self._running = True
                return
            if attempt == attempts - 1:
                raise PostgresServerError(
                    f"pg_ctl start failed (exit {proc.returncode}) on port {self.port}:\n"
                    f"{proc.stdout}{self._log_tail()}"
                )
            # Most likely someone took the port between probing and binding: try another.

    def _pg_ctl_stop(self, mode: str) -> None:
        if self._running:
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "-t", "60", "stop", check=False)
            self._running = False

    def restart(self, mode: str = "immediate") -> None:
        """Stop the server (``immediate`` = like a crash; ``fast``/``smart`` =
        clean) and start it again on the same port with the same data."""
        if self.base_dir is None:
            raise PostgresServerError("restart() before start()")
        self._pg_ctl_stop(mode)
        self._start_server(new_port=False)

    def stop(self) -> None:
        """Stop the server and delete its directory. Safe to call twice."""
        if self.base_dir is None:
            return
        self._pg_ctl_stop("immediate")
        self._remove_data_dir()
        shutil.rmtree(self.base_dir, ignore_errors=True)
        self.base_dir = None
        atexit.unregister(self.stop)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- databases -------------------------------------------------------------
    def url(self, name: str = "postgres") -> str:
        """SQLAlchemy URL of database ``name`` (which need not exist yet)."""
        if self.port is None:
            raise PostgresServerError("server not started")
        return f"postgresql+psycopg://{SUPERUSER}@{HOST}:{self.port}/{name}"

    def connect(self, dbname: str = "postgres", **kwargs):
        """A psycopg connection to ``dbname`` (autocommit by default)."""
        import psycopg

        kwargs.setdefault("autocommit", True)
        return psycopg.connect(host=HOST, port=self.port, user=SUPERUSER, dbname=dbname, **kwargs)

    def create_database(self, name: str) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        if not _DB_NAME.match(name):
            raise ValueError(f"database name must match {_DB_NAME.pattern}: {name!r}")
        if not self._running:
            raise PostgresServerError("server not running")
        from psycopg import sql

        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting its sessions first."""
        if not _DB_NAME.match(name):
            raise ValueError(f"database name must match {_DB_NAME.pattern}: {name!r}")
        from psycopg import sql

        with self.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def __repr__(self) -> str:
        state = f"running on {HOST}:{self.port}" if self._running else "stopped"
        return f"<PostgresServer {self.bin_dir} {state}>"
