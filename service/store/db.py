"""Database engines and sessions: SQLite (WAL) by default, PostgreSQL by DATABASE_URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from service.store.driver import RawTx, wrap_driver_error

if TYPE_CHECKING:
    from service.store.fastsql import FastSql

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def _sqlite_engine(url: str, immediate: bool) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so BEGIN IMMEDIATE can be issued.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front: no deadlock on lock upgrade.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _postgresql_engine(url: str, **options: Any) -> Engine:
    # pre-ping: a connection the server dropped (restart, failover) is replaced at checkout, so
    # requests after an outage find working connections.
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, **options)


class Database:
    """Owns the engines; `write()` and `read()` give one transaction each."""

    def __init__(self, url: str) -> None:
        from service import hash_chain

        hash_chain.install()  # every History row added through a session is chained (防篡改)
        self.url = url
        self.dialect = "postgresql" if url.startswith("postgresql") else "sqlite"
        if self.dialect == "sqlite":
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine = _sqlite_engine(url, immediate=True)
            self.read_engine = _sqlite_engine(url, immediate=False)
        else:
            self.engine = _postgresql_engine(url)
            # Reads run in autocommit: each SELECT is its own snapshot, as under READ COMMITTED
            # anyway, without the BEGIN and ROLLBACK round trips around it.
            self.read_engine = _postgresql_engine(url, isolation_level="AUTOCOMMIT")
        self._write = sessionmaker(self.engine, expire_on_commit=False)
        self._read = sessionmaker(self.read_engine, expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[Session]:
        with self._write.begin() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as session, session.begin():
            yield session

    @cached_property
    def sql(self) -> FastSql:
        """The hot-path statement runner for this database's dialect."""
        from service.store.fastsql import FastSql

        return FastSql(self.engine.dialect)

    @contextmanager
    def raw(self, write: bool = True, begin: bool = True) -> Iterator[RawTx]:
        """A RawTx: for writes a transaction (SQLite: BEGIN IMMEDIATE, the write lock up front;
        PostgreSQL: begun by the first statement), committed on leaving the block; for reads
        autocommit statements. Any exception rolls back; a lost connection leaves the pool.

        `begin=False` lets a command read first and take SQLite's write lock only when it is
        ready to write (`tx.begin()`), on the same connection: one checkout per command."""
        engine = self.engine if write else self.read_engine
        try:
            fairy = engine.raw_connection()
        except engine.dialect.loaded_dbapi.Error as exc:  # raw_connection() leaves these unwrapped
            raise DBAPIError.instance(None, None, exc, engine.dialect.loaded_dbapi.Error,
                                      connection_invalidated=True, dialect=engine.dialect) from exc
        driver = fairy.driver_connection
        try:
            try:
                tx = RawTx(fairy, self.dialect == "sqlite" and write)
                if begin:
                    tx.begin()
                yield tx
                if write:
                    driver.commit()
            except BaseException:
                with suppress(Exception):
                    driver.rollback()
                raise
        except DBAPIError:
            raise  # already wrapped by service.store.fastsql
        except Exception as exc:
            wrapped = wrap_driver_error(self.engine.dialect, exc, fairy)
            if wrapped is exc:
                raise
            raise wrapped from exc
        finally:
            fairy.close()

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def optimize(self) -> None:
        """Refresh the planner's statistics (SQLite has none until ANALYZE runs; without them it
        picks the low-selectivity status index and sorts whole tables). Bounded and cheap."""
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                conn.exec_driver_sql("PRAGMA analysis_limit=2000")
            conn.exec_driver_sql("ANALYZE")
            conn.commit()

    def ping(self) -> bool:
        with self.read_engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True

    def dispose(self) -> None:
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()
