"""Printed documents (信访工作办法 第七条: the office works on paper): the 交办单 of a routed
petition carries the letterhead, its per-year number (临人大信〔2026〕1号), the 统一编号, the
handling unit, the deadline and each leader's signature as recorded; numbers are gap-free per
year and a reprint keeps its number; papers the case has not reached are 404; the policy decides
who sees a paper and whether personal data is masked in it; the PDF is a real PDF; the
letterhead and the number prefix are settings."""

from __future__ import annotations

import io
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import ApiClient, done, login, missing_dependency, pin_clock, refused_and_replied, start, text

LETTERHEAD = "临沧市人大常委会办公室"
DUE = "2026年5月6日"  # PETITION is received 2026-03-02: day 60 is Wednesday 2026-05-06
TODAY = "2026年12月1日"  # the suite's clock
LETTERHEAD_KEY = "petition.documents.letterhead"
PREFIX_KEY = "petition.documents.number_prefix"


@pytest.fixture(autouse=True)
def _defaults_again(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The settings snapshot is shared by every app of the test process: a letterhead changed
    here must not reach the next test."""
    yield
    from test_settings_admin import forget_values

    forget_values(tmp_path_factory.mktemp("defaults"))


def routed(api: ApiClient, via_leadership: bool = True) -> int:
    """A petition handed to 法制工作委员会 (dept route): proposed by xfk1, signed by bgs, approved
    by msz — and, when `via_leadership`, sent on by msz to 主任 (zr), who approves it."""
    iid = start(api)
    done(api, "xfk1", iid, "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"})
    done(api, "xfk1", iid, "propose", {"proposal": "建议交法制工作委员会调查处理"})
    done(api, "bgs", iid, "leader_sign", {"decision": "approve", "comment": "拟同意，请秘书长审批"})
    if via_leadership:
        done(api, "msz", iid, "sg_approve", {"decision": "leadership", "comment": "请主任审批"})
        done(api, "zr", iid, "leadership_approve", {"decision": "approve", "comment": "请法工委依法办理"})
    else:
        done(api, "msz", iid, "sg_approve", {"decision": "approve"})
    return iid


def pages(api: ApiClient, user: str) -> Any:
    """A page client of the same app, logged in as `user` (forms without CSRF in tests)."""
    api.app.config["WTF_CSRF_ENABLED"] = False
    return login(api.app, user)


def sheet(client: Any, iid: int, doc: str = "assignment") -> tuple[int, str]:
    response = client.get(f"/instances/{iid}/documents/{doc}")
    return response.status_code, text(response)


def paper(html: str) -> str:
    """The printed sheet's text alone (no toolbar, no navigation), tags dropped."""
    found = re.search(r'<article class="paper".*?</article>', html, re.S)
    assert found, html[:500]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(0)))


def pdf_text(body: bytes) -> str:
    from pypdf import PdfReader

    return re.sub(r"\s+", "", "".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(body)).pages))


def business_key(api: ApiClient, iid: int) -> str:
    return str(api.instance("xfk1", iid)["business_key"])


# ----- the 交办单 -------------------------------------------------------------------------------


def test_the_assignment_sheet_has_letterhead_number_unit_deadline_and_each_signature(api: ApiClient) -> None:
    iid = routed(api)
    status, html = sheet(pages(api, "xfk1"), iid)
    assert status == 200, html[:300]
    printed = paper(html)
    assert f'<h1 class="doc-letterhead" id="doc-letterhead">{LETTERHEAD}</h1>' in html
    assert '<div class="doc-number" id="doc-number">临人大信〔2026〕1号</div>' in html
    assert "信访事项交办单" in printed
    assert business_key(api, iid) in printed and business_key(api, iid).startswith("XF-2026-")
    assert '<b id="doc-unit">法制工作委员会</b>' in html
    assert f'<b id="doc-due">{DUE}</b>' in html
    assert "建议交法制工作委员会调查处理" in printed and "张三" in printed  # xfk1 is in the chain
    signatures = re.findall(r'<tr class="doc-signature" data-step="(\w+)"><td>(.*?)</td><td>(.*?)</td>'
                            r'<td>(.*?)</td><td>(.*?)</td></tr>', html)
    assert signatures == [
        ("leader_sign", "分管领导签阅", "办公室分管领导", "同意：拟同意，请秘书长审批", TODAY),
        ("sg_approve", "秘书长审批", "秘书长", "报常委会领导审批：请主任审批", TODAY),
        ("leadership_approve", "常委会领导审批", "主任", "同意：请法工委依法办理", TODAY),
    ]
    # the print view has its 打印 button (window.print, hidden on paper) and its PDF link
    assert 'id="doc-print" data-print' in html
    assert f'href="/instances/{iid}/documents/assignment.pdf"' in html
    # issuing is in the history, once
    history = [h for h in api.instance("xfk1", iid)["history"] if h["action"] == "document"]
    assert [(h["task_name"], h["comment"], h["user"]) for h in history] == [
        ("交办单", "印发 交办单 临人大信〔2026〕1号", "xfk1")]


def test_only_the_last_rounds_signatures_are_on_the_sheet(sqlite_api: ApiClient) -> None:
    """Sent back by the 分管领导 once: the sheet shows the signatures of the proposal handed over."""
    api = sqlite_api
    iid = start(api)
    done(api, "xfk1", iid, "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"})
    done(api, "xfk1", iid, "propose", {"proposal": "第一稿"})
    done(api, "bgs", iid, "leader_sign", {"decision": "return", "comment": "请补充事实"})
    done(api, "xfk1", iid, "propose", {"proposal": "第二稿：建议交法制工作委员会办理"})
    done(api, "bgs", iid, "leader_sign", {"decision": "approve"})
    done(api, "msz", iid, "sg_approve", {"decision": "approve", "comment": "同意"})
    status, html = sheet(pages(api, "xfk1"), iid)
    assert status == 200
    steps = re.findall(r'<tr class="doc-signature" data-step="(\w+)"><td>.*?</td><td>(.*?)</td><td>(.*?)</td>', html)
    assert steps == [("leader_sign", "办公室分管领导", "同意"), ("sg_approve", "秘书长", "同意")]
    assert "第二稿" in paper(html) and "第一稿" not in paper(html)


def test_numbers_run_per_year_and_a_reprint_keeps_its_number(api: ApiClient) -> None:
    xfk = pages(api, "xfk1")
    first, second = routed(api, via_leadership=False), routed(api, via_leadership=False)
    assert "临人大信〔2026〕1号" in sheet(xfk, first)[1]
    assert "临人大信〔2026〕2号" in sheet(xfk, second)[1]
    again = sheet(pages(api, "bgs"), first)[1]  # a reprint, by someone else
    assert "临人大信〔2026〕1号" in again and "临人大信〔2026〕3号" not in again
    issued = [h for h in api.instance("xfk1", first)["history"] if h["action"] == "document"]
    assert len(issued) == 1
    listing = {d["key"]: d for d in api.get("xfk1", f"/api/v1/instances/{first}/documents").get_json()}
    assert listing["assignment"]["number"] == "临人大信〔2026〕1号"
    # a new year restarts the counter at 1
    from service import clock

    pin_clock(datetime(2027, 1, 4, 9, 0, tzinfo=clock.BEIJING))
    third = routed(api, via_leadership=False)
    assert "临人大信〔2027〕1号" in sheet(xfk, third)[1]
    assert "临人大信〔2026〕2号" in sheet(xfk, second)[1]  # last year's paper keeps its number


def test_papers_the_case_has_not_reached_are_404(sqlite_api: ApiClient) -> None:
    api = sqlite_api
    xfk = pages(api, "xfk1")
    fresh = start(api)
    status, html = sheet(xfk, fresh, "registration")  # registered: the 登记表 is there at once
    assert status == 200 and "信访事项登记表" in html and "530102199001071234" in html
    for doc, name in (("assignment", "交办单"), ("reply", "答复书"), ("refusal", "不予受理告知书")):
        status, html = sheet(xfk, fresh, doc)
        assert status == 404 and f"暂不能打印{name}" in html, doc
    assert sheet(xfk, fresh, "nonsense")[0] == 404
    assert sheet(xfk, 999_999, "registration")[0] == 404
    assert api.get("xfk1", f"/api/v1/instances/{fresh}/documents/assignment.pdf").status_code == 404
    # nothing was numbered by the refusals
    assert not [h for h in api.instance("xfk1", fresh)["history"] if h["action"] == "document"]
    # a petition not accepted: its 不予受理告知书 (numbered), never a 交办单 or 答复书
    refused = refused_and_replied(api)
    status, html = sheet(xfk, refused, "refusal")
    assert status == 200 and "临人大信〔2026〕1号" in html and "请向有权处理的机关提出。" in paper(html)
    assert sheet(xfk, refused, "assignment")[0] == 404 and sheet(xfk, refused, "reply")[0] == 404
    listing = api.get("xfk1", f"/api/v1/instances/{refused}/documents").get_json()
    assert [(d["key"], d["available"], d["number"]) for d in listing] == [
        ("registration", True, None), ("assignment", False, None), ("reply", False, None),
        ("refusal", True, "临人大信〔2026〕1号")]


def test_the_reply_is_printed_after_the_reply_step(sqlite_api: ApiClient) -> None:
    api = sqlite_api
    iid = routed(api, via_leadership=False)
    done(api, "fgw1", iid, "handle", {"outcome": "done", "result": "已督促企业支付工资"})
    done(api, "xfk1", iid, "review_result", {"decision": "accept"})
    xfk = pages(api, "xfk1")
    assert sheet(xfk, iid, "reply")[0] == 404
    done(api, "xfk1", iid, "reply", {"reply_text": "经查，工资已支付。", "replied_at": "2026-12-01", "delivery": "邮寄"})
    status, html = sheet(xfk, iid, "reply")
    assert status == 200 and "信访事项答复书" in html and "经查，工资已支付。" in paper(html)
    assert "临人大信〔2026〕1号" in html and "邮寄送达" in paper(html) and TODAY in paper(html)


# ----- who sees a paper, and what -------------------------------------------------------------


def test_outside_the_chain_is_403_and_the_admin_sees_personal_data_masked(sqlite_api: ApiClient) -> None:
    api = sqlite_api
    iid = routed(api, via_leadership=False)
    for user in ("cjw1", "linxiang1"):
        status, html = sheet(pages(api, user), iid)
        assert status == 403 and "您无权查看此案件" in html, user
        assert api.get(user, f"/api/v1/instances/{iid}/documents").status_code == 403
        assert api.get(user, f"/api/v1/instances/{iid}/documents/assignment.pdf").status_code == 403
    # the administrator sees every case, but the petitioner's data masked (not a reader)
    for doc in ("assignment", "registration"):
        status, html = sheet(pages(api, "admin"), iid, doc)
        printed = paper(html)
        assert status == 200
        assert "张*" in printed and "张三" not in printed and "530102199001071234" not in printed
        assert "13812345678" not in printed and "个人信息已作隐去处理" in printed
    # the handling unit and the chain see it in clear
    for user in ("fgw1", "bgs"):
        printed = paper(sheet(pages(api, user), iid, "registration")[1])
        assert "张三" in printed and "530102199001071234" in printed and "隐去" not in printed, user


# ----- the PDF ---------------------------------------------------------------------------------


def test_the_pdf_is_a_real_pdf_with_letterhead_and_number(sqlite_api: ApiClient) -> None:
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError):
        missing_dependency("WeasyPrint (and pango) are not installed: .venv/bin/pip install weasyprint")
    api = sqlite_api
    iid = routed(api)
    key = business_key(api, iid)
    r = api.get("xfk1", f"/api/v1/instances/{iid}/documents/assignment.pdf")
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    assert r.headers["Content-Type"] == "application/pdf" and r.data.startswith(b"%PDF-")
    assert r.headers["Content-Disposition"] == (
        f"attachment; filename=\"{key}-assignment.pdf\"; "
        f"filename*=UTF-8''{key}-%E4%BA%A4%E5%8A%9E%E5%8D%95.pdf")
    found = pdf_text(r.data)
    for expected in (LETTERHEAD, "临人大信〔2026〕1号", key, "法制工作委员会", DUE, "信访事项交办单"):
        assert expected in found, (expected, found[:400])
    assert "我的待办" not in found and "下载PDF" not in found  # the sheet alone
    # the page's PDF link gives the same paper, with the same number
    page_pdf = pages(api, "xfk1").get(f"/instances/{iid}/documents/assignment.pdf")
    assert page_pdf.status_code == 200 and "临人大信〔2026〕1号" in pdf_text(page_pdf.data)


def test_without_weasyprint_the_pdf_is_a_chinese_503_and_printing_still_works(
        sqlite_api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    api = sqlite_api
    iid = routed(api, via_leadership=False)
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # `import weasyprint` raises ImportError
    r = api.get("xfk1", f"/api/v1/instances/{iid}/documents/assignment.pdf")
    assert r.status_code == 503 and "WeasyPrint" in r.get_json()["message"]
    assert r.get_json()["error"] == "unavailable"
    assert sheet(pages(api, "xfk1"), iid)[0] == 200


# ----- settings, the case page ------------------------------------------------------------------


def test_changing_the_letterhead_and_prefix_settings_changes_the_printout(sqlite_api: ApiClient) -> None:
    api = sqlite_api
    iid = routed(api, via_leadership=False)
    put = api.client.put
    r = put(f"/api/v1/settings/{LETTERHEAD_KEY}", headers=api.headers("admin"), json={"value": " 临沧市人大常委会信访办 "})
    assert r.status_code == 200 and r.get_json()["value"] == "临沧市人大常委会信访办", r.get_json()
    html = sheet(pages(api, "xfk1"), iid)[1]
    assert '<h1 class="doc-letterhead" id="doc-letterhead">临沧市人大常委会信访办</h1>' in html
    assert "临人大信〔2026〕1号" in html
    # a bad text is refused and changes nothing
    for bad, message in (("", "不能为空"), ("临" * 41, "不能超过 40 个字"), (12, "应为文字"), ("甲\n乙", "控制字符")):
        r = put(f"/api/v1/settings/{LETTERHEAD_KEY}", headers=api.headers("admin"), json={"value": bad})
        assert r.status_code == 422 and message in r.get_json()["details"][0]["message"], (bad, r.get_json())
    assert "临沧市人大常委会信访办" in sheet(pages(api, "xfk1"), iid)[1]
    # a new prefix has its own counter
    r = put(f"/api/v1/settings/{PREFIX_KEY}", headers=api.headers("admin"), json={"value": "临人大信访"})
    assert r.status_code == 200
    other = routed(api, via_leadership=False)
    assert "临人大信访〔2026〕1号" in sheet(pages(api, "xfk1"), other)[1]
    # the settings page offers the texts as text fields
    page = text(pages(api, "admin").get("/admin/settings"))
    assert f'name="{LETTERHEAD_KEY}" type="text"' in page and 'value="临沧市人大常委会信访办"' in page


def test_the_case_page_lists_the_papers_it_has_reached(sqlite_api: ApiClient) -> None:
    api = sqlite_api
    iid = routed(api, via_leadership=False)
    html = text(pages(api, "xfk1").get(f"/instances/{iid}"))
    listed = re.findall(r'<li data-doc="(\w+)"><a class="btn btn-small btn-primary doc-print" href="([^"]+)"', html)
    assert listed == [("registration", f"/instances/{iid}/documents/registration"),
                      ("assignment", f"/instances/{iid}/documents/assignment")]
    fresh = start(api)
    html = text(pages(api, "xfk1").get(f"/instances/{fresh}"))
    assert re.findall(r'<li data-doc="(\w+)">', html) == ["registration"]


def test_the_timeline_shows_an_issue_as_印发_not_as_an_opinion(sqlite_api: ApiClient) -> None:
    api = sqlite_api
    iid = routed(api, via_leadership=False)
    client = pages(api, "xfk1")
    assert client.get(f"/instances/{iid}/documents/assignment").status_code == 200
    html = text(client.get(f"/instances/{iid}"))
    assert '<div class="tl-comment">印发 交办单 临人大信〔2026〕1号</div>' in html
    assert "意见：印发" not in html


def test_templates_of_a_procedure_live_outside_service() -> None:
    from service import procedure

    declared = procedure.get("petition")
    assert declared is not None and [d.key for d in declared.documents] == [
        "registration", "assignment", "reply", "refusal"]
    root = Path(__file__).resolve().parent.parent
    for doc in declared.documents:
        assert doc.template_dir is not None and (doc.template_dir / doc.template).is_file()
        assert (root / "service") not in (doc.template_dir / doc.template).parents
