"""The texts of the 督办 ladder's notices (PROCEDURES.md §1 step 8), one wording for every
procedure that has the ladder: each names the case (its noun: 信访件, 矛盾纠纷案件), the
handling unit, the deadline and the days overdue; the office that proposes the joint
investigation (信访科, 综治办) is the procedure's own.

A procedure's `notice_text` calls `render` with its templates (`templates(noun, office)`, plus
any texts of its own)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# The notice kinds the ladder's rungs raise (a procedure's `notice_kinds`), all sent once per
# deadline and recipient (its `deadline_notices`).
KINDS: dict[str, str] = {"reminder": "提醒", "urge": "催办", "report_required": "要求汇报", "investigation": "建议联合调查"}
DEADLINE_KINDS = frozenset(KINDS)


def templates(noun: str, office: str) -> dict[str, str]:
    """The ladder's texts (and the supervisors' 催办 / 挂牌督办) for cases called `noun`."""
    return {
        "reminder": f"【提醒】{noun} {{business_key}}（{{subject}}）由{{unit}}办理，办理期限为{{due}}，"
                    "距期限还有{days_left}天，请抓紧办理。",
        "late_reminder": f"【提醒】{noun} {{business_key}}（{{subject}}）由{{unit}}办理，办理期限{{due}}已到，请立即办理。",
        "urge": f"【催办】{noun} {{business_key}}（{{subject}}）已到办理期限{{due}}，{{unit}}尚未报送办理结果，"
                "请立即办理并报送。",
        "report_required": f"【要求汇报】{noun} {{business_key}}（{{subject}}）已超期{{overdue}}天（办理期限{{due}}），"
                           "请{unit}书面汇报未按期办结的原因。",
        "investigation": f"【建议联合调查】{noun} {{business_key}}（{{subject}}）已超期{{overdue}}天（办理期限{{due}}，"
                         f"办理单位{{unit}}），请{office}提出组成联合调查组的建议，报常委会领导审批。",
        "manual_urge": f"【催办】{noun} {{business_key}}（{{subject}}）：{{comment}}（办理单位{{unit}}，办理期限{{due}}{{overdue_text}}）",
        "listed": f"【挂牌督办】{noun} {{business_key}}（{{subject}}）已列为挂牌督办案件（办理单位{{unit}}，"
                  "办理期限{due}{overdue_text}）{comment}",
    }


def date_text(iso_value: str | None) -> str:
    """2026-12-31T23:59:59+08:00 → 2026年12月31日 (none: 未定)."""
    if not iso_value:
        return "（未定）"
    day = str(iso_value)[:10]
    year, month, dom = day.split("-")
    return f"{int(year)}年{int(month)}月{int(dom)}日"


def values(fields: dict[str, Any], group_names: Mapping[str, str], now: Any) -> dict[str, Any]:
    """What the templates fill in: the case, its unit's name, the deadline, days overdue / left."""
    from service.clock import parse_datetime

    due = fields.get("due_at")
    overdue = left = 0
    if isinstance(due, str) and due:
        delta = now - parse_datetime(due)
        overdue = max(delta.days, 0) if delta.total_seconds() > 0 else 0
        left = max((parse_datetime(due).date() - now.date()).days, 0)
    unit_key = fields.get("unit") or fields.get("handling_group") or ""
    return {
        "business_key": fields.get("business_key", ""),
        "subject": fields.get("subject") or "无标题",
        "unit": group_names.get(str(unit_key), str(unit_key) or "办理单位"),
        "due": date_text(due if isinstance(due, str) else None),
        "overdue": overdue,
        "days_left": left,
        "step": fields.get("step", ""),
        "comment": fields.get("comment", ""),
        "overdue_text": f"，已超期{overdue}天" if overdue else "",
    }


def render(kind: str, texts: Mapping[str, str], noun: str, fields: dict[str, Any],
           group_names: Mapping[str, str], now: Any, template: str | None = None) -> str:
    """The notice's text: a reminder caught up after its deadline (the system was down, the clock
    jumped, the step was re-entered) says it as it is now; `template` overrides the kind's own."""
    from service.clock import parse_datetime

    filled = values(fields, group_names, now)
    due = fields.get("due_at")
    if kind == "reminder" and isinstance(due, str) and due and now >= parse_datetime(due):
        return texts["late_reminder"].format(**filled)
    chosen = template if template is not None else texts.get(kind)
    if chosen is None:
        return f"【通知】{noun} {filled['business_key']}"
    return chosen.format(**filled)


def notice_text_for(noun: str, office: str) -> Callable[[str, dict[str, Any], dict[str, str], Any], str | None]:
    """A procedure's `notice_text` when the ladder's texts are all it sends."""
    texts = templates(noun, office)

    def notice_text(kind: str, fields: dict[str, Any], group_names: dict[str, str], now: Any) -> str | None:
        return render(kind, texts, noun, fields, group_names, now)

    return notice_text
