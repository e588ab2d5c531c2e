"""综合查询 (/search, GET /api/v1/search): each criterion finds what it says and nothing else, a
search by personal data finds only cases whose personal data the user may see (and is refused
to who sees none), sorting, saved filters per user, the Excel export with masked personal data,
and the stored search keys hold no personal value."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from conftest import PETITION, ApiClient, done, login, pin_clock, start, text

from service import clock

ID_A, NAME_A = "530102199001071234", "张三"
ID_B, NAME_B = "53010219850203105X", "李四"


def hand_over(api: ApiClient, iid: int, group: str) -> None:
    """归纳分类 → 交办 `group` (拟办, 签批, 审批): the case is that department's from now on."""
    done(api, "xfk1", iid, "classify", {"category": "行政", "route": "dept", "handling_group": group})
    done(api, "xfk1", iid, "propose", {"proposal": "建议交有关部门办理"})
    done(api, "bgs", iid, "leader_sign", {"decision": "approve", "comment": "同意"})
    done(api, "msz", iid, "sg_approve", {"decision": "approve", "comment": "同意"})
    assert api.instance("xfk1", iid)["handling_group"] == group


def found(api: ApiClient, user: str, **args: Any) -> list[int]:
    r = api.get(user, f"/api/v1/search?{urlencode(args)}")
    assert r.status_code == 200, r.get_json()
    return [row["id"] for row in r.get_json()["rows"]]


@pytest.fixture
def two_units(api: ApiClient) -> tuple[int, int]:
    """Petition A (张三) handed to 法制工作委员会, petition B (李四) to 财政经济委员会."""
    a = start(api, subject="反映某公司拖欠工资")
    b = start(api, petitioner_name=NAME_B, petitioner_id_number=ID_B, subject="反映小区道路破损")
    hand_over(api, a, "dept_fgw")
    hand_over(api, b, "dept_cjw")
    return a, b


# ----- personal fields -------------------------------------------------------------------------


def test_id_number_finds_the_petition_for_xfk_and_not_for_a_department_outside_the_chain(
        api: ApiClient, two_units: tuple[int, int]) -> None:
    a, b = two_units
    assert found(api, "xfk1", petitioner_id_number=ID_A) == [a]
    assert found(api, "fgw1", petitioner_id_number=ID_A) == [a]  # the unit handling it
    # 财政经济委员会 may search by ID number (it sees B's personal data), but A is not theirs
    assert found(api, "cjw1", petitioner_id_number=ID_A) == []
    assert found(api, "cjw1", petitioner_id_number=ID_B) == [b]
    # the same number typed with a small x, spaces and full-width digits
    assert found(api, "xfk1", petitioner_id_number=" ５３０１０２19850203105x ") == [b]
    assert found(api, "xfk1", petitioner_id_number="5301021990") == []  # exact match only


def test_name_finds_the_petitions_of_that_petitioner(api: ApiClient, two_units: tuple[int, int]) -> None:
    a, b = two_units
    third = start(api, subject="再次反映拖欠工资")
    assert found(api, "xfk1", petitioner_name=NAME_A) == [third, a]
    assert found(api, "xfk1", petitioner_name=f" {NAME_B} ") == [b]
    assert found(api, "xfk1", petitioner_name="张") == []
    assert found(api, "cjw1", petitioner_name=NAME_A) == []


def test_personal_fields_are_refused_to_a_user_who_sees_no_personal_data(
        api: ApiClient, two_units: tuple[int, int]) -> None:
    for user in ("admin", "web1"):  # the administrator sees every case, but personal data masked
        r = api.get(user, f"/api/v1/search?petitioner_id_number={ID_A}")
        assert r.status_code == 403
        assert r.get_json()["message"].startswith("您无权按“身份证号码”查询")
        fields = api.get(user, "/api/v1/search/fields").get_json()
        assert fields["personal"] == []
    offered = api.get("xfk1", "/api/v1/search/fields").get_json()["personal"]
    assert offered == [{"key": "petitioner_name", "label": "信访人姓名"},
                       {"key": "petitioner_id_number", "label": "身份证号码"}]
    assert [f["key"] for f in api.get("cjw1", "/api/v1/search/fields").get_json()["personal"]] == \
        ["petitioner_name", "petitioner_id_number"]


def test_a_department_with_no_case_of_its_own_is_not_offered_personal_fields(api: ApiClient) -> None:
    start(api)
    assert api.get("jsw1", "/api/v1/search/fields").get_json()["personal"] == []
    assert api.get("jsw1", f"/api/v1/search?petitioner_name={NAME_A}").status_code == 403


def test_the_stored_search_keys_hold_no_personal_value(app: Any, api: ApiClient) -> None:
    import hashlib

    from sqlalchemy import select

    from service import search_keys
    from service.store.search_models import CaseSearchKey

    iid = start(api)
    db = app.extensions["govflow"].db
    with db.read() as session:
        rows = [(r.instance_id, r.key, r.value_hash) for r in session.scalars(select(CaseSearchKey))]
    assert sorted(k for _i, k, _h in rows) == ["petitioner_id_number", "petitioner_name"]
    assert {i for i, _k, _h in rows} == {iid}
    for _i, _k, value_hash in rows:
        assert ID_A not in value_hash and NAME_A not in value_hash and len(value_hash) == 64
        # keyed: not the plain hash anyone could compute from a guessed number
        assert value_hash not in {hashlib.sha256(v.encode()).hexdigest() for v in (ID_A, f"petition:{ID_A}")}
    # the history restores them (govflow rebuild-read-models)
    with db.write() as session:
        session.query(CaseSearchKey).delete()
    assert found(api, "xfk1", petitioner_id_number=ID_A) == []
    assert search_keys.rebuild(db) == 2
    assert found(api, "xfk1", petitioner_id_number=ID_A) == [iid]


def test_the_sql_personal_rule_agrees_with_the_policy_case_by_case(app: Any, two_units: tuple[int, int]) -> None:
    from sqlalchemy import select

    from service import policy
    from service.auth import actor_for
    from service.store.models import Instance, User

    with app.extensions["govflow"].db.read() as session:
        cases = list(session.scalars(select(Instance)))
        for user in session.scalars(select(User)):
            actor = actor_for(user)
            clear = set(session.scalars(select(Instance.id).where(policy.personal_visible(actor))))
            assert clear == {c.id for c in cases if policy.may_see_personal(actor, c)}, user.username


def test_a_step_that_changes_a_searchable_field_moves_its_key() -> None:
    """A step's form holding one of the keys replaces its hash (an empty value removes it); steps
    without them, timers and messages write nothing."""
    import json
    from types import SimpleNamespace

    from service import search_keys

    search_keys.configure("unit-test-secret")  # as the bootstrap does (every app built after sets its own)
    ran: list[tuple[str, dict[str, Any]]] = []
    sql = SimpleNamespace(run=lambda _tx, statement, params: ran.append((statement.split()[0], params)))
    case = SimpleNamespace(id=7, process_key="petition")
    search_keys.write_step(sql, None, case, [
        {"action": "complete", "data_after": json.dumps({"petitioner_name": "王五", "comment": "更正姓名"})},
        {"action": "message", "data_after": json.dumps({"petitioner_id_number": ID_A})},
        {"action": "timer", "data_after": None}])
    assert ran == [("INSERT", {"id": 7, "key": "petitioner_name",
                               "hash": search_keys.digest("petition", "petitioner_name", " 王五 ")})]
    ran.clear()
    search_keys.write_step(sql, None, case, [{"action": "complete", "data_after": '{"petitioner_name": ""}'}])
    assert ran == [("DELETE", {"id": 7, "key": "petitioner_name"})]
    ran.clear()
    search_keys.write_step(sql, None, SimpleNamespace(id=8, process_key="no_such_procedure"),
                           [{"action": "start", "data_after": '{"petitioner_name": "王五"}'}])
    assert ran == []


# ----- the common criteria ---------------------------------------------------------------------


def test_business_key_exact_or_prefix(api: ApiClient) -> None:
    a, b = start(api), start(api)
    key_a = api.instance("xfk1", a)["business_key"]
    assert found(api, "xfk1", business_key=key_a) == [a]
    assert found(api, "xfk1", business_key=key_a.lower()) == [a]
    assert found(api, "xfk1", business_key="XF-2026-") == [b, a]
    assert found(api, "xfk1", business_key=key_a[3:]) == []  # a prefix, not anywhere inside


def test_subject_contains(api: ApiClient) -> None:
    a = start(api, subject="反映小区道路破损长期未修")
    start(api, subject="反映某公司拖欠工资")
    assert found(api, "xfk1", subject="道路破损") == [a]
    assert found(api, "xfk1", subject="100%") == []  # LIKE wildcards are literal


def test_handling_unit(api: ApiClient, two_units: tuple[int, int]) -> None:
    a, b = two_units
    assert found(api, "xfk1", handling_group="dept_fgw") == [a]
    assert found(api, "xfk1", handling_group="dept_cjw") == [b]
    assert found(api, "fgw1", handling_group="dept_cjw") == []  # not theirs to see


def test_registration_and_deadline_date_ranges(api: ApiClient) -> None:
    first = start(api)
    pin_clock(datetime(2026, 12, 10, 9, 0, tzinfo=clock.BEIJING))
    second = start(api, received_at="2026-12-10T08:30:00+08:00")
    assert found(api, "xfk1", started_to="2026-12-01") == [first]
    assert found(api, "xfk1", started_from="2026-12-02", started_to="2026-12-10") == [second]
    assert found(api, "xfk1", started_from="2026-12-11") == []
    due_second = api.instance("xfk1", second)["due_at"][:10]
    assert found(api, "xfk1", due_from=due_second, due_to=due_second) == [second]
    r = api.get("xfk1", "/api/v1/search?started_from=2026-13-01")
    assert r.status_code == 400 and "登记日期自" in r.get_json()["message"]


def test_overdue_only(api: ApiClient) -> None:
    late = start(api)  # received 2026-03-02: its 60 days are long over
    fresh = start(api, received_at="2026-12-01T09:00:00+08:00")
    assert found(api, "xfk1", overdue=1) == [late]
    pin_clock(datetime(2027, 6, 1, 10, 0, tzinfo=clock.BEIJING))
    assert found(api, "xfk1", overdue=1) == [fresh, late]


def test_listed_only(api: ApiClient) -> None:
    a, b = start(api), start(api)
    r = api.post("zr", f"/api/v1/instances/{b}/listed", json={"listed": True, "comment": "重点督办"})
    assert r.status_code == 200, r.get_json()
    assert found(api, "xfk1", listed=1) == [b]
    assert sorted(found(api, "xfk1")) == [a, b]


def test_status_and_process(api: ApiClient) -> None:
    a = start(api)
    assert found(api, "xfk1", status="running", process="petition") == [a]
    assert found(api, "xfk1", status="completed") == []
    r = api.get("xfk1", "/api/v1/search?status=done")
    assert r.status_code == 400 and "status" in r.get_json()["message"]


def test_sorting_by_deadline_both_ways_with_ties_by_id(api: ApiClient) -> None:
    mid = start(api, received_at="2026-06-01T09:00:00+08:00")
    early = start(api, received_at="2026-03-02T09:00:00+08:00")
    late = start(api, received_at="2026-11-02T09:00:00+08:00")
    tie = start(api, received_at="2026-11-02T10:00:00+08:00")  # the same last day as `late`
    assert found(api, "xfk1", sort="due_at", order="asc") == [early, mid, late, tie]
    assert found(api, "xfk1", sort="due_at", order="desc") == [tie, late, mid, early]
    assert found(api, "xfk1") == [tie, late, early, mid]  # newest first by default
    r = api.get("xfk1", "/api/v1/search?sort=state_json")
    assert r.status_code == 400 and "sort" in r.get_json()["message"]


def test_paging_says_the_total_and_the_next_offset(api: ApiClient) -> None:
    ids = [start(api) for _ in range(3)]
    body = api.get("xfk1", "/api/v1/search?limit=2").get_json()
    assert (body["total"], body["next_offset"], [r["id"] for r in body["rows"]]) == (3, 2, ids[:0:-1])
    body = api.get("xfk1", "/api/v1/search?limit=2&offset=2").get_json()
    assert (body["next_offset"], [r["id"] for r in body["rows"]]) == (None, [ids[0]])


def test_every_result_is_one_the_user_may_see(api: ApiClient, two_units: tuple[int, int]) -> None:
    a, b = two_units
    assert found(api, "fgw1") == [a]
    assert found(api, "cjw1") == [b]
    assert found(api, "web1") == []
    # the case list is the same search
    assert [r["id"] for r in api.get("cjw1", "/api/v1/instances").get_json()] == [b]


# ----- saved filters ---------------------------------------------------------------------------


def test_saved_filters_are_each_users_own(api: ApiClient) -> None:
    a = start(api, subject="反映小区道路破损")
    start(api, subject="反映某公司拖欠工资")
    r = api.post("xfk1", "/api/v1/search/filters",
                 json={"name": "道路", "query": f"subject=道路&petitioner_id_number={ID_A}&bogus=1"})
    assert r.status_code == 201, r.get_json()
    saved = r.get_json()
    assert saved["query"] == "subject=%E9%81%93%E8%B7%AF"  # no personal value, nothing unknown
    listed = api.get("xfk1", "/api/v1/search/filters").get_json()
    assert [(f["id"], f["name"]) for f in listed] == [(saved["id"], "道路")]
    used = api.get("xfk1", f"/api/v1/search?{saved['query']}").get_json()  # the filter used as the query
    assert [row["id"] for row in used["rows"]] == [a]
    again = api.post("xfk1", "/api/v1/search/filters", json={"name": " 道路 ", "query": "status=running"})
    assert again.status_code == 422 and again.get_json()["message"] == "已有名为“道路”的查询条件，请换一个名称"
    # another user sees none of it and cannot read or delete it
    assert api.get("xfk2", "/api/v1/search/filters").get_json() == []
    assert api.get("xfk2", f"/api/v1/search/filters/{saved['id']}").status_code == 404
    gone = api.client.delete(f"/api/v1/search/filters/{saved['id']}", headers=api.headers("xfk2"))
    assert gone.status_code == 404
    # the same name is free for them
    assert api.post("xfk2", "/api/v1/search/filters", json={"name": "道路", "query": ""}).status_code == 201
    deleted = api.client.delete(f"/api/v1/search/filters/{saved['id']}", headers=api.headers("xfk1"))
    assert deleted.status_code == 200 and deleted.get_json()["deleted"]["name"] == "道路"
    assert api.get("xfk1", "/api/v1/search/filters").get_json() == []


def test_a_filter_with_a_bad_criterion_or_no_name_is_refused(api: ApiClient) -> None:
    r = api.post("xfk1", "/api/v1/search/filters", json={"name": "坏", "query": "started_from=昨天"})
    assert r.status_code == 422 and "登记日期自" in r.get_json()["message"]
    r = api.post("xfk1", "/api/v1/search/filters", json={"name": "  ", "query": "status=running"})
    assert r.status_code == 422 and r.get_json()["message"] == "请填写查询条件的名称"
    assert api.get("xfk1", "/api/v1/search/filters").get_json() == []


# ----- Excel -----------------------------------------------------------------------------------


def _sheet(body: bytes) -> list[tuple[Any, ...]]:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(body))
    sheet = book[book.sheetnames[0]]
    return [tuple(row) for row in sheet.iter_rows(min_row=5, values_only=True)]


def test_excel_export_has_the_rows_and_personal_data_as_the_policy_shows_it(
        api: ApiClient, two_units: tuple[int, int]) -> None:
    from service import policy

    a, b = two_units
    r = api.get("xfk1", "/api/v1/search?format=xlsx&sort=business_key&order=asc")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    rows = _sheet(r.data)
    assert rows[0] == ("编号", "标题", "流程", "状态", "登记时间", "期限", "办理单位", "挂牌督办", "信访人姓名", "身份证号码")
    keys = [api.instance("xfk1", i)["business_key"] for i in (a, b)]
    assert [row[0] for row in rows[1:]] == keys
    assert rows[1][1] == "反映某公司拖欠工资" and rows[1][6] == "法制工作委员会" and rows[1][3] == "办理中"
    assert rows[1][8:] == (NAME_A, ID_A) and rows[2][8:] == (NAME_B, ID_B)  # 信访科 sees them in clear
    masked = policy.mask("petition", {"petitioner_name": NAME_A, "petitioner_id_number": ID_A})
    admin_rows = _sheet(api.get("admin", "/api/v1/search?format=xlsx&sort=business_key&order=asc").data)
    assert admin_rows[1][8:] == (masked["petitioner_name"], masked["petitioner_id_number"])
    assert ID_A not in str(admin_rows) and masked["petitioner_id_number"] != ID_A
    # a department exports its own case only, in clear
    assert [row[8:] for row in _sheet(api.get("cjw1", "/api/v1/search?format=xlsx").data)[1:]] == [(NAME_B, ID_B)]


# ----- the page --------------------------------------------------------------------------------


def test_the_page_offers_personal_fields_only_to_who_may_see_them(page_app: Any) -> None:
    from conftest import ApiClient as Client

    api = Client(page_app)
    iid = start(api)
    xfk = login(page_app, "xfk1")
    body = text(xfk.get(f"/search?petitioner_id_number={ID_A}"))
    assert 'name="petitioner_id_number"' in body and 'id="results"' in body and "共 1 件" in body
    assert api.instance("xfk1", iid)["business_key"] in body and "table-cards" in body
    assert '>综合查询</a>' in body  # the navigation's entry
    web = login(page_app, "web1")
    assert 'name="petitioner_id_number"' not in text(web.get("/search"))
    refused = web.get(f"/search?petitioner_id_number={ID_A}")
    assert refused.status_code == 403 and "您无权按“身份证号码”查询" in text(refused)


def test_the_page_sorts_by_clicking_a_header(page_app: Any) -> None:
    from conftest import ApiClient as Client

    api = Client(page_app)
    early = start(api, received_at="2026-03-02T09:00:00+08:00", subject="早")
    late = start(api, received_at="2026-11-02T09:00:00+08:00", subject="晚")
    client = login(page_app, "xfk1")
    body = text(client.get("/search"))
    assert "sort=due_at&amp;order=asc" in body
    keys = {i: api.instance("xfk1", i)["business_key"] for i in (early, late)}
    asc = text(client.get("/search?sort=due_at&order=asc"))
    assert asc.index(keys[early]) < asc.index(keys[late]) and "期限 ▲" in asc
    assert "sort=due_at&amp;order=desc" in asc  # the second click turns it round
    desc = text(client.get("/search?sort=due_at&order=desc"))
    assert desc.index(keys[late]) < desc.index(keys[early]) and "期限 ▼" in desc


def test_the_page_saves_uses_and_deletes_a_filter(page_app: Any) -> None:
    from sqlalchemy import select

    from service.store.search_models import SavedFilter

    start(ApiClient(page_app))
    client = login(page_app, "xfk1")
    r = client.post("/search/filters", data={"name": "本月超期", "query": "overdue=1&petitioner_name=张三"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/search?overdue=1")
    page = text(client.get("/search"))
    assert "本月超期" in page and 'href="/search?overdue=1"' in page
    dup = client.post("/search/filters", data={"name": "本月超期", "query": "status=running"})
    assert dup.status_code == 422 and "已有名为“本月超期”的查询条件" in text(dup)
    with page_app.extensions["govflow"].db.read() as session:
        row = session.scalars(select(SavedFilter)).one()
    assert row.query == "overdue=1"
    assert login(page_app, "xfk2").post(f"/search/filters/{row.id}/delete").status_code == 404
    assert client.post(f"/search/filters/{row.id}/delete").status_code == 302
    after = text(client.get("/search"))
    assert "已删除查询条件“本月超期”" in after and 'href="/search?overdue=1"' not in after


def test_the_page_exports_every_result_to_excel(page_app: Any) -> None:
    api = ApiClient(page_app)
    ids = [start(api, **({"subject": f"事项{n}"} if n else {})) for n in range(3)]
    r = login(page_app, "xfk1").get("/search/export?sort=title&order=asc")
    assert r.status_code == 200 and "filename*=UTF-8''" in r.headers["Content-Disposition"]
    rows = _sheet(r.data)
    assert [row[1] for row in rows[1:]] == sorted(["事项1", "事项2", PETITION["subject"]])
    assert len(rows) == len(ids) + 1


@pytest.mark.browser
def test_the_search_page_fits_a_phone_and_sorts_by_a_tap(chromium_path: str, tmp_path: Any, artifacts_dir: Any) -> None:
    from conftest import browser_app, browser_page, serve
    from playwright.sync_api import expect

    app = browser_app(tmp_path, "search")
    api = ApiClient(app)
    early = start(api, received_at="2026-03-02T09:00:00+08:00", subject="早登记的信访件")
    late = start(api, received_at="2026-11-02T09:00:00+08:00", subject="晚登记的信访件")
    keys = [api.instance("xfk1", i)["business_key"] for i in (early, late)]
    with serve(app) as base, browser_page(chromium_path, viewport={"width": 390, "height": 844},
                                          is_mobile=True, has_touch=True) as page:
        page.goto(f"{base}/login")
        page.fill("#username", "xfk1")
        page.fill("#password", "govflow-demo")
        page.tap("button[type=submit]")
        page.tap("nav a[href='/search']")
        expect(page.locator("h1")).to_have_text("综合查询")
        page.fill("#p_petitioner_id_number", ID_A)
        page.tap("#search-form button[type=submit]")
        expect(page.locator("#results tbody tr")).to_have_count(2)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.goto(f"{base}/search?sort=due_at&order=desc")
        rows = page.locator("#results tbody tr")
        assert [rows.nth(n).get_attribute("data-business-key") for n in range(2)] == keys[::-1]
        page.screenshot(path=str(artifacts_dir / "search-phone.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert page.js_errors == []
