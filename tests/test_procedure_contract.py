"""The procedure contract: service/ names no procedure, group or rule; every procedure is one
declaration in workflows/; the pages and the API decide who may start and message by the same
policy, for every demo user and every procedure."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import PETITION, REVIEW_REQUEST, ApiClient

ROOT = Path(__file__).resolve().parent.parent
# The platform's own roles may be named in service/ (designers/user admins, the timer user).
PLATFORM_GROUPS = {"admin", "designer", "system"}  # the platform's own roles (service/actors.py)


def _declared_names() -> set[str]:
    """Every process key and group key the procedures and the demo organisation declare."""
    from service import procedure

    registry = procedure.registry()
    names = set(registry.keys())
    for declared in registry:
        names |= declared.starters.groups | declared.owners | declared.supervisors
        if declared.personal:
            names |= declared.personal.readers
        for rule in declared.messages:
            names |= rule.senders
    names |= set(registry.organisation.groups)
    # the procedures of PROCEDURES.md not built yet must not be pre-wired into service/ either
    names |= {"dispute_case", "dispute_screening_monthly", "dispute_screening_daily",
              "article_publication", "emergency_response"}
    return names - PLATFORM_GROUPS


def test_service_names_no_process_or_group_key() -> None:
    names = _declared_names()
    assert {"petition", "xfk", "office_leader", "dept_fgw"} <= names
    pattern = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(sorted(map(re.escape, names))) + r")(?![A-Za-z0-9_])")
    prefixes = re.compile(r"[\"'](dept_|county_)")
    found = []
    for path in sorted((ROOT / "service").rglob("*")):
        if path.suffix not in {".py", ".html", ".js", ".css"} or "vendor" in path.parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line) or prefixes.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == [], "service/ must read procedures only through their contract:\n" + "\n".join(found)


def test_every_procedure_is_declared_once_with_its_diagram() -> None:
    from service import procedure

    for declared in procedure.registry():
        assert (ROOT / "bpmn" / f"{declared.key}.bpmn").is_file(), declared.key
        assert declared.numbering.prefix and declared.numbering.digits >= 4


def test_helper_names_are_namespaced_per_procedure() -> None:
    """Two procedures may both have a `route_group`: each is reached as `<procedure>.<name>`."""
    from service.deadlines import bound_helpers
    from service.procedure import Numbering, Procedure, Registry

    one = Procedure("one", "甲", Numbering("A"), helpers={"route_group": lambda: "a"})
    two = Procedure("two", "乙", Numbering("B"), helpers={"route_group": lambda: "b"})
    spaces = Registry([one, two]).helper_namespaces(bound_helpers)
    assert spaces["one"].route_group() == "a" and spaces["two"].route_group() == "b"
    with pytest.raises(ValueError):
        Registry([one, one])
    with pytest.raises(ValueError):
        Registry([Procedure("bad", "丙", Numbering("C"), helpers={"_hidden": print})]).helper_namespaces(bound_helpers)


def test_a_procedure_without_declared_starters_is_closed() -> None:
    """Closed by default: nobody but the administrator; "anyone" has to be said."""
    from service import policy, procedure
    from service.actors import Actor
    from service.procedure import ANY_LOGGED_IN_USER, Numbering, Procedure, Registry

    before = procedure.registry()
    closed = Procedure("closed_one", "封闭", Numbering("C"))
    open_to_all = Procedure("open_one", "公开", Numbering("O"), starters=ANY_LOGGED_IN_USER)
    procedure.install(Registry([*before, closed, open_to_all], before.organisation))
    try:
        clerk = Actor("u", groups=frozenset({"some_group"}))
        assert not policy.may_start(clerk, "closed_one")
        assert policy.may_start(clerk, "open_one")
        assert not policy.may_start(clerk, "never_declared")
        assert policy.may_start(Actor("a", groups=frozenset({"admin"})), "closed_one")
    finally:
        procedure.install(before)


def _page_start_status(app: Any, username: str, process: str) -> int:
    client = app.test_client()
    r = client.post("/login", data={"username": username, "password": "govflow-demo"})
    assert r.status_code == 302, username
    return int(client.get(f"/instances/new/{process}").status_code)


def test_pages_and_api_agree_on_who_may_start_and_message_every_procedure(page_app: Any) -> None:
    """For every demo user and every procedure: the start page opens exactly for those the API
    lets start, and the policy's message senders are the only ones the API accepts."""
    from service import policy, procedure
    from service.auth import actor_for
    from service.store.models import User

    api = ApiClient(page_app)
    db = page_app.extensions["govflow"].db
    with db.read() as session:
        actors = {u.username: actor_for(u) for u in session.query(User)}
    registry = procedure.registry()
    # one fresh period per user (the sample is drawn for every demo user, allowed or not)
    months = iter(f"{y}-{m:02d}" for y in (2027, 2028) for m in range(1, 13))
    days = iter(f"2027-{m:02d}-{d:02d}" for m in (1, 2) for d in range(4, 29))
    stats_months = iter(f"{y}-{m:02d}" for y in (2024, 2025) for m in range(1, 13))  # past months only
    samples: dict[str, Any] = {
        "petition": PETITION,
        # a round's period starts once: a fresh one for every start (callables give fresh data)
        "dispute_screening_monthly": lambda: {"period": next(months)},
        "dispute_screening_daily": lambda: {"period": next(days), "important_period": "测试时期"},
        "article_stats_monthly": lambda: {"period": next(stats_months)},
        "dispute_case": {"parties": "张三、李四", "type": "邻里纠纷", "place": "临翔区", "summary": "相邻通道争议",
                         "risk": "一般"},
        "emergency_response": {"type": "其他", "occurred_at": "2026-12-01T09:50:00+08:00",
                               "discovered_at": "2026-12-01T09:55:00+08:00", "place": "机关大院",
                               "people_count": 1, "cause": "测试报告"},
    }
    # an article's column depends on who registers it: a county web admin's goes to the county column
    article = {"title": "测试稿件", "column": "人大要闻", "department": "dept_fgw",
               "received_at": "2026-12-01T09:00:00+08:00", "body": "<p>正文</p>"}
    by_user = {"article_publication": lambda username: {**article, "column": "县(区)人大"}
               if username.startswith("lx") else article}
    waiting = None
    for declared in registry:
        for username, actor in sorted(actors.items()):
            allowed = policy.may_start(actor, declared.key)
            page = _page_start_status(page_app, username, declared.key)
            assert (page == 200) == allowed, (username, declared.key, page)
            sample = by_user[declared.key](username) if declared.key in by_user else samples.get(declared.key, {})
            r = api.post(username, "/api/v1/instances", json={"process": declared.key,
                                                              "data": sample() if callable(sample) else sample})
            assert (r.status_code == 201) == allowed, (username, declared.key, r.get_json())
            if r.status_code == 201 and waiting is None:
                waiting = r.get_json()["id"]
    # the API no longer lets a secretary-general (who sees every petition) register one
    assert not policy.may_start(actors["msz"], "petition")
    assert api.post("msz", "/api/v1/instances", json={"process": "petition", "data": PETITION}).status_code == 403
    # messages: every user who may see the case but is no sender gets 403 from the API
    assert waiting is not None
    for username, actor in sorted(actors.items()):
        sender = policy.may_message(actor, "petition", "review_request")
        r = api.post(username, f"/api/v1/instances/{waiting}/messages/review_request",
                     json={"data": REVIEW_REQUEST})
        if sender:
            assert r.status_code == 409, (username, r.get_json())  # a new case waits for no 复查 yet
        else:
            assert r.status_code in (403, 404), (username, r.status_code)
    assert {u for u, a in actors.items() if policy.may_message(a, "petition", "review_request")} == {"xfk1", "xfk2"}


def test_supervisor_groups_come_from_the_procedures(page_app: Any) -> None:
    """督办: the petition's supervisors (and the administrator) get the board; a department does
    not; one list decides it for the page and the API."""
    api = ApiClient(page_app)
    for username, expected in [("bgs", 200), ("msz", 200), ("zr", 200), ("admin", 200), ("fgw1", 403),
                               ("xfk1", 403)]:
        assert api.get(username, "/api/v1/supervision/board").status_code == expected, username
        client = page_app.test_client()
        client.post("/login", data={"username": username, "password": "govflow-demo"})
        assert client.get("/supervision").status_code == expected, username


def test_a_procedure_brings_its_own_blueprint_and_start_path(sqlite_url: str) -> None:
    """Extra blueprints (public ones allowed) and a readable start URL come from the contract."""
    from conftest import make_app
    from flask import Blueprint

    from service import procedure
    from service.bootstrap import install_procedures
    from service.procedure import Numbering, Procedure, Starters

    public = Blueprint("test_public_site", __name__)

    @public.get("/test-site/")
    def site_home() -> str:
        return "公开页面"

    before = procedure.registry()
    extra = Procedure("test_site", "测试网站", Numbering("WZ", 5), blueprints=(public,),
                      starters=Starters(groups=frozenset({"web_admin"}), path="/test-site/new"))
    install_procedures([*before, extra], before.organisation)
    try:
        app = make_app(sqlite_url)
        app.config["WTF_CSRF_ENABLED"] = False
        client = app.test_client()
        r = client.get("/test-site/")
        assert r.status_code == 200 and r.get_data(as_text=True) == "公开页面"  # no login needed
        assert client.get("/test-site/new").status_code == 302  # the start page needs a login
        client.post("/login", data={"username": "web1", "password": "govflow-demo"})
        # web1 may start it, but it has no diagram deployed: a clear 404, not a crash
        r = client.get("/test-site/new")
        assert r.status_code == 404 and "test_site" in r.get_data(as_text=True)
        app.extensions["govflow"].db.dispose()
    finally:
        install_procedures(list(before), before.organisation)
