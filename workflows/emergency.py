"""突发事件应急处置 (process key `emergency_response`, PROCEDURES.md §4, API.md): 接警 → 核实 →
响应级别确定 → 一般: 现场处置 / 重大: 启动预案 (现场指挥, 向上级报告, 联动处置, 每小时续报) →
应急结束 → 专题报告 → 整改方案和总结.

The diagram (bpmn/emergency_response.bpmn) holds the order of steps and its timers; this module
the rules it cannot see: the minute deadlines (seed 001: 15 minutes to report, 15 to verify;
seed 003: 2 hours to report upward; seed 001: the special report within a week), 迟报, the
notice texts, and the earliest open deadline as the case's. Every number is a setting."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from service import clock, config_store
from service.attachment_rules import AttachmentRules
from service.procedure import ANY_LOGGED_IN_USER, Numbering, Procedure, SettingSpec, Starters
from workflows import emergency_duty, emergency_pages, emergency_stats, ladder_texts, organisation

PROCESS_KEY = "emergency_response"
OFFICE = "zzb"  # 应急办（综治办）: verifies, reports upward, calls 110/120, reports progress
GROUP = "emergency_group"  # 应急领导小组: decides the level, commands, declares the end
LEADERS = frozenset({"leadership", "secretary_general", "office_leader"})
LEVELS = {"general": "一般", "major": "重大"}
END_OF_DAY = (23, 59, 59)

FieldErrors = list[dict[str, str]]


def setting(name: str) -> int:
    return int(config_store.get(f"{PROCESS_KEY}.{name}"))


def _at(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return clock.parse_datetime(value)
    except ValueError:
        return None


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def is_late(discovered_at: str, reported_at: str, minutes: int | None = None) -> bool:
    """迟报: reported more than `report_minutes` after discovery (exactly 15 minutes is on time)."""
    limit = timedelta(minutes=setting("report_minutes") if minutes is None else minutes)
    found, reported = _at(discovered_at), _at(reported_at)
    return found is not None and reported is not None and reported - found > limit


def special_due(ended_at: str, days: int | None = None) -> str:
    """专题报告期限: the end (23:59:59 Beijing time) of the day `special_report_days` after the end."""
    ended = _at(ended_at)
    if ended is None:
        raise ValueError("结束时间无效")
    day = (ended + timedelta(days=setting("special_report_days") if days is None else days)).date()
    return _iso(datetime(day.year, day.month, day.day, *END_OF_DAY, tzinfo=clock.BEIJING))


# ---- Checks beyond the forms' JSON Schema.

def validate_start(form: dict[str, Any], instance: dict[str, Any], group_keys: set[str]) -> FieldErrors:
    """接警: the discovery has happened (not after now), and the event before its discovery."""
    occurred, discovered = _at(form.get("occurred_at")), _at(form.get("discovered_at"))
    errors: FieldErrors = []
    if discovered is not None and discovered > clock.now():
        errors.append({"field": "discovered_at", "message": "发现时间不能晚于当前时间"})
    if occurred is not None and discovered is not None and occurred > discovered:
        errors.append({"field": "occurred_at", "message": "发生时间不能晚于发现时间"})
    return errors


def validate_verify(form: dict[str, Any], instance: dict[str, Any], group_keys: set[str]) -> FieldErrors:
    """核实: the department that goes on site exists and is a department or a county congress."""
    group = form.get("handling_group")
    if not group:
        return [{"field": "handling_group", "message": "请选择处置部门"}]
    if group not in group_keys:
        return [{"field": "handling_group", "message": f"处置部门 {group} 不存在"}]
    if not organisation.is_unit(str(group)):
        return [{"field": "handling_group", "message": "处置部门须为本级有关部门或县（区）人大常委会"}]
    return []


def _not_before(form: dict[str, Any], instance: dict[str, Any], field: str, label: str,
                since: str = "occurred_at", since_label: str = "事件发生时间") -> FieldErrors:
    value, start = _at(form.get(field)), _at(instance.get(since))
    if value is not None and start is not None and value < start:
        return [{"field": field, "message": f"{label}不能早于{since_label}"}]
    return []


def validate_declare_end(form: dict[str, Any], instance: dict[str, Any], group_keys: set[str]) -> FieldErrors:
    return _not_before(form, instance, "ended_at", "结束时间")


def validate_report_upward(form: dict[str, Any], instance: dict[str, Any], group_keys: set[str]) -> FieldErrors:
    return _not_before(form, instance, "reported_at", "向上级报告时间")


def validate_call_services(form: dict[str, Any], instance: dict[str, Any], group_keys: set[str]) -> FieldErrors:
    return _not_before(form, instance, "called_at", "拨打时间")


VALIDATORS = {
    "start": validate_start,
    "verify": validate_verify,
    "report_upward": validate_report_upward,
    "call_services": validate_call_services,
    "declare_end": validate_declare_end,
}


# ---- Derived keys (kept in the history: statistics read them there).

def derive_start(form: dict[str, Any], instance: dict[str, Any], groups: frozenset[str]) -> dict[str, Any]:
    """接警: when it reached the office, whether that was late, the 15-minute verification
    deadline and the case's one-line subject (type and place)."""
    now = clock.now()
    reported_at = _iso(now)
    return {
        "reported_at": reported_at,
        "report_late": is_late(str(form.get("discovered_at") or ""), reported_at),
        "verify_due_at": _iso(now + timedelta(minutes=setting("verify_minutes"))),
        "subject": f"{form.get('type') or '突发事件'}（{str(form.get('place') or '').strip()[:60]}）",
        "drill": form.get("drill") is True,
    }


def derive_verify(form: dict[str, Any], instance: dict[str, Any], groups: frozenset[str]) -> dict[str, Any]:
    return {"verified_at": clock.now_iso()}


def derive_decide(form: dict[str, Any], instance: dict[str, Any], groups: frozenset[str]) -> dict[str, Any]:
    """响应级别确定: the decision's moment; a major one starts the 2-hour upward deadline."""
    now = clock.now()
    major = form.get("level") == "major"
    return {"decided_at": _iso(now),
            "upward_due_at": _iso(now + timedelta(minutes=setting("upward_minutes"))) if major else None}


def derive_report_upward(form: dict[str, Any], instance: dict[str, Any], groups: frozenset[str]) -> dict[str, Any]:
    """The form's `reported_at` (API.md) is the upward report's time; it is kept as
    `upward_reported_at` so that the case's `reported_at` stays the moment the office was told."""
    return {"upward_reported_at": form.get("reported_at"), "reported_at": instance.get("reported_at")}


def derive_declare_end(form: dict[str, Any], instance: dict[str, Any], groups: frozenset[str]) -> dict[str, Any]:
    return {"special_due_at": special_due(str(form.get("ended_at"))), "end_declared_at": clock.now_iso()}


def derive_special_report(form: dict[str, Any], instance: dict[str, Any], groups: frozenset[str]) -> dict[str, Any]:
    return {"special_reported_at": clock.now_iso()}


DERIVE = {
    "start": derive_start,
    "verify": derive_verify,
    "decide_level": derive_decide,
    "report_upward": derive_report_upward,
    "declare_end": derive_declare_end,
    "special_report": derive_special_report,
}


# ---- The case row: the earliest open deadline; the department once verified.

def open_deadlines(data: dict[str, Any]) -> list[str]:
    """The deadlines still open: 核实, 向上级报告 (major only), 专题报告."""
    dues = []
    if not data.get("verified_at"):
        dues.append(data.get("verify_due_at"))
    if data.get("upward_due_at") and not data.get("upward_reported_at"):
        dues.append(data.get("upward_due_at"))
    if data.get("special_due_at") and not data.get("special_reported_at"):
        dues.append(data.get("special_due_at"))
    return [d for d in dues if _at(d) is not None]


def project(data: dict[str, Any]) -> dict[str, Any]:
    dues = open_deadlines(data)
    return {"handling_group": data.get("handling_group") if data.get("verified_at") else None,
            "due_at": min(dues, key=lambda d: _at(d)) if dues else None}  # type: ignore[arg-type, return-value]


# ---- Notices.

KINDS = {"emergency_report": "突发事件报告", "urge": "催办"}
STEPS = {  # the urged step: its name in the notice, what to do now
    "verify": ("突发事件核实", "请立即核实"),
    "report_upward": ("向上级报告", "请立即向上级主管部门报告"),
    "special_report": ("专题报告", "请立即提交处置情况专题报告"),
}


def minute_text(value: Any) -> str:
    """2026-12-01T10:15:00+08:00 → 12月1日10:15 (another year: 2027年1月1日10:15)."""
    moment = _at(value)
    if moment is None:
        return "（未定）"
    year = "" if moment.year == clock.now().year else f"{moment.year}年"
    return f"{year}{moment.month}月{moment.day}日{moment:%H:%M}"


def notice_text(kind: str, fields: dict[str, Any], group_names: dict[str, str], now: Any) -> str | None:
    drill = "【演练】" if fields.get("drill") is True else ""
    key = fields.get("business_key", "")
    if kind == "emergency_report":
        late = "，迟报" if fields.get("report_late") is True else ""
        return (f"{drill}【突发事件报告】{key} {fields.get('subject') or fields.get('type') or ''}，"
                f"涉及{fields.get('people_count', 0)}人，发现于{minute_text(fields.get('discovered_at'))}，"
                f"报告于{minute_text(fields.get('reported_at'))}{late}。请应急办在{minute_text(fields.get('due_at'))}前"
                "核实并提出响应级别建议，应急领导小组做好决策准备。")
    if kind == "urge" and fields.get("step") in STEPS:
        name, action = STEPS[str(fields["step"])]
        return f"{drill}【催办】{key} {name}已超过时限（{minute_text(fields.get('due_at'))}），{action}"
    return ladder_texts.render(kind, ladder_texts.templates("突发事件", "应急办"), "突发事件", fields, group_names, now)


# Script helpers, reachable in the diagram as `emergency_response.<name>(...)`.
HELPERS: dict[str, Callable[..., Any]] = {"on_duty": emergency_duty.on_duty}


# ---- 附件: an incident's files are scene photos and reports for those handling it (种子002's
# report contents), not a citizen's letter, so a file uploaded with the report is not personal data;
# an identity document is, whenever it is uploaded.
ATTACHMENTS = AttachmentRules(
    kinds=("现场照片", "情况报告", "处置材料", "身份证明", "其他"), personal_kinds=frozenset({"身份证明"}),
    start_kinds=("现场照片", "情况报告", "其他"), start_personal=False, default_kind="其他",
    task_kind="处置材料", image_kind="现场照片",
    start_label="现场照片、情况报告等文件",
    start_hint="随报告上传的照片和材料供处置人员查看；身份证件等个人信息请在案件页按“身份证明”上传，按个人信息保护。",
)

# ---- The declaration the platform reads (service/procedure.py).

PROCEDURE = Procedure(
    key=PROCESS_KEY,
    name="突发事件应急处置",
    numbering=Numbering("YJ", 4),
    starters=Starters(
        anyone=ANY_LOGGED_IN_USER.anyone, label="报告突发事件", path="/emergencies/new", prominent=True,
        hint="发现突发事件后15分钟内报告（超过的记为迟报）；提交后立即通知应急办（综治办）、应急领导小组和值班人员。"
             "情况紧急的，请同时电话报告。演练请勾选“演练”。",
    ),
    owners=frozenset({OFFICE}),
    supervisors=frozenset({OFFICE, GROUP}) | LEADERS,
    helpers=HELPERS,
    validators=VALIDATORS,
    derive=DERIVE,
    notice_kinds=KINDS,
    deadline_notices=frozenset({"urge"}),
    notice_text=notice_text,
    attachments=ATTACHMENTS,
    settings=(
        SettingSpec("report_minutes", 15, "报告时限：发现后报告应急办的分钟数，超过的记为迟报（种子001）", unit="分钟",
                    minimum=1, maximum=1440),
        SettingSpec("verify_minutes", 15, "核实时限：报告后应急办核实的分钟数（种子001）", unit="分钟",
                    minimum=1, maximum=1440),
        SettingSpec("upward_minutes", 120, "向上级报告时限：确定为重大事件后的分钟数（种子003：2小时）", unit="分钟",
                    minimum=1, maximum=2880),
        SettingSpec("progress_minutes", 60, "续报间隔：重大事件每隔多少分钟续报一次，直至应急结束", unit="分钟",
                    minimum=5, maximum=1440),
        SettingSpec("special_report_days", 7, "专题报告时限：应急结束后的日数，至当日24时止（种子001：一周内）",
                    minimum=1, maximum=60),
    ),
    labels={
        "business_key": "统一编号",
        "subject": "事件摘要",
        "reported_at": "报告时间",
        "report_late": "迟报",
        "verify_due_at": "核实期限",
        "verified_at": "核实时间",
        "decided_at": "响应级别确定时间",
        "upward_due_at": "向上级报告期限",
        "upward_reported_at": "向上级报告时间",
        "progress_cycle": "续报周期",
        "level": "响应级别",
        "end_declared_at": "宣布应急结束的时间",
        "special_due_at": "专题报告期限",
        "special_reported_at": "专题报告提交时间",
        "closed_at": "办结时间",
        "drill": "演练",
        "petition_instance_id": "来源信访件",
        "dispute_instance_id": "来源矛盾纠纷案件",
    },
    # 改派: the on-site handling goes to another department or county; the rest stays.
    reassign_to={"onsite": (f"^{organisation.UNIT_PATTERN}",)},
    receipts=frozenset({"onsite"}),
    title_keys=("subject",),
    relations={"emergency": "关联突发事件"},
    project=project,
    ledgers=emergency_stats.LEDGERS,
    blueprints=(*emergency_pages.BLUEPRINTS, *emergency_duty.BLUEPRINTS, *emergency_stats.BLUEPRINTS),
    nav=(*emergency_duty.NAV, *emergency_stats.NAV),
)
