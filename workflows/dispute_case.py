"""矛盾纠纷调处 (process key `dispute_case`, PROCEDURES.md §2c): 统一登记受理 → 分流指派 →
调处 (30 days, the petition's 督办 ladder) → 督查回访 → 办结; a 重大 dispute is also reported to
the city stability office (报告市维稳办), and a dispute that escalates starts an emergency case.

The diagram (bpmn/dispute_case.bpmn) holds the order of steps; this module the rules it cannot
see: which units may handle a case, when an escalation is possible, the parties' confidentiality
(seed 003: 不准泄漏当事人的隐私) and the texts of the ladder's notices."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from service import clock, config_store
from service import procedure as procedures
from service.attachment_rules import AttachmentRules
from service.deadlines import ladder_at, ladder_settings
from service.procedure import Numbering, PersonalData, Procedure, SettingSpec, Starters
from workflows import dispute_register, ladder_texts, organisation
from workflows.personal_masks import mask_names

PROCESS_KEY = "dispute_case"
OWN_GROUP = "zzb"  # 机关综治办: registers, assigns, reports upward and visits
LEADERS = frozenset({"leadership", "secretary_general", "office_leader"})
EMERGENCY_PROCESS = "emergency_response"

# 分流指派: a department of this level or a county-level congress (属地管理 / 分级负责 / 归口管理),
# never a role inside a county (its web admin, its leader).
UNITS = f"^{organisation.UNIT_PATTERN}"
HEADLINE_CHARS = 30

FieldErrors = list[dict[str, str]]


def _setting(name: str) -> int:
    return int(config_store.get(f"{PROCESS_KEY}.{name}"))


# ---- Script helpers, reachable in the diagram as `dispute_case.<name>(...)`.

def headline(summary: str | None) -> str:
    """The case's one-line subject (lists, notices, 催办): the summary's first words. The parties
    are personal data and stay out of it."""
    text = " ".join(str(summary or "").split())
    return text if len(text) <= HEADLINE_CHARS else text[:HEADLINE_CHARS] + "…"


def rung_passed(due_at: str, rung: str) -> bool:
    """Whether the ladder's rung `rung` for the deadline `due_at` lies in the past (at 报送调处结果:
    the unit was then asked for its written explanation, and a re-entry does not ask again)."""
    return clock.now() >= clock.parse_datetime(ladder_at(PROCEDURE, due_at, rung))


def people_involved(parties: str | None, people_count: int | None) -> int:
    """How many people an escalated dispute involves: what the handling unit entered, else the
    number of parties registered (named with 、，,；; as the register form asks), at least one."""
    if isinstance(people_count, int) and not isinstance(people_count, bool) and people_count > 0:
        return people_count
    return max(1, len([name for name in re.split(r"[、，,；;\s]+", str(parties or "")) if name]))


HELPERS: dict[str, Callable[..., Any]] = {"headline": headline, "rung_passed": rung_passed,
                                          "people_involved": people_involved}


# ---- Checks beyond the forms' JSON Schema (the groups table, the installed procedures).

def _unit_errors(field: str, group: Any, group_keys: set[str], label: str) -> FieldErrors:
    if not group:
        return []
    if group not in group_keys:
        return [{"field": field, "message": f"{label} {group} 不存在"}]
    if not organisation.is_unit(str(group)):
        return [{"field": field, "message": f"{label}须为本级有关部门或县（区）人大常委会"}]
    return []


def validate_start(form: dict[str, Any], instance: dict[str, Any], group_keys: set[str]) -> FieldErrors:
    """登记: the unit that reported the dispute (a screening round names it) must exist."""
    return _unit_errors("reported_by", form.get("reported_by"), group_keys, "报告单位")


def validate_assign(form: dict[str, Any], instance: dict[str, Any], group_keys: set[str]) -> FieldErrors:
    """分流指派: the handling unit must be an existing department or county congress."""
    if not form.get("handling_group"):
        return [{"field": "handling_group", "message": "请选择调处单位"}]
    return _unit_errors("handling_group", form.get("handling_group"), group_keys, "调处单位")


def validate_handle(form: dict[str, Any], instance: dict[str, Any], group_keys: set[str]) -> FieldErrors:
    """升级为突发事件 needs the emergency procedure installed, and happens once per case; the rest
    of the form is checked as usual."""
    if form.get("escalate") is not True:
        return []
    if procedures.get(EMERGENCY_PROCESS) is None:
        return [{"field": "escalate",
                 "message": "突发事件应急处置流程尚未启用，暂不能升级；情况紧急的，请立即电话报告综治办"}]
    if instance.get("escalated_at"):
        return [{"field": "escalate", "message": "本案已升级为突发事件应急处置，不能重复启动"}]
    return []


def _not_before_registration(form: dict[str, Any], instance: dict[str, Any], field: str,
                             label: str) -> FieldErrors:
    value, registered = form.get(field), instance.get("registered_at")
    if isinstance(value, str) and isinstance(registered, str) and value[:10] < registered[:10]:
        return [{"field": field, "message": f"{label}不能早于登记日期"}]
    return []


def validate_report_stability(form: dict[str, Any], instance: dict[str, Any],
                              group_keys: set[str]) -> FieldErrors:
    return _not_before_registration(form, instance, "sent_at", "报送时间")


def validate_follow_up(form: dict[str, Any], instance: dict[str, Any], group_keys: set[str]) -> FieldErrors:
    return _not_before_registration(form, instance, "visited_at", "回访日期")


VALIDATORS = {
    "start": validate_start,
    "assign": validate_assign,
    "handle": validate_handle,
    "report_stability": validate_report_stability,
    "follow_up": validate_follow_up,
}


# ---- Deadlines recomputed when the legal calendar changes; the case row's columns.

def recompute_deadlines(data: dict[str, Any], add_days: Callable[..., str]) -> dict[str, Any]:
    """调处期限 from the registration with the period the case started with."""
    registered = data.get("registered_at")
    if not isinstance(registered, str) or not registered:
        return {}
    return {"due_at": add_days(registered, int(data.get("handling_days") or _setting("handling_days")))}


def project(data: dict[str, Any]) -> dict[str, Any]:
    """The handling unit once assigned; the deadline until the result is reported (a follow-up
    that sends the case back puts it in force again: `handled_at` is cleared)."""
    return {
        "handling_group": data.get("handling_group") if data.get("assigned_at") else None,
        "due_at": None if data.get("handled_at") else data.get("due_at"),
    }


# ---- 附件: a dispute's files are the parties' materials, not a citizen's letter; what comes with
# the registration names the parties, so it is personal data like their identity documents.
ATTACHMENTS = AttachmentRules(
    kinds=("纠纷材料", "身份证明", "调解协议", "办理材料", "其他"), personal_kinds=frozenset({"纠纷材料", "身份证明"}),
    start_kinds=("纠纷材料", "身份证明", "其他"), start_personal=True, default_kind="其他",
    task_kind="办理材料", image_kind="其他",
    start_label="纠纷材料等文件",
    start_hint="登记时上传的附件含当事人信息，按个人信息保护，仅综治办、领导和调处单位可以下载。",
)

# ---- The declaration the platform reads (service/procedure.py).

PROCEDURE = Procedure(
    key=PROCESS_KEY,
    name="矛盾纠纷调处",
    numbering=Numbering("JF", 4),
    starters=Starters(
        groups=frozenset({OWN_GROUP}), label="登记矛盾纠纷", refusal="只有机关综治办可以登记矛盾纠纷案件",
        path="/dispute-cases/new",
        hint="提交后系统自动生成统一编号（JF-年份-序号），调处期限自登记次日起30日（末日遇法定节假日顺延）。"
             "风险等级为“重大”的，同时报告市维稳办。当事人信息仅综治办、领导和调处单位可见。",
    ),
    owners=frozenset({OWN_GROUP}),
    supervisors=frozenset({OWN_GROUP}) | LEADERS,
    personal=PersonalData(maskers={"parties": mask_names}, readers=frozenset({OWN_GROUP}) | LEADERS,
                          handling_unit=True),
    helpers=HELPERS,
    validators=VALIDATORS,
    notice_kinds=ladder_texts.KINDS,
    deadline_notices=ladder_texts.DEADLINE_KINDS,
    notice_text=ladder_texts.notice_text_for("矛盾纠纷案件", "综治办"),
    attachments=ATTACHMENTS,
    settings=(
        SettingSpec("handling_days", 30, "调处期限：自登记次日起计算的日数（矛盾纠纷排查化解工作制度）",
                    minimum=1, maximum=365),
        SettingSpec("collective_threshold", 5, "升级为突发事件时，涉及人数达到此数的按群体性事件处置", unit="人",
                    minimum=2, maximum=1000),
        *ladder_settings(),  # the 督办 ladder's offsets, defaults of service/deadlines.py
    ),
    ladder=True,
    labels={
        "business_key": "统一编号",
        "subject": "案件摘要",
        "registered_at": "登记时间",
        "handling_days": "调处期限（日）",
        "due_at": "调处期限",
        "assigned_at": "指派时间",
        "handling_group": "调处单位",
        "handled_at": "调处结果报送时间",
        "escalated_at": "升级为突发事件时间",
        "reopened": "重新调处次数",
        "explain_requested_for": "已要求书面汇报（对应期限）",
        "closed_at": "办结时间",
    },
    # 改派: the handling steps go to another department or county; 综治办's steps stay with it.
    reassign_to={"handle": (UNITS,), "explain": (UNITS,)},
    receipts=frozenset({"handle"}),  # 签收回执: the handling unit's receipt of the assignment
    title_keys=("subject", "summary"),
    relations={"source": "排查发现", "emergency": "转突发事件"},
    project=project,
    recompute=recompute_deadlines,
    ledgers=(dispute_register.LEDGER,),  # 纠纷登记簿
)
