"""The PostgreSQL fixtures work: a real server, one fresh database per test."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from testing.pgtemp import PostgresServer

pytestmark = pytest.mark.postgresql


def _scalar(url: str, sql: str, **params):
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            return conn.execute(text(sql), params).scalar()
    finally:
        engine.dispose()


def test_pg_url_reaches_a_postgresql_15_server(pg_url):
    assert pg_url.startswith("postgresql+psycopg://govflow@127.0.0.1:")
    version = _scalar(pg_url, "select version()")
    assert version.startswith("PostgreSQL 15"), version
    assert _scalar(pg_url, "show server_encoding") == "UTF8"


def test_pg_url_gives_each_test_its_own_database(pg_url, pg_server):
    other_url = pg_server.create_database("isolation_other")
    assert other_url != pg_url

    engine = create_engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("create table note (body text)"))
            conn.execute(text("insert into note values (:b)"), {"b": "信访件"})
    finally:
        engine.dispose()

    assert _scalar(pg_url, "select body from note") == "信访件"
    assert _scalar(other_url, "select count(*) from information_schema.tables where table_name = 'note'") == 0
    assert _scalar(other_url, "select current_database()") == "isolation_other"


def test_db_url_runs_on_both_backends(db_url):
    assert _scalar(db_url, "select 1 + 1") == 2
    assert db_url.startswith(("sqlite:///", "postgresql+psycopg://"))


def test_committed_data_survives_a_crash_restart(pg_server):
    # A server of its own: restarting the shared one would break other tests' connections.
    with PostgresServer(bin_dir=pg_server.bin_dir) as pg:
        url = pg.create_database("restart_check")
        port = pg.port
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(text("create table t (x int)"))
                conn.execute(text("insert into t values (42)"))
        finally:
            engine.dispose()
        pg.restart(mode="immediate")
        assert pg.running
        assert pg.port == port
        assert _scalar(url, "select x from t") == 42
