"""Shared pytest fixtures.

Generic fixtures first (databases, browser, artifacts); the application's own
fixtures go in the marked section at the bottom.

A missing PostgreSQL server or Chromium skips the tests that need them, except
when ``GOVFLOW_REQUIRE_ALL=1`` (set by ``make test`` and CI): then they fail,
so a green run always means the whole suite ran.

This module must not import ``service`` at module level.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from pgserver import PostgresServer  # noqa: E402

ARTIFACTS_DIR = TESTS_DIR / "artifacts"
CHROMIUM_PATH = Path("/usr/bin/chromium")
# Launch arguments for Playwright's chromium.launch(executable_path=..., args=CHROMIUM_ARGS).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


def require_all() -> bool:
    """True when missing system dependencies must fail the run instead of skipping."""
    return os.environ.get("GOVFLOW_REQUIRE_ALL", "") == "1"


def missing_dependency(message: str) -> None:
    """Skip (developer machine) or fail (``GOVFLOW_REQUIRE_ALL=1``) for a missing dependency."""
    if require_all():
        pytest.fail(
            f"{message} — GOVFLOW_REQUIRE_ALL=1 forbids skipping; run scripts/install-system-deps.sh",
            pytrace=False,
        )
    pytest.skip(message)


# --- databases -------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the whole test session."""
    if not PostgresServer.available():
        missing_dependency("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    """SQLAlchemy URL of a fresh, empty PostgreSQL database for this test."""
    return pg_server.create_database(f"t{uuid.uuid4().hex[:12]}")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """SQLAlchemy URL of a fresh SQLite file for this test."""
    return f"sqlite:///{tmp_path}/govflow.db"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on SQLite and once on PostgreSQL (the server starts
    only if a PostgreSQL case is actually collected)."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


# --- browser ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Path of the system Chromium that Playwright drives (never downloaded)."""
    if not (CHROMIUM_PATH.is_file() and os.access(CHROMIUM_PATH, os.X_OK)):
        missing_dependency(f"Chromium is not installed at {CHROMIUM_PATH}")
    return str(CHROMIUM_PATH)


# --- artifacts -------------------------------------------------------------------


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """tests/artifacts/ (gitignored): screenshots, logs and reports tests leave behind."""
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS_DIR


# --- application fixtures ---------------------------------------------------------
# Fixtures that need the service package (app, client, users, ...) go below.
# Import `service` inside the fixtures, not at module level.
