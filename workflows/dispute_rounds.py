"""矛盾纠纷排查 rounds: 月度排查 (`dispute_screening_monthly`, PROCEDURES.md §2a) and 重要时期每日排查
(`dispute_screening_daily`, §2b, seed 001: 每天下午4:30前报送, 有事报信息、无事报平安).

The diagrams (bpmn/dispute_screening_monthly.bpmn, bpmn/dispute_screening_daily.bpmn) hold the
order of steps: the start script picks the reporting units and the report deadline, one `report`
task per unit (multi-instance, each submission kept in `reports`), 催报 at the deadline to the
units still missing, then 研判 and 会议 (monthly) or 审阅 (daily), then one 矛盾纠纷调处 case per
dispute reported. This module holds what the diagrams cannot see: the settings, the legal
calendar, the groups table, the checks of a report and the texts of the notices.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any

from service import calendar, clock, config_store
from service.procedure import Numbering, PersonalData, Procedure, SettingSpec, Starters
from service.schedule import Monthly, WorkingDays, minute_setting
from workflows import dispute_board, dispute_periods, personal_masks

MONTHLY_KEY = "dispute_screening_monthly"
DAILY_KEY = "dispute_screening_daily"
CASE_PROCESS = "dispute_case"  # started once per dispute reported (workflows/dispute_case.py)

# Every reporting unit by default: the departments (委室), groups whose key starts with this.
DEPARTMENT_PREFIX = "dept_"
ALL_DEPARTMENTS = "*"  # in the setting `reporting_groups`: every current department
DISPUTE_KEYS = ("parties", "type", "place", "summary", "risk")
RISKS = ("一般", "较大", "重大")

ZZB = "zzb"
SUPERVISORS = frozenset({ZZB, "leadership", "secretary_general", "office_leader"})

FieldErrors = list[dict[str, str]]


def _setting(process: str, name: str) -> Any:
    return config_store.get(f"{process}.{name}")


# ---- The reporting units and the deadline (the start scripts call these).

def reporting_groups(known: Any) -> list[str]:
    """The units that report in a round starting now, sorted: the setting `reporting_groups`
    (shared by both rounds) read against `known`, the group keys that exist now (the script
    passes `group_keys()`). `*` stands for every department (`dept_*`); a key that names no
    group is left out; none left is an error (a round nobody reports in is no round)."""
    existing = {str(k) for k in (known or ())}
    wanted: set[str] = set()
    for token in str(_setting(MONTHLY_KEY, "reporting_groups")).replace("，", ",").split(","):
        token = token.strip()
        if token == ALL_DEPARTMENTS:
            wanted |= {k for k in existing if k.startswith(DEPARTMENT_PREFIX)}
        elif token in existing:
            wanted.add(token)
    if not wanted:
        raise ValueError("没有可报送排查报告的单位：请检查设置“报送排查报告的单位”")
    return sorted(wanted)


def _month(period: Any) -> date:
    text = str(period)
    return date(int(text[:4]), int(text[5:7]), 1)


def monthly_due(period: Any) -> str:
    """End (23:59:59) of the month's N-th working day (setting `report_working_days`, legal
    calendar: holidays do not count, 调休 weekends do)."""
    first = _month(period)
    days = int(_setting(MONTHLY_KEY, "report_working_days"))
    return calendar.add_days(first - timedelta(days=1), days, "working")


def daily_due(period: Any) -> str:
    """That day at the setting `report_minute` (16:30 by default, seed 001)."""
    minute = int(_setting(DAILY_KEY, "report_minute"))
    day = date.fromisoformat(str(period)[:10])
    return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=clock.BEIJING).isoformat()


def _day_text(value: Any) -> str:
    day = clock.parse_datetime(value).date() if isinstance(value, str) and len(value) > 10 else \
        date.fromisoformat(str(value)[:10])
    return f"{day.year}年{day.month}月{day.day}日"


def monthly_title(period: Any) -> str:
    first = _month(period)
    return f"{first.year}年{first.month}月矛盾纠纷排查"


def daily_title(period: Any, important_period: Any = None) -> str:
    name = f"（{important_period}）" if important_period else ""
    return f"{_day_text(period)}矛盾纠纷排查{name}"


def case_starts(reports: Any) -> list[dict[str, Any]]:
    """The start data of one 矛盾纠纷调处 case per dispute reported, in report order: the dispute's
    own keys and `reported_by` (the unit). The script adds `source_instance_id` (start_linked)."""
    found: list[dict[str, Any]] = []
    for report in reports if isinstance(reports, list) else []:
        if not isinstance(report, dict) or report.get("zero_report") is True:
            continue
        for dispute in report.get("disputes") or []:
            if isinstance(dispute, dict):
                found.append({**{k: dispute[k] for k in DISPUTE_KEYS if k in dispute},
                              "reported_by": report.get("group")})
    return found


MONTHLY_HELPERS: dict[str, Callable[..., Any]] = {
    "reporting_groups": reporting_groups, "report_due": monthly_due, "title": monthly_title,
    "case_starts": case_starts,
}
DAILY_HELPERS: dict[str, Callable[..., Any]] = {
    "reporting_groups": reporting_groups, "report_due": daily_due, "title": daily_title,
    "case_starts": case_starts,
}


# ---- The report's check beyond its form: 零报告 or disputes, never both, never neither.

def validate_report(form: dict[str, Any], instance: dict[str, Any], group_keys: set[str]) -> FieldErrors:
    """零报告 (nothing found) is an answer of its own, not the absence of one (PROCEDURES.md §2a):
    with disputes listed it contradicts itself; without either it says nothing."""
    zero = form.get("zero_report") is True
    disputes = form.get("disputes") if isinstance(form.get("disputes"), list) else []
    if zero and disputes:
        return [{"field": "zero_report",
                 "message": "零报告表示本期未发现矛盾纠纷，不能同时填报矛盾纠纷；请取消零报告或删除所填纠纷"}]
    if not zero and not disputes:
        return [{"field": "disputes",
                 "message": "请逐条填报排查发现的矛盾纠纷；未发现矛盾纠纷的，请选择零报告"}]
    errors: FieldErrors = []
    for i, dispute in enumerate(disputes):
        for key in DISPUTE_KEYS:
            value = dispute.get(key) if isinstance(dispute, dict) else None
            if isinstance(value, str) and not value.strip():
                errors.append({"field": f"disputes.{i}.{key}", "message": "此项为必填项"})
    return errors


# ---- 催报 texts.

NOTICE_KINDS = {"chase_report": "催报"}


def _due_text(due: Any, with_time: bool) -> str:
    if not isinstance(due, str) or not due:
        return "（未定）"
    moment = clock.parse_datetime(due)
    text = f"{moment.year}年{moment.month}月{moment.day}日"
    return f"{text}{moment:%H:%M}" if with_time else text


def _chase_text(subject: str, due: str, fields: dict[str, Any], group_names: dict[str, str]) -> str:
    unit = str(fields.get("unit") or "")
    return (f"【催报】{subject}报告应于{due}前报送，{group_names.get(unit, unit or '报送单位')}尚未报送，"
            "请立即报送；没有发现矛盾纠纷的，请报送零报告。")


def monthly_notice_text(kind: str, fields: dict[str, Any], group_names: dict[str, str], now: Any) -> str | None:
    """【催报】2026年12月矛盾纠纷排查报告应于2026年12月7日前报送，法制工作委员会尚未报送，…"""
    if kind != "chase_report":
        return f"【{NOTICE_KINDS.get(kind, '通知')}】{fields.get('business_key', '')}"
    period = fields.get("period")
    subject = monthly_title(period) if period else str(fields.get("business_key", ""))
    return _chase_text(subject, _due_text(fields.get("due_at"), False), fields, group_names)


def daily_notice_text(kind: str, fields: dict[str, Any], group_names: dict[str, str], now: Any) -> str | None:
    """【催报】2026年12月7日矛盾纠纷排查（全国两会）报告应于2026年12月7日16:30前报送，…"""
    if kind != "chase_report":
        return f"【{NOTICE_KINDS.get(kind, '通知')}】{fields.get('business_key', '')}"
    period = fields.get("period")
    subject = daily_title(period, fields.get("important_period")) if period else str(fields.get("business_key", ""))
    return _chase_text(subject, _due_text(fields.get("due_at"), True), fields, group_names)


# ---- What the case row shows: while reports are open, the units still to report and their deadline.

def project(data: dict[str, Any]) -> dict[str, Any]:
    """`data` is the case view (service/engine/taskdata.instance_view): each open `report` task
    is under `per_task`, its element being its unit. Those units handle the case (they see it,
    the board counts them) until they report; the deadline is the report deadline meanwhile."""
    live = data.get("per_task") if isinstance(data.get("per_task"), dict) else {}
    missing = sorted({str(entry["element"]) for entry in live.values()
                      if isinstance(entry, dict) and entry.get("bpmn_id") == "report" and entry.get("element")})
    if missing:
        return {"handling_groups": missing, "handling_group": None, "due_at": data.get("report_due_at")}
    return {"handling_group": None, "due_at": None}


LABELS = {
    "business_key": "排查编号",
    "title": "排查名称",
    "period": "排查周期",
    "important_period": "重要时期",
    "groups": "报送单位",
    "report_due_at": "报送期限",
    "reports": "各单位报送情况",
    # the columns of `reports` (what `collect` keeps of each department's report)
    "group": "报送单位",
    "completed_at": "报送时间",
    "completed_by": "报送人",
}

# ---- Confidentiality: the parties a department names are personal data (信访工作办法 第九条(二),
# applied to disputes as PROCEDURES.md §2 asks): in clear for 综治办 and the leaders only; another
# department that opens the round sees 张*、李*.

def _masked_disputes(disputes: Any) -> Any:
    if not isinstance(disputes, list):
        return disputes
    return [{**d, "parties": personal_masks.mask_names(d.get("parties"))} if isinstance(d, dict) else d
            for d in disputes]


def _masked_reports(reports: Any) -> Any:
    if not isinstance(reports, list):
        return reports
    return [{**r, "disputes": _masked_disputes(r.get("disputes"))} if isinstance(r, dict) else r for r in reports]


PERSONAL = PersonalData(maskers={}, readers=SUPERVISORS, handling_unit=False,
                        nested={"reports": _masked_reports, "disputes": _masked_disputes})


REPORTING_GROUPS = SettingSpec(
    "reporting_groups", ALL_DEPARTMENTS,
    "报送排查报告的单位（月度、每日排查共用）：单位代码，以逗号分隔（如 dept_fgw,dept_cjw）；"
    "* 表示所有委室（代码以 dept_ 开头的单位，新增的委室自下一轮起报送）",
    unit="", minimum=1, maximum=500)

def _round(key: str, name: str, prefix: str, label: str, hint: str, **own: Any) -> Procedure:
    """One screening round: what both rounds share (who starts, owns and supervises them, the
    report task's rule, 催报, the board) plus what is its own (`own`: its schedule, settings…)."""
    return Procedure(
        key=key,
        name=name,
        numbering=Numbering(prefix, by_period=True),
        starters=Starters(groups=frozenset({ZZB}), label=label, refusal="只有机关综治办可以发起矛盾纠纷排查",
                          hint=hint),
        owners=frozenset({ZZB}),
        supervisors=SUPERVISORS,
        personal=PERSONAL,
        validators={"report": validate_report},
        notice_kinds=NOTICE_KINDS,
        deadline_notices=frozenset(NOTICE_KINDS),
        labels=LABELS,
        title_keys=("title",),
        relations={"source": "排查发现的矛盾纠纷"},
        project=project,
        read_models=dispute_board.READ_MODELS,
        **own,
    )


MONTHLY = _round(
    MONTHLY_KEY, "月度矛盾纠纷排查", "PC", "发起月度排查",
    "每月1日系统自动发起；补发某月的排查请填写月份（如 2026-12），同一月份只能发起一次。",
    helpers=MONTHLY_HELPERS,
    notice_text=monthly_notice_text,
    settings=(
        minute_setting("start_minute", "月度排查发起时间：每月1日几点（分钟，480 = 08:00）"),
        SettingSpec("report_working_days", 5, "月度排查报送期限：每月第几个工作日结束前（法定节假日不计，调休上班日计入）",
                    unit="个工作日", minimum=1, maximum=20),
        REPORTING_GROUPS,
    ),
    schedules=(Monthly(day=1, at_setting="start_minute"),),
    # registered once, here (the app factory registers every procedure's blueprints)
    blueprints=(*dispute_board.BLUEPRINTS, *dispute_periods.BLUEPRINTS),
)

DAILY = _round(
    DAILY_KEY, "重要时期每日排查", "RB", "发起每日排查",
    "重要时期内每个工作日系统自动发起；补发某日的排查请填写日期，同一日期只能发起一次。",
    helpers=DAILY_HELPERS,
    notice_text=daily_notice_text,
    settings=(
        minute_setting("start_minute", "每日排查发起时间：重要时期内每个工作日几点（分钟，480 = 08:00）"),
        minute_setting("report_minute", "每日排查报送期限：当日几点前（分钟，990 = 16:30）", default=990),
    ),
    schedules=(WorkingDays(within=dispute_periods.within, at_setting="start_minute"),),
)
