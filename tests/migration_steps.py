"""Moving a test database to one Alembic revision (up or down), for the tests that check a
migration upgrades the previous version's database — what `govflow init` does — and downgrades."""

from __future__ import annotations

from typing import Any


def move_to(db: Any, db_url: str, revision: str, down: bool = False) -> None:
    from alembic import command
    from alembic.config import Config

    from service.store.db import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", db_url.replace("%", "%%"))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)
