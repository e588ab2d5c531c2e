"""The databases the phases run on: a fresh one per phase, migrated, bpmn/ deployed and the demo
organisation loaded (optionally the timer-burst diagram); on PostgreSQL, created on the bench's
throwaway server (testing.pgtemp) or on the server of --postgresql-url."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from bench.workload import STEP_USERS

# The timer burst: start → timer catch (timeDate = the start data's `fire_at`) → end.
BENCH_TIMER_KEY = "bench_timer"
BENCH_TIMER_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    id="Definitions_bench_timer" targetNamespace="http://govflow.local/bpmn/bench_timer">
  <bpmn:process id="bench_timer" name="性能测试定时器" isExecutable="true">
    <bpmn:startEvent id="bt_start" name="开始">
      <bpmn:outgoing>bt_flow_1</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="bt_wait" name="到点">
      <bpmn:incoming>bt_flow_1</bpmn:incoming>
      <bpmn:outgoing>bt_flow_2</bpmn:outgoing>
      <bpmn:timerEventDefinition id="bt_timer">
        <bpmn:timeDate xsi:type="bpmn:tFormalExpression">fire_at</bpmn:timeDate>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="bt_end" name="结束">
      <bpmn:incoming>bt_flow_2</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="bt_flow_1" sourceRef="bt_start" targetRef="bt_wait"/>
    <bpmn:sequenceFlow id="bt_flow_2" sourceRef="bt_wait" targetRef="bt_end"/>
  </bpmn:process>
</bpmn:definitions>
"""


@contextmanager
def _one_password_hash() -> Iterator[None]:
    """The demo users all get the one password: hash it once per run, not 12 times per database
    (a deliberately slow hash; these databases are thrown away at the end)."""
    from service import auth

    original = auth.hash_password
    auth.hash_password = _cached_hash  # type: ignore[assignment]
    try:
        yield
    finally:
        auth.hash_password = original  # type: ignore[assignment]


@functools.lru_cache(maxsize=4)
def _cached_hash(password: str) -> str:
    from werkzeug.security import generate_password_hash

    return generate_password_hash(password)


def prepare_database(url: str, timer_diagram: bool = False) -> Any:
    """Migrate, deploy bpmn/ (build does), load the demo organisation, optionally the timer diagram."""
    from service.bootstrap import build, deploy_bytes
    from service.config import Settings
    from service.demo import load_demo

    svc = build(Settings(database_url=url, secret_key="bench"))
    with _one_password_hash(), svc.db.write() as session:
        load_demo(session)
    if timer_diagram:
        deploy_bytes(svc.runtime, BENCH_TIMER_BPMN, "bench_timer.bpmn", "bench")
    return svc


def demo_actors(svc: Any, usernames: tuple[str, ...] = STEP_USERS) -> dict[str, Any]:
    from sqlalchemy import select

    from service.auth import actor_for
    from service.store.models import User

    with svc.db.read() as session:
        users = session.scalars(select(User).where(User.username.in_(usernames)))
        return {u.username: actor_for(u) for u in users}


class PostgresDatabases:
    """Fresh databases on the bench's own throwaway server, or on the server of --postgresql-url."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self.server: Any = None
        self.created: list[str] = []
        self.prefix = f"govflow_bench_{uuid.uuid4().hex[:8]}"

    @staticmethod
    def available(url: str | None) -> bool:
        if url:
            return True
        from testing.pgtemp import PostgresServer

        return PostgresServer.available()

    def start(self) -> PostgresDatabases:
        if self.url is None:
            from testing.pgtemp import PostgresServer

            self.server = PostgresServer().start()
        return self

    def create(self, purpose: str) -> str:
        name = f"{self.prefix}_{purpose}"
        if self.server is not None:
            url = self.server.create_database(name)
        else:
            from sqlalchemy import create_engine, text
            from sqlalchemy.engine import make_url

            engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
            try:
                with engine.connect() as conn:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
            finally:
                engine.dispose()
            url = make_url(self.url).set(database=name).render_as_string(hide_password=False)
        self.created.append(name)
        return url

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
            return
        if self.url is None or not self.created:
            return
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                for name in self.created:
                    with suppress(Exception):
                        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            engine.dispose()
        self.created = []
