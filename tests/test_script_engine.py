"""The restricted script engine (service/engine/scripts.py, ARCHITECTURE.md engine facts):
designers' scripts and expressions run with a whitelist of builtins and GovFlow's helpers;
imports, dunder access and the dangerous builtins are refused before anything runs."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

import pytest
from conftest import PETITION, ApiClient

from service import clock
from service.engine import SCRIPT_ENGINE
from service.engine.scripts import SAFE_BUILTINS, RestrictedEnvironment, ScriptRejected, check_source

ENV: RestrictedEnvironment = SCRIPT_ENGINE.environment


def run(script: str, **data: Any) -> dict[str, Any]:
    context = dict(data)
    ENV.execute(script, context)
    return context


# ---- what designers may write ----------------------------------------------------------------


def test_expressions_use_the_whitelisted_builtins() -> None:
    assert ENV.evaluate("len(items) + max(2, 5) + sum([1, 2]) + abs(-1)", {"items": [1, 2, 3]}) == 3 + 5 + 3 + 1
    assert ENV.evaluate("sorted(set(xs), reverse=True)[:2]", {"xs": [3, 1, 3, 2]}) == [3, 2]
    assert ENV.evaluate("round(float('2.5') * 2) == int('5')", {}) is True
    assert ENV.evaluate("any(isinstance(x, str) for x in xs)", {"xs": [1, "a"]}) is True
    assert ENV.evaluate("dict(zip(['a', 'b'], range(2)))", {}) == {"a": 0, "b": 1}


def test_scripts_set_task_data() -> None:
    out = run("total = extension_total + extension_days\nover = total > 30", extension_total=20, extension_days=15)
    assert out["total"] == 35 and out["over"] is True


def test_add_days_helper_follows_the_legal_calendar() -> None:
    out = run("due_at = add_days(received_at, 60)\nroute_due_at = add_days(received_at, 15)",
              received_at="2026-03-02T09:00:00+08:00")
    assert out["due_at"] == "2026-05-06T23:59:59+08:00"
    assert out["route_due_at"] == "2026-03-17T23:59:59+08:00"
    assert ENV.evaluate("add_days('2026-04-30', 3, 'working')", {}) == "2026-05-08T23:59:59+08:00"


@pytest.mark.parametrize(("route", "chosen", "group"), [
    ("own", None, "xfk"), ("legal", None, "dept_jsw"),
    ("dept", "dept_fgw", "dept_fgw"), ("county", "county_linxiang", "county_linxiang"),
])
def test_route_group_helper_names_the_handling_unit(route: str, chosen: str | None, group: str) -> None:
    out = run("handling_group = petition.route_group(route, handling_group)", route=route, handling_group=chosen)
    assert out["handling_group"] == group


def test_route_group_refuses_a_dept_route_without_a_unit() -> None:
    with pytest.raises(ValueError, match="必须选择办理单位"):
        run("handling_group = petition.route_group(route, handling_group)", route="dept", handling_group=None)


def test_functions_assigned_in_a_script_do_not_leak_into_task_data() -> None:
    out = run("f = len\nn = f([1, 2])", items=[])
    assert out == {"items": [], "n": 2}


def test_only_the_whitelist_of_builtins_is_available() -> None:
    assert set(SAFE_BUILTINS) >= {"len", "str", "int", "min", "max", "sorted", "isinstance"}
    assert not set(SAFE_BUILTINS) & {"open", "eval", "exec", "compile", "getattr", "__import__", "globals",
                                     "vars", "type", "object", "input", "print", "chr"}
    for name in ("chr(65)", "hasattr(x, 'real')", "print(1)", "iter([])"):
        with pytest.raises(NameError):
            ENV.evaluate(name, {"x": 1})


def test_builtins_in_task_data_cannot_re_enable_builtins() -> None:
    context = {"__builtins__": builtins.__dict__, "x": 1}
    with pytest.raises(NameError):
        ENV.evaluate("chr(65)", context)
    with pytest.raises(NameError):
        ENV.execute("y = hasattr(x, 'real')", dict(context))
    assert ENV.evaluate("len('ab')", context) == 2


# ---- what is refused ------------------------------------------------------------------------

ESCAPES = {
    "import": "import os",
    "from_import": "from os import path",
    "subclasses": "().__class__.__mro__[1].__subclasses__()",
    "open": "open('/etc/passwd')",
    "eval": "eval('1')",
    "exec": "exec('x = 1')",
    "compile": "compile('1', 'f', 'eval')",
    "getattr": "getattr(x, 'y')",
    "format": '"{0.__class__}".format(1)',
    "format_map": '"{x.__class__}".format_map({"x": 1})',
    "dunder_import": "__import__('os')",
    "globals": "globals()",
    "type": "type(1)",
    "mro": "int.mro()",
    "gi_frame": "(i for i in []).gi_frame",
    "private_name": "_secret",
    "fstring_dunder": 'f"{x.__class__}"',
    "lambda": "(lambda: 1)()",
}


@pytest.mark.parametrize("source", list(ESCAPES.values()), ids=list(ESCAPES))
def test_escape_is_rejected_before_it_runs(source: str) -> None:
    with pytest.raises(ScriptRejected) as caught:
        check_source(source)
    assert caught.value.line == 1
    with pytest.raises(ScriptRejected):
        SCRIPT_ENGINE.validate(source)
    with pytest.raises(ScriptRejected):
        ENV.execute(f"result = {source}" if not source.startswith(("import", "from")) else source, {"x": 1})


@pytest.mark.parametrize("source", [s for s in ESCAPES.values() if not s.startswith(("import", "from"))],
                         ids=[k for k, s in ESCAPES.items() if not s.startswith(("import", "from"))])
def test_escape_in_an_expression_is_rejected(source: str) -> None:
    with pytest.raises(ScriptRejected):
        ENV.evaluate(source, {"x": 1})


@pytest.mark.parametrize("source", [
    "def f():\n    return 1",
    "class C:\n    pass",
    "global x\nx = 1",
    "x.__class__ = int",
])
def test_definitions_and_rebinding_are_rejected(source: str) -> None:
    with pytest.raises(ScriptRejected):
        check_source(source)


def test_rejection_carries_the_line_of_the_offending_statement() -> None:
    with pytest.raises(ScriptRejected) as caught:
        check_source("x = 1\ny = 2\nz = open('/etc/passwd')")
    assert caught.value.line == 3
    with pytest.raises(ScriptRejected) as caught:
        check_source("x = (1")
    assert str(caught.value).startswith("语法错误")


def test_match_class_pattern_cannot_read_dunder_attributes() -> None:
    """`case int(__class__=c)` reads an attribute without an ast.Attribute node."""
    source = "match 1:\n    case int(__class__=c):\n        leaked = str(c)"
    with pytest.raises(ScriptRejected):
        check_source(source)
    with pytest.raises(ScriptRejected):
        run(source)


def test_match_class_pattern_cannot_reach_str_format() -> None:
    """The same `"{0.__class__}".format(1)` escape, with the method fetched by a class pattern."""
    source = 'match "{0.__class__.__mro__}":\n    case str(format=f):\n        leaked = f(1)'
    with pytest.raises(ScriptRejected):
        check_source(source)


# ---- through the API: data keys starting with "_" are refused ------------------------------------


def test_start_data_with_dunder_builtins_key_is_422(api: ApiClient) -> None:
    data = {**PETITION, "__builtins__": {"open": "x"}}
    r = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": data})
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["details"] == [{"field": "__builtins__", "message": "字段名不合法"}]
    assert api.get("xfk1", "/api/v1/instances").get_json() == []
    # the refused registration used no number
    r = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": PETITION})
    assert r.get_json()["business_key"].endswith("-000001")


def test_task_data_with_underscore_keys_is_422(api: ApiClient) -> None:
    r = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": PETITION})
    iid = r.get_json()["id"]
    r = api.complete("xfk1", iid, "classify", {"category": "行政", "route": "own", "_route": "reject"})
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["details"] == [{"field": "_route", "message": "字段名不合法"}]
    assert [t["bpmn_id"] for t in api.instance("xfk1", iid)["open_tasks"]] == ["classify"]


def test_message_payload_with_underscore_keys_is_422(api: ApiClient) -> None:
    at = datetime(2026, 3, 2, 10, 0, tzinfo=clock.BEIJING)  # inside the 复查 window
    clock.set_offset(at - (clock.now() - clock.offset()))
    r = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": PETITION})
    iid = r.get_json()["id"]
    assert api.complete("xfk1", iid, "classify", {"category": "其他", "route": "reject"}).status_code == 200
    assert api.complete("xfk1", iid, "reply", {"reply_text": "不予受理", "replied_at": "2026-03-02",
                                                "delivery": "当面"}).status_code == 200
    r = api.post("xfk1", f"/api/v1/instances/{iid}/messages/review_request",
                 json={"data": {"__builtins__": {}}})
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["details"] == [{"field": "__builtins__", "message": "字段名不合法"}]
    assert api.instance("xfk1", iid)["status"] == "running"
