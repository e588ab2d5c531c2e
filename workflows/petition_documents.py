"""The petition's printed papers (信访工作办法 第七条: 受理登记、拟办、签阅审批、交办转办、答复):
信访登记表, 交办单, 答复书 and 不予受理告知书, each offered once the case reached its point.

Templates: workflows/templates/petition/*.html (extending the platform's print_base.html). The
letterhead and the document-number prefix are text settings of the procedure
(`documents.letterhead`, `documents.number_prefix`); the numbered papers share one per-year
counter, 临人大信〔2026〕1号, 2号, … (service/documents.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from service.documents import CaseFacts, Document
from service.procedure import SettingSpec

TEMPLATES = Path(__file__).resolve().parent / "templates"

LETTERHEAD = "documents.letterhead"
NUMBER_PREFIX = "documents.number_prefix"

SETTINGS = (
    SettingSpec(LETTERHEAD, "临沧市人大常委会办公室", "打印文书的版头（发文机关名称）", unit="", minimum=2, maximum=40),
    SettingSpec(NUMBER_PREFIX, "临人大信", "文书编号的机关代字（如 临人大信〔2026〕12号 中的“临人大信”）", unit="",
                minimum=1, maximum=20),
)

# The approvals the 交办单 records (bpmn/petition.bpmn), and their forms' decisions in words
# (x-enum-titles of forms/petition_leader_sign.json, _sg_approve.json, _leadership_approve.json).
SIGNING_STEPS = ("leader_sign", "sg_approve", "leadership_approve")
DECISIONS = {"approve": "同意", "return": "退回修改", "leadership": "报常委会领导审批"}
ROUTES = {  # forms/petition_classify.json
    "own": "本机关办理", "dept": "交办有关部门", "legal": "转监察和司法委员会",
    "county": "转交县（区）人大常委会", "reject": "不予受理",
}
DELIVERY = {"邮寄": "邮寄送达", "当面": "当面送达", "短信": "短信告知", "网络": "网络答复"}


def _handed_over(facts: CaseFacts) -> bool:
    """交办/转办 done: the `assign` step set the handling unit (never on the 不予受理 route)."""
    return bool(facts.data.get("handed_over_at")) and facts.data.get("route") != "reject"


def _replied(facts: CaseFacts) -> bool:
    return "reply" in facts.done and bool(facts.data.get("reply_text"))


def _accepted_reply(facts: CaseFacts) -> bool:
    return _replied(facts) and facts.data.get("route") != "reject"


def _refused(facts: CaseFacts) -> bool:
    return _replied(facts) and facts.data.get("route") == "reject"


def _completed(facts: CaseFacts, step: str) -> list[dict[str, Any]]:
    return [h for h in facts.history if h.get("action") == "complete" and h.get("task") == step]


def signatures(facts: CaseFacts) -> list[dict[str, Any]]:
    """The leaders' signatures as recorded: who signed each approval after the last 拟办意见
    (an earlier round that was sent back is not what the unit is handed), their decision and
    opinion, and when."""
    history = list(facts.history)
    last_proposal = max((i for i, h in enumerate(history)
                         if h.get("action") == "complete" and h.get("task") == "propose"), default=-1)
    rows = []
    for h in history[last_proposal + 1:]:
        if h.get("action") != "complete" or h.get("task") not in SIGNING_STEPS:
            continue
        data = h.get("data") if isinstance(h.get("data"), dict) else {}
        decision = DECISIONS.get(str(data.get("decision")), str(data.get("decision") or ""))
        comment = str(data.get("comment") or "").strip()
        opinion = decision if not comment or comment == decision else f"{decision}：{comment}"
        rows.append({"step": h.get("task"), "step_name": h.get("task_name") or "", "who": facts.user_name(h.get("user")),
                     "opinion": opinion, "at": h.get("at")})
    return rows


def _proposal(facts: CaseFacts) -> dict[str, Any]:
    found = _completed(facts, "propose")
    last = found[-1] if found else {}
    return {"text": facts.data.get("proposal") or "", "who": facts.user_name(last.get("user")), "at": last.get("at")}


def context(facts: CaseFacts) -> dict[str, Any]:
    """What the petition's templates read beyond the data: names and words for the codes."""
    data = facts.data
    replied = _completed(facts, "reply")
    return {
        "route_label": ROUTES.get(str(data.get("route")), ""),
        "unit_name": facts.group_name(data.get("handling_group")),
        "proposal": _proposal(facts),
        "signatures": signatures(facts),
        "delivery_label": DELIVERY.get(str(data.get("delivery")), data.get("delivery") or ""),
        "replied_by": facts.user_name(replied[-1].get("user")) if replied else "",
    }


def _doc(key: str, name: str, title: str, available: Any, numbered: bool, unavailable: str) -> Document:
    return Document(key=key, name=name, title=title, template=f"petition/{key}.html", template_dir=TEMPLATES,
                    available=available, numbered=numbered, number_setting=NUMBER_PREFIX,
                    letterhead_setting=LETTERHEAD, unavailable=unavailable, context=context)


DOCUMENTS = (
    _doc("registration", "信访登记表", "信访事项登记表", lambda facts: True, False, ""),
    _doc("assignment", "交办单", "信访事项交办单", _handed_over, True, "信访件尚未交办或转办"),
    _doc("reply", "答复书", "信访事项答复书", _accepted_reply, True, "信访件尚未答复"),
    _doc("refusal", "不予受理告知书", "信访事项不予受理告知书", _refused, True, "信访件未作不予受理答复"),
)
