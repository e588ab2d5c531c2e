"""Fuzzing the JSON API (API.md "Errors") with hypothesis, on SQLite through the Flask test
client: random JSON values (unicode, `__builtins__`/`_x` keys, huge numbers, nested lists),
near-valid forms, raw garbage, wrong Content-Types, invalid UTF-8, deep nesting and an
oversize body. Every answer is 2xx or a 4xx JSON body `{"error", "message": <中文>}` —
never 5xx — and a request that does not succeed writes nothing: the counts of instances,
history rows, open tasks (and business-key numbers, timers, candidates, notices) only move
by what the 2xx answers account for."""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from conftest import PETITION, ApiClient, make_app
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from service import procedure
from service.store.collaboration_models import TaskReceipt
from service.store.models import (
    History,
    HumanTask,
    Instance,
    InstanceLink,
    Notice,
    Sequence,
    TaskCandidate,
    Timer,
)

EXAMPLES = 150
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.filter_too_much])
CHINESE = re.compile(r"[\u4e00-\u9fff]")
USERS = ("xfk1", "xfk2", "bgs", "msz", "zr", "fgw1", "cjw1", "jsw1", "linxiang1", "admin")
GROUP_USER = {"xfk": "xfk1", "office_leader": "bgs", "secretary_general": "msz", "leadership": "zr",
              "dept_fgw": "fgw1", "dept_cjw": "cjw1", "dept_jsw": "jsw1", "county_linxiang": "linxiang1"}
MAX_BODY = 2 * 1024 * 1024

# ---- strategies ---------------------------------------------------------------------------------

SPECIAL_KEYS = ["__builtins__", "_x", "__class__", "__import__", "process", "data", "received_at",
                "category", "route", "handling_group", "decision", "replied_at", "键", "信访人", "",
                " ", "a.b", "1abc", "a-b", "\u0000", "ñ", "𝔘𝔫𝔦", "x\udfff"]
SPECIAL_STRINGS = ["行政", "司法", "其他", "own", "dept", "legal", "county", "reject", "dept_fgw",
                   "county_linxiang", "approve", "return", "leadership", "accept", "redo", "done",
                   "extend", "邮寄", "__import__('os').system('true')", "().__class__.__mro__[1]",
                   "${route}", "{{ 7*7 }}", "<script>alert(1)</script>", "' OR 1=1 --", "\u202e",
                   "\x00", "2026-11-23", "9999-12-31", "0001-01-01T00:00:00+08:00",
                   "\ud800", "信访\udc00"]  # lone surrogates: valid JSON escapes, not encodable text
# Date-times that parse but sit at the edges of what Python's datetime can hold or the legal
# calendar covers; a petition's deadlines are computed from them.
EDGE_DATETIMES = ["2026-11-20T09:00:00+08:00", "2026-11-20T09:00:00", "2026-11-20T01:00:00Z",
                  "2026-11-20", "2024-02-29T12:00:00+08:00", "2026-02-29T12:00:00+08:00",
                  "1900-01-01T00:00:00+08:00", "1970-01-01T00:00:00+00:00",
                  "2035-06-01T09:00:00+08:00", "9999-12-31T23:59:59+08:00", "9999-12-01T00:00:00-12:00",
                  "0001-01-01T00:00:00+08:00", "0001-01-01T00:00:00+14:00", "2026-11-20T25:00:00+08:00",
                  "2026-11-20T09:00:00+24:00", "2026-W47-5", "20261120T090000+0800", "明天"]
EDGE_DAYS = ["2026-11-23", "2026-11-19", "2027-02-01", "2035-01-01", "9999-12-31", "9999-12-02",
             "0001-01-01", "2026-02-29", "2026-13-01", "2026-11-23T10:00:00+08:00", ""]

keys = st.one_of(st.text(max_size=12), st.sampled_from(SPECIAL_KEYS))
scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.integers(min_value=-(10**60), max_value=10**60),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40), st.sampled_from(SPECIAL_STRINGS),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(keys, children, max_size=5)),
    max_leaves=25,
)
json_objects = st.dictionaries(keys, json_values, max_size=6)


def junk_or(*choices: Any) -> st.SearchStrategy[Any]:
    """Mostly one of the meaningful values, sometimes any JSON value."""
    meaningful = st.sampled_from(list(choices))
    return st.one_of(meaningful, meaningful, meaningful, json_values)


@st.composite
def petition_variants(draw: st.DrawFn) -> dict[str, Any]:
    """The registration form with a few fields changed, removed or added: often valid."""
    data: dict[str, Any] = {**PETITION, "received_at": "2026-11-20T09:00:00+08:00"}
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["set", "set", "edge", "drop", "add"]))
        field = draw(st.sampled_from(sorted(data) or ["subject"]))
        if action == "set":
            data[field] = draw(json_values)
        elif action == "edge":
            data["received_at"] = draw(st.sampled_from(EDGE_DATETIMES))
            data["people_count"] = draw(st.one_of(st.just(1), st.integers(-5, 10**40)))
        elif action == "drop":
            data.pop(field, None)
        else:
            data[draw(keys)] = draw(json_values)
    return data


start_bodies = st.one_of(
    st.fixed_dictionaries({"process": junk_or("petition", "timer_test", "Petition", "", "petition ")},
                          optional={"data": st.one_of(petition_variants(), json_values)}),
    st.fixed_dictionaries({"process": st.just("petition"), "data": petition_variants()}),
    json_values,
)

text_or_junk = st.one_of(st.text(min_size=1, max_size=30), json_values)
decisions = junk_or("approve", "return", "leadership", "reject", "accept", "redo")
FIELDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "classify": {
        "category": junk_or("行政", "司法", "其他"),
        "route": junk_or("own", "dept", "legal", "county", "reject"),
        "handling_group": junk_or("dept_fgw", "dept_cjw", "dept_jsw", "county_linxiang", "xfk", "dept_nope"),
    },
    "propose": {"proposal": text_or_junk},
    "handle": {
        "outcome": junk_or("done", "extend"), "result": text_or_junk,
        "extension_days": st.one_of(st.integers(-3, 40), st.integers(10**18, 10**40), json_values),
        "extension_reason": text_or_junk,
    },
    "review_result": {"decision": decisions, "comment": text_or_junk},
    "reply": {"reply_text": text_or_junk, "replied_at": junk_or(*EDGE_DAYS),
              "delivery": junk_or("邮寄", "当面", "短信", "网络")},
    "explain": {"explanation": text_or_junk},
    "approval": {"decision": decisions, "comment": text_or_junk},
}


def form_strategy(bpmn_id: str) -> st.SearchStrategy[Any]:
    """Near-valid forms of a task: every field, some fields, extra keys, or any JSON value."""
    fields = FIELDS.get(bpmn_id, FIELDS["approval"])
    full = st.fixed_dictionaries(fields)
    partial = st.fixed_dictionaries({}, optional=fields)
    with_extra = st.tuples(partial, json_objects).map(lambda pair: {**pair[1], **pair[0]})
    return st.one_of(full, full, partial, with_extra, json_values)


ALL_FORMS = st.fixed_dictionaries({k: form_strategy(k) for k in FIELDS})

task_ids = st.one_of(
    st.text(max_size=40), st.uuids().map(str), st.integers().map(str),
    st.sampled_from(["", "..", "%2F", "00000000-0000-0000-0000-000000000000", "null", "__builtins__",
                     "a" * 200, "任务", "1; DROP TABLE human_tasks"]),
)
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "application/json; charset=latin-1",
                 "text/plain", "text/json", "application/x-www-form-urlencoded", "multipart/form-data",
                 "application/xml", "application/merge-patch+json", "", None]
RAW_BODIES = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(lambda s: s.encode("utf-8")),
    json_values.map(lambda v: json.dumps(v).encode("ascii")),
    start_bodies.map(lambda v: json.dumps(v).encode("ascii")),
    st.sampled_from([
        b'{"process": "petition", "data": {"subject": "\xff\xfe\xfd"}}',      # invalid UTF-8
        b'\xef\xbb\xbf{"process": "petition"}', b'\xfe\xff\x00{', b'{"data": NaN}', b'{"data": Infinity}',
        b'{"data": -Infinity, "process": 1e999}', b'{"process": "petition", "data": {"people_count": 1'
        + b"0" * 5000 + b"}}", b"[" * 3000 + b"]" * 3000, b"{" * 50 + b"}" * 50, b'{"a":' * 2000 + b"1"
        + b"}" * 2000, b'{"data": {"a": "\\ud800"}}', b"null", b"true", b"[]", b'""', b"0", b"{}",
        b'{"process": "petition", "process": "x"}', b"\x00" * 64,
    ]),
)


# ---- the app, its counters, the answer check --------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    instances: int
    history: int
    open_tasks: int
    numbers: int
    timers: int
    candidates: int
    notices: int
    receipts: int  # 签收回执: a receipt step's first claim writes one (and its history row)


class Fuzz:
    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self.db = api.app.extensions["govflow"].db
        self.iid: int | None = None

    def counts(self) -> Counts:
        with self.db.read() as s:
            def count(q: Any) -> int:
                return int(s.scalar(q) or 0)
            return Counts(
                instances=count(select(func.count(Instance.id))),
                history=count(select(func.count(History.id))),
                open_tasks=count(select(func.count(HumanTask.id)).where(HumanTask.state == "open")),
                numbers=count(select(func.coalesce(func.sum(Sequence.value), 0))),
                timers=count(select(func.count(Timer.id))),
                candidates=count(select(func.count()).select_from(TaskCandidate)),
                notices=count(select(func.count(Notice.id))),
                receipts=count(select(func.count(TaskReceipt.id))),
            )

    def receipt_due(self, task: HumanTask) -> int:
        """1 when claiming `task` is its unit's first claim of a step its procedure asks a receipt
        for (service/receipts.py), else 0."""
        declared = procedure.get(task.process_key)
        if declared is None or task.bpmn_id not in declared.receipts:
            return 0
        with self.db.read() as s:
            return 0 if s.scalar(select(TaskReceipt.id).where(TaskReceipt.task_id == task.id)) else 1

    def linked_starts(self, iid: int, body: dict[str, Any]) -> dict[str, int]:
        """What the cases started with the petition `iid` wrote: a registration with at least
        `collective_threshold` (5) people is 集体访 and starts one emergency case (PROCEDURES.md §4)
        in the same transaction; every other registration starts nothing (a 重复信访 link starts none)."""
        people = body["data"].get("people_count")
        collective = isinstance(people, int) and not isinstance(people, bool) and people >= 5
        with self.db.read() as s:
            started = list(s.scalars(select(InstanceLink.to_id).where(
                InstanceLink.from_id == iid, InstanceLink.relation == "emergency")))
            assert len(started) == int(collective), (people, started)
            if not started:
                return {}
            count = lambda q: int(s.scalar(q) or 0)  # noqa: E731
            return dict(instances=1, numbers=1,
                        history=count(select(func.count(History.id)).where(History.instance_id == started[0])),
                        open_tasks=count(select(func.count(HumanTask.id)).where(
                            HumanTask.instance_id == started[0], HumanTask.state == "open")))

    def headers(self, user: str | None) -> dict[str, str]:
        return self.api.headers(user) if user else {}

    def post(self, user: str | None, path: str, *, body: Any = None, raw: bytes | None = None,
             content_type: str | None = "application/json") -> Any:
        headers = self.headers(user)
        if raw is None:
            try:
                raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError:  # lone surrogates travel as \\uXXXX escapes
                raw = json.dumps(body).encode("ascii")
        kwargs: dict[str, Any] = {"data": raw, "headers": headers}
        if content_type is not None:
            kwargs["content_type"] = content_type
        return self.api.client.post(path, **kwargs)

    def open_task(self) -> HumanTask:
        """An open task of the petition under fuzz; registers a fresh petition when it has none."""
        for _ in range(3):
            if self.iid is not None:
                with self.db.read() as s:
                    rows = list(s.scalars(select(HumanTask).where(HumanTask.instance_id == self.iid,
                                                                  HumanTask.state == "open")
                                          .order_by(HumanTask.created_at, HumanTask.id)))
                if rows:
                    return rows[0]
            r = self.api.post("xfk1", "/api/v1/instances", json={
                "process": "petition", "data": {**PETITION, "received_at": "2026-11-20T09:00:00+08:00"}})
            assert r.status_code == 201, r.get_json()
            self.iid = int(r.get_json()["id"])
        raise AssertionError("no open task")


def check_answer(r: Any) -> Any:
    """2xx, or 4xx with a JSON error in Chinese; never 5xx. Returns the parsed body."""
    raw = r.get_data()
    assert r.status_code < 500, (r.status_code, raw[:600])
    assert r.mimetype == "application/json", (r.status_code, r.mimetype, raw[:300])
    body = json.loads(raw)
    if r.status_code >= 400:
        assert isinstance(body, dict), body
        assert isinstance(body.get("error"), str) and body["error"], body
        assert isinstance(body.get("message"), str) and CHINESE.search(body["message"]), body
    else:
        assert 200 <= r.status_code < 300, r.status_code
    return body


def delta(before: Counts, after: Counts) -> dict[str, int]:
    return {k: getattr(after, k) - getattr(before, k) for k in Counts.__dataclass_fields__}


NOTHING: dict[str, int] = {}


def plus(*parts: dict[str, int]) -> dict[str, int]:
    """Sum of expected changes (negative ones included, unlike Counter's `+`)."""
    total: dict[str, int] = {}
    for part in parts:
        for k, v in part.items():
            total[k] = total.get(k, 0) + v
    return total


def expect_delta(before: Counts, after: Counts, expected: dict[str, int], free: tuple[str, ...] = ()) -> None:
    """The counted tables changed exactly by `expected` (tables in `free` are not checked)."""
    got = {k: v for k, v in delta(before, after).items() if v and k not in free}
    want = {k: v for k, v in expected.items() if v and k not in free}
    assert got == want, f"writes {got}, expected {want}"


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzz]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "govflow.db"
    app = make_app(f"sqlite:///{path}")
    yield Fuzz(ApiClient(app))
    app.extensions["govflow"].db.dispose()


# ---- properties ------------------------------------------------------------------------------------


def test_start_instance_with_random_bodies_never_fails_with_5xx_nor_writes_on_4xx(fuzz: Fuzz) -> None:
    initial = fuzz.counts()
    tally: Counter[str] = Counter()  # .update adds, negative counts included
    answers: Counter[int] = Counter()

    @FUZZ
    @given(body=start_bodies, user=st.sampled_from(["xfk1", "xfk1", "admin", "fgw1", "bgs"]))
    def start(body: Any, user: str) -> None:
        before = fuzz.counts()
        r = fuzz.post(user, "/api/v1/instances", body=body)
        answer = check_answer(r)
        after = fuzz.counts()
        answers[r.status_code] += 1
        note(f"{r.status_code} {answer}")
        if r.status_code == 201:
            expected = plus(dict(instances=1, history=1 + (answer["status"] == "completed"),
                                 open_tasks=len(answer["open_tasks"]), numbers=1),
                            fuzz.linked_starts(int(answer["id"]), body))
            expect_delta(before, after, expected, free=("timers", "candidates", "notices"))
            assert answer["business_key"].startswith("XF-")
            tally.update(expected)
        else:
            expect_delta(before, after, NOTHING)

    start()
    print(f"start answers: {dict(answers)}")
    expect_delta(initial, fuzz.counts(), dict(tally), free=("timers", "candidates", "notices"))


def test_complete_open_task_with_random_data_never_fails_with_5xx_nor_writes_on_4xx(fuzz: Fuzz) -> None:
    initial = fuzz.counts()
    tally: Counter[str] = Counter()  # .update adds, negative counts included
    answers: Counter[tuple[str, int]] = Counter()

    @FUZZ
    @given(data=st.data())
    def complete(data: st.DataObject) -> None:
        # What is drawn must not depend on the database (hypothesis replays draws): draw a form
        # for every kind of task and a user role, then use the ones that fit the open task.
        who = data.draw(st.sampled_from(["owner"] * 8 + list(USERS)), label="user")
        forms = data.draw(ALL_FORMS, label="forms")
        task = fuzz.open_task()
        owner = task.assignee or GROUP_USER.get(task.candidate_groups.split(",")[0], "xfk1")
        user = owner if who == "owner" else who
        form = forms.get(task.bpmn_id, forms["approval"])
        note(f"{task.bpmn_id} as {user}: {form!r}")
        wrap = data.draw(st.sampled_from(["data", "data", "data", "bare", "junk"]), label="wrapping")
        if wrap == "data":
            body: Any = {"data": form}
        elif wrap == "bare":
            body = form
        else:
            body = data.draw(json_values, label="body")
        before = fuzz.counts()
        r = fuzz.post(user, f"/api/v1/tasks/{task.id}/complete", body=body)
        answer = check_answer(r)
        after = fuzz.counts()
        answers[(task.bpmn_id, r.status_code)] += 1
        note(f"{task.bpmn_id} as {user}: {r.status_code} {answer}")
        if r.status_code == 200:
            inst = answer["instance"]
            expected = dict(history=1 + (inst["status"] == "completed"),
                               open_tasks=len(inst["open_tasks"]) - 1)
            expect_delta(before, after, expected, free=("timers", "candidates", "notices"))
            tally.update(expected)
        else:
            expect_delta(before, after, NOTHING)

    complete()
    print(f"complete answers: {dict(sorted(answers.items()))}")
    grown = fuzz.counts().instances - initial.instances  # fresh petitions: start + `classify` each
    expect_delta(initial, fuzz.counts(), plus(dict(tally), dict(instances=grown, numbers=grown, history=grown,
                                                          open_tasks=grown)),
                 free=("timers", "candidates", "notices"))


def test_unknown_and_random_task_ids_answer_4xx_and_write_nothing(fuzz: Fuzz) -> None:
    initial = fuzz.counts()
    tally: Counter[str] = Counter()  # .update adds, negative counts included
    answers: Counter[tuple[str, int]] = Counter()

    @FUZZ
    @given(data=st.data())
    def poke(data: st.DataObject) -> None:
        kind = data.draw(st.sampled_from(["random", "random", "known"]), label="kind of id")
        random_id = data.draw(task_ids, label="random id")
        pick = data.draw(st.integers(0, 5), label="known id")
        real = fuzz.open_task()
        with fuzz.db.read() as s:
            done = s.scalars(select(HumanTask.id).where(HumanTask.state != "open").limit(5)).all()
        known = [real.id, *done]
        task_id = random_id if kind == "random" else known[pick % len(known)]
        action = data.draw(st.sampled_from(["complete", "claim", "unclaim"]), label="action")
        user = data.draw(st.sampled_from([*USERS, None]), label="user")
        body = data.draw(st.one_of(st.just({"data": {}}), json_values), label="body")
        assigned_before = real.assignee
        receipt_due = fuzz.receipt_due(real)
        before = fuzz.counts()
        r = fuzz.post(user, f"/api/v1/tasks/{quote(task_id, safe='')}/{action}", body=body)
        answer = check_answer(r)
        after = fuzz.counts()
        answers[(action, r.status_code)] += 1
        note(f"{action} {task_id!r} as {user}: {r.status_code} {answer}")
        if r.status_code == 200:
            assert task_id == real.id, "only the open task can be acted on"
            if action == "complete":
                inst = answer["instance"]
                expected = dict(history=1 + (inst["status"] == "completed"),
                                   open_tasks=len(inst["open_tasks"]) - 1)
                free: tuple[str, ...] = ("timers", "candidates", "notices")
            elif action == "claim":
                expected, free = {"history": 1 + receipt_due, "receipts": receipt_due}, ()
            else:
                expected, free = {"history": 1 if assigned_before else 0}, ()
            expect_delta(before, after, expected, free=free)
            tally.update(expected)
        else:
            expect_delta(before, after, NOTHING)

    poke()
    print(f"task id answers: {dict(sorted(answers.items(), key=str))}")
    grown = fuzz.counts().instances - initial.instances  # fresh petitions registered between examples
    expect_delta(initial, fuzz.counts(), plus(dict(tally), dict(instances=grown, numbers=grown, history=grown,
                                                          open_tasks=grown)),
                 free=("timers", "candidates", "notices"))


ENDPOINTS = ["/api/v1/instances", "/api/v1/tasks/{real}/complete", "/api/v1/tasks/{unknown}/complete",
             "/api/v1/tasks/{real}/claim", "/api/v1/tasks/{real}/unclaim", "/api/v1/auth/token",
             "/api/v1/definitions", "/api/v1/notices/read", "/api/v1/instances/{iid}/urge",
             "/api/v1/instances/{iid}/messages/review_request", "/api/v1/admin/clock"]


def test_raw_garbage_wrong_content_types_and_invalid_utf8_answer_4xx_and_write_nothing(fuzz: Fuzz) -> None:
    initial = fuzz.counts()
    tally: Counter[str] = Counter()  # .update adds, negative counts included
    answers: Counter[tuple[str, int]] = Counter()

    @FUZZ
    @given(raw=RAW_BODIES, content_type=st.sampled_from(CONTENT_TYPES),
           endpoint=st.sampled_from(ENDPOINTS), user=st.sampled_from(["xfk1", "admin", "fgw1", None]))
    def garbage(raw: bytes, content_type: str | None, endpoint: str, user: str | None) -> None:
        real = fuzz.open_task()
        path = endpoint.format(real=real.id, unknown=uuid.uuid4(), iid=real.instance_id)
        assigned_before = real.assignee
        receipt_due = fuzz.receipt_due(real)
        before = fuzz.counts()
        r = fuzz.post(user, path, raw=raw, content_type=content_type)
        answer = check_answer(r)
        after = fuzz.counts()
        answers[(endpoint, r.status_code)] += 1
        note(f"{path} as {user}: {r.status_code} {answer}")
        if r.status_code < 300:
            kind = endpoint.rsplit("/", 1)[-1]
            if kind == "instances":
                expected = dict(instances=1, history=1, open_tasks=len(answer["open_tasks"]), numbers=1)
                free: tuple[str, ...] = ("timers", "candidates", "notices")
            elif kind == "complete":
                expected = dict(history=1 + (answer["instance"]["status"] == "completed"),
                                   open_tasks=len(answer["instance"]["open_tasks"]) - 1)
                free = ("timers", "candidates", "notices")
            elif kind == "claim":
                expected, free = {"history": 1 + receipt_due, "receipts": receipt_due}, ()
            elif kind == "unclaim":
                expected, free = {"history": 1 if assigned_before else 0}, ()
            elif kind in ("token", "read"):  # a token row, read receipts: none of the counted tables
                expected, free = {}, ()
            elif kind == "urge":  # 催办 by a supervisor: logged, notices sent
                expected, free = {"history": 1}, ("notices",)
            elif kind == "review_request":
                expected = {"history": 1 + (answer["status"] == "completed")}
                free = ("timers", "candidates", "notices", "open_tasks")
            else:
                raise AssertionError(f"unexpected success: {path} {r.status_code} {answer}")
            expect_delta(before, after, expected, free=free)
            tally.update(expected)
        else:
            expect_delta(before, after, NOTHING)

    garbage()
    print(f"garbage answers: {dict(sorted(answers.items(), key=str))}")
    grown = fuzz.counts().instances - initial.instances - tally["instances"]
    expect_delta(initial, fuzz.counts(), plus(dict(tally), dict(instances=grown, numbers=grown, history=grown,
                                                          open_tasks=grown)),
                 free=("timers", "candidates", "notices"))


# ---- fixed edge cases (each a regression test of its own) ----------------------------------------------


@pytest.mark.parametrize("endpoint", ["/api/v1/instances", "/api/v1/tasks/{real}/complete",
                                      "/api/v1/auth/token", "/api/v1/definitions"])
def test_oversize_body_is_refused_with_413_json(fuzz: Fuzz, endpoint: str) -> None:
    real = fuzz.open_task()
    before = fuzz.counts()
    body = b'{"process": "petition", "data": {"content": "' + b"x" * MAX_BODY + b'"}}'
    assert len(body) > MAX_BODY
    r = fuzz.post("admin" if "definitions" in endpoint else "xfk1", endpoint.format(real=real.id), raw=body)
    answer = check_answer(r)
    assert r.status_code == 413 and answer["error"] == "too_large", answer
    assert fuzz.counts() == before


@pytest.mark.parametrize("raw", [b"[" * 100_000, b'{"process": "petition", "data": ' + b"[" * 5000 + b"]" * 5000
                                 + b"}", b'{"data": ' * 3000 + b"{}" + b"}" * 3000],
                         ids=["open-brackets", "deep-data", "deep-objects"])
@pytest.mark.parametrize("endpoint", ["/api/v1/instances", "/api/v1/tasks/{real}/complete"])
def test_deeply_nested_json_is_a_4xx_not_a_crash(fuzz: Fuzz, raw: bytes, endpoint: str) -> None:
    """Python's json parser gives up past ~1000 levels with RecursionError (not a ValueError)."""
    real = fuzz.open_task()
    before = fuzz.counts()
    r = fuzz.post("xfk1", endpoint.format(real=real.id), raw=raw)
    check_answer(r)
    assert 400 <= r.status_code < 500
    assert fuzz.counts() == before


@pytest.mark.parametrize("raw", [b"1", b"[1]", b'"x"', b"true"])
@pytest.mark.parametrize("endpoint", ["/api/v1/instances/{iid}/messages/review_request", "/api/v1/notices/read",
                                      "/api/v1/instances", "/api/v1/tasks/{real}/complete"])
def test_json_body_that_is_not_an_object_is_a_400(fuzz: Fuzz, raw: bytes, endpoint: str) -> None:
    real = fuzz.open_task()
    before = fuzz.counts()
    r = fuzz.post("xfk1", endpoint.format(real=real.id, iid=real.instance_id), raw=raw)
    answer = check_answer(r)
    assert r.status_code == 400, answer
    assert fuzz.counts() == before


@pytest.mark.parametrize("received_at", ["0001-01-01T00:00:00+08:00", "0001-01-01T00:00:00+14:00",
                                         "9999-12-31T23:59:59+08:00", "9999-12-01T00:00:00-12:00"])
def test_registration_date_at_the_end_of_time_is_a_field_error(fuzz: Fuzz, received_at: str) -> None:
    before = fuzz.counts()
    r = fuzz.post("xfk1", "/api/v1/instances",
                  body={"process": "petition", "data": {**PETITION, "received_at": received_at}})
    answer = check_answer(r)
    assert r.status_code == 422, answer
    assert [d.get("field") for d in answer["details"]] == ["received_at"], answer
    assert fuzz.counts() == before


def test_reply_date_at_the_end_of_time_is_a_field_error(fuzz: Fuzz) -> None:
    r = fuzz.api.post("xfk1", "/api/v1/instances", json={
        "process": "petition", "data": {**PETITION, "received_at": "2026-11-20T09:00:00+08:00"}})
    assert r.status_code == 201, r.get_json()
    (classify,) = r.get_json()["open_tasks"]
    r = fuzz.api.post("xfk1", f"/api/v1/tasks/{classify['id']}/complete",
                      json={"data": {"category": "其他", "route": "reject"}})
    assert r.status_code == 200, r.get_json()
    (reply,) = r.get_json()["instance"]["open_tasks"]
    before = fuzz.counts()
    r = fuzz.post("xfk1", f"/api/v1/tasks/{reply['id']}/complete", body={"data": {
        "reply_text": "不予受理。", "replied_at": "9999-12-31", "delivery": "邮寄"}})
    answer = check_answer(r)
    assert r.status_code == 422, answer
    assert [d.get("field") for d in answer["details"]] == ["replied_at"], answer
    assert fuzz.counts() == before


@pytest.mark.parametrize(("endpoint", "body"), [
    ("/api/v1/instances", {"process": "petition", "data": {**PETITION, "subject": "反映\ud800问题"}}),
    ("/api/v1/instances", {"process": "petition", "data": {**PETITION, "x\udfff": 1}}),
    ("/api/v1/tasks/{real}/complete", {"data": {"category": "行政", "route": "own", "comment\ud800": "x"}}),
    ("/api/v1/tasks/{real}/complete", {"data": {"category": "行政", "route": "own", "comment": "\udc00"}}),
    ("/api/v1/auth/token", {"username": "xfk1\ud800", "password": "govflow-demo"}),
], ids=["start-value", "start-key", "complete-key", "complete-value", "token-username"])
def test_lone_surrogate_escapes_are_a_4xx_not_a_crash(fuzz: Fuzz, endpoint: str, body: Any) -> None:
    """`"\\ud800"` is valid JSON but no valid text: it cannot be stored nor echoed as UTF-8."""
    real = fuzz.open_task()
    before = fuzz.counts()
    raw = json.dumps(body).encode("ascii")
    r = fuzz.post("xfk1", endpoint.format(real=real.id), raw=raw)
    check_answer(r)
    assert 400 <= r.status_code < 500
    assert fuzz.counts() == before
