"""Submit once: an action keyed by (user, Idempotency-Key or form token) runs at most once; a
repeat (a double click 30 ms later, a client retrying after a timeout) gets the first answer.

The first caller claims the key in a short transaction of its own (an INSERT on a unique
constraint), runs the action, then stores its answer. A concurrent second caller fails the INSERT
and waits for that answer instead of running the action again: never a second record, never a 409.
A refused action (a 4xx: field errors to correct) or a failed one stores nothing and releases the
key, so the same token can be submitted again once corrected. Entries older than 24 h are ignored
(purged at the next claim)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from service import clock
from service.errors import Unavailable
from service.store.db import Database
from service.store.models import Submission

log = logging.getLogger(__name__)

KEEP = timedelta(hours=24)
MAX_KEY_LENGTH = 200
WAIT_SECONDS = 10.0
POLL_SECONDS = 0.05

Answer = tuple[int, str]


def once(db: Database, username: str, key: str, action: Callable[[], Answer],
         wait_seconds: float = WAIT_SECONDS) -> Answer:
    """Run `action()` (which returns (status, body text)) at most once per (username, key) within
    24 h and return its answer; a repeat returns the stored first answer."""
    deadline = time.monotonic() + wait_seconds
    while True:
        if _claim(db, username, key):
            break
        answer = _answer(db, username, key)
        if answer is not None:
            return answer
        if time.monotonic() >= deadline:
            raise Unavailable("相同的提交仍在处理中，请稍后刷新页面查看结果")
        # still running (wait for its answer), or released a moment ago (claim it ourselves)
        time.sleep(POLL_SECONDS)
    try:
        status, body = action()
    except BaseException:
        _release(db, username, key)
        raise
    try:
        with db.write() as session:
            session.execute(update(Submission)
                            .where(Submission.username == username, Submission.key == key)
                            .values(status=status, body=body))
    except Exception:  # noqa: BLE001 - the action is done; its answer must still reach the user
        log.exception("could not store the answer to submission %s of %s", key, username)
    return status, body


def _claim(db: Database, username: str, key: str) -> bool:
    """True when this caller now holds the key; False when another request claimed it first."""
    now = clock.now()
    try:
        with db.write() as session:
            session.execute(delete(Submission).where(Submission.created_at < now - KEEP))
            session.execute(insert(Submission).values(username=username, key=key, status=None, body=None,
                                                      created_at=now))
    except IntegrityError:
        return False
    return True


def _answer(db: Database, username: str, key: str) -> Answer | None:
    """The stored answer, or None while the first request runs (or after it released the key)."""
    with db.read() as session:
        row = session.execute(select(Submission.status, Submission.body)
                              .where(Submission.username == username, Submission.key == key,
                                     Submission.created_at >= clock.now() - KEEP)).first()
    if row is None or row.status is None:
        return None
    return int(row.status), row.body or ""


def _release(db: Database, username: str, key: str) -> None:
    """Forget a claim whose action raised, so the same key can be submitted again."""
    with suppress(Exception), db.write() as session:
        session.execute(delete(Submission).where(Submission.username == username, Submission.key == key,
                                                 Submission.status.is_(None)))
