"""信访件办理 (process key `petition`): routing, masking and form checks the diagram relies on.

The diagram (bpmn/petition.bpmn) holds the order of steps; this module holds the rules
that need data the diagram cannot see (the groups table) or that must not be edited by
designers (confidentiality of the petitioner's personal data).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service import config_store
from service.deadlines import ladder_settings
from service.procedure import (
    MessageRule,
    Numbering,
    PersonalData,
    Procedure,
    SettingSpec,
    Starters,
)
from workflows import ladder_texts, organisation, petition_documents, petition_report
from workflows.personal_masks import mask_address, mask_id, mask_name, mask_phone  # noqa: F401 - re-exported

PROCESS_KEY = "petition"

# 统一编号 XF-<year>-<6 digits>, sequential per year (the engine allocates it).
BUSINESS_KEY_PREFIX = "XF"
BUSINESS_KEY_DIGITS = 6

# Route chosen in 归纳分类 → what it means (same labels as forms/petition_classify.json).
ROUTES: dict[str, str] = {
    "own": "本机关职权范围（本机关办理）",
    "dept": "本级监督一般事项（交办有关部门）",
    "legal": "本级监督涉法涉诉（转监察和司法委员会）",
    "county": "属县（区）人大（转交县区人大常委会）",
    "reject": "不予受理（告知向有权机关提出）",
}

OWN_GROUP = "xfk"
OWN_OFFICE_NAME = "信访科"
LEGAL_GROUP = "dept_jsw"
# Routes whose handling unit is picked in 归纳分类, and the group-key prefix it must have.
CHOSEN_GROUP_PREFIX: dict[str, str] = {"dept": "dept_", "county": "county_"}
UNITS = f"^{organisation.UNIT_PATTERN}"  # 改派 of the handling steps: a unit, never a county's role



def _setting(name: str) -> int:
    return int(config_store.get(f"{PROCESS_KEY}.{name}"))


def route_group(route: str, handling_group: str | None) -> str:
    """Group that handles the petition; the diagram's `assign` step stores it as `handling_group`."""
    if route == "own":
        return OWN_GROUP
    if route == "legal":
        return LEGAL_GROUP  # 涉法涉诉: 监察和司法委员会 takes it and hands it on
    if route in CHOSEN_GROUP_PREFIX:
        if not handling_group:
            raise ValueError(f"分流为“{ROUTES[route]}”时必须选择办理单位")
        return handling_group
    raise ValueError(f"分流方式 {route!r} 没有办理单位")


# Functions the diagram's scripts and expressions may call, as `petition.<name>(...)`.
HELPERS: dict[str, Callable[..., Any]] = {"route_group": route_group}


# ---- Confidentiality (第九条(二)): personal data is masked for everyone outside the chain.

PERSONAL_FIELDS = ("petitioner_name", "petitioner_id_number", "petitioner_phone", "petitioner_address")


MASKERS: dict[str, Callable[[str | None], str | None]] = {
    "petitioner_name": mask_name,
    "petitioner_id_number": mask_id,
    "petitioner_phone": mask_phone,
    "petitioner_address": mask_address,
}


def mask_personal(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of instance data that is safe for lists, exports, logs and outside viewers."""
    masked = dict(data)
    for field, masker in MASKERS.items():
        value = masked.get(field)
        if isinstance(value, str):
            masked[field] = masker(value)
    return masked


# ---- Checks that need more than the form's JSON Schema (the groups table, instance data).

FieldErrors = list[dict[str, str]]
Validator = Callable[[dict[str, Any], dict[str, Any], set[str]], FieldErrors]


def validate_classify(form: dict[str, Any], instance: dict[str, Any], group_keys: set[str]) -> FieldErrors:
    """The chosen handling unit must exist and be of the kind the route names."""
    prefix = CHOSEN_GROUP_PREFIX.get(str(form.get("route")))
    if prefix is None:
        return []
    group = form.get("handling_group")
    kind = "本级有关部门" if prefix == "dept_" else "县（区）人大常委会"
    if not group:
        return [{"field": "handling_group", "message": f"请选择办理单位（{kind}）"}]
    if group not in group_keys:
        return [{"field": "handling_group", "message": f"办理单位 {group} 不存在"}]
    if not str(group).startswith(prefix) or not organisation.is_unit(str(group)):
        return [{"field": "handling_group", "message": f"该分流方式的办理单位须为{kind}"}]
    return []


# 退回信访科: a unit may not just push a case back (信访工作办法 第九条(一): 不得推诿、敷衍、拖延);
# it says why the case is not its own, in at least this many characters, and 信访科 routes it anew.
RETURN_REASON_MIN = 5


def validate_return(form: dict[str, Any], instance: dict[str, Any]) -> FieldErrors:
    """退回信访科 needs a reason 信访科 can route by: at least RETURN_REASON_MIN characters. A case
    still running on a diagram version without the return path (its 交办 set no `returnable`)
    cannot take one: its 办理情况 gateway would read the return as 办结."""
    if not instance.get("returnable"):
        return [{"field": "outcome", "message": "本件按旧版流程办理，不能退回信访科；如分办有误，请联系信访科改派"}]
    reason = str(form.get("return_reason") or "").strip()
    if len(reason) < RETURN_REASON_MIN:
        return [{"field": "return_reason",
                 "message": f"请说明退回原因（不少于{RETURN_REASON_MIN}个字），信访科据此重新分办"}]
    return []


def validate_handle(form: dict[str, Any], instance: dict[str, Any], group_keys: set[str]) -> FieldErrors:
    """条例 第三十四条: extensions together may not exceed 30 days (a setting); a return states why."""
    if form.get("outcome") == "return":
        return validate_return(form, instance)
    if form.get("outcome") != "extend":
        return []
    most = _setting("max_extension_days")
    used = int(instance.get("extension_total") or 0)
    asked = int(form.get("extension_days") or 0)
    if used + asked > most:
        left = max(most - used, 0)
        return [
            {
                "field": "extension_days",
                "message": f"延期累计不得超过{most}日（已延期{used}日，本次最多可申请{left}日）",
            }
        ]
    return []


def validate_reply(form: dict[str, Any], instance: dict[str, Any], group_keys: set[str]) -> FieldErrors:
    """A reply cannot predate the petition; the 复查 window is counted from this date (a reply
    dated in the future is refused by the form, `"x-past": true` in forms/petition_reply.json)."""
    errors = _date_field(form, "replied_at", "答复日期")
    if errors:
        return errors
    replied, received = form.get("replied_at"), instance.get("received_at")
    if isinstance(replied, str) and isinstance(received, str) and replied[:10] < received[:10]:
        return [{"field": "replied_at", "message": "答复日期不能早于收件日期"}]
    return []


EARLIEST_RECEIVED = "2000-01-01"


def _date_field(form: dict[str, Any], field: str, label: str) -> FieldErrors:
    """A date must be a real date this office can count from: not before 2000. Not in the
    future is the form's rule (`"x-past": true`, service/forms.py), generic to every procedure."""
    from service.clock import parse_datetime

    value = form.get(field)
    if not isinstance(value, str) or not value:
        return []
    try:
        day = parse_datetime(value).date()
    except (ValueError, OverflowError):
        return [{"field": field, "message": f"{label}格式不正确"}]
    if day.isoformat() < EARLIEST_RECEIVED:
        return [{"field": field, "message": f"{label}不能早于2000年"}]
    if day.year > 2200:
        return [{"field": field, "message": f"{label}超出范围"}]
    return []


def validate_start(form: dict[str, Any], instance: dict[str, Any], group_keys: set[str]) -> FieldErrors:
    """登记: the receipt date starts the 60-day clock, so it must be a plausible date (the form
    refuses one after now, `"x-past": true` in forms/petition_register.json)."""
    return _date_field(form, "received_at", "收件日期")


VALIDATORS: dict[str, Validator] = {
    "start": validate_start,
    "classify": validate_classify,
    "handle": validate_handle,
    "reply": validate_reply,
}


# ---- Notice texts (督办 ladder, PROCEDURES.md §1 step 8): name the case, unit, deadline, days overdue.

# The ladder's texts are shared (workflows/ladder_texts.py); 分流催办 is the petition's own.
NOTICE_TEMPLATES: dict[str, str] = {
    **ladder_texts.templates("信访件", OWN_OFFICE_NAME),
    "route_urge": "【催办】信访件 {business_key}（{subject}）应于{due}前完成登记、分类和交办（15日内），"
                  "当前环节：{step}，请抓紧办理。",
}


def notice_text(kind: str, fields: dict[str, Any], group_names: dict[str, str], now: Any) -> str | None:
    """The Chinese text of a notice of this procedure (None would mean: send nothing)."""
    route = NOTICE_TEMPLATES["route_urge"] if fields.get("stage") == "route" else None
    return ladder_texts.render(kind, NOTICE_TEMPLATES, "信访件", fields, group_names, now, template=route)


# ---- Deadlines recomputed when the legal calendar changes (a year's holiday notice loaded).

def recompute_deadlines(data: dict[str, Any], add_days: Callable[..., str]) -> dict[str, Any]:
    """The deadline keys of a case recomputed from their bases with the current calendar."""
    out: dict[str, Any] = {}
    # The periods in force when the case started (the case keeps them: a later change of the
    # settings applies to new cases, not to those already counting).
    received = data.get("received_at")
    if isinstance(received, str) and received:
        due = add_days(received, int(data.get("handling_days") or _setting("handling_days")))
        extended = int(data.get("extension_total") or 0)
        out["due_at"] = add_days(due, extended) if extended else due
        out["route_due_at"] = add_days(received, int(data.get("route_days") or _setting("route_days")))
    replied = data.get("replied_at")
    if isinstance(replied, str) and replied and "review_window_end" in data:
        window = int(data.get("review_window_days") or _setting("review_window_days"))
        out["review_window_end"] = add_days(replied, window)
    return out


# ---- What the instance row shows (lists, overdue filter, visibility, masking).

def project(data: dict[str, Any]) -> dict[str, Any]:
    """The handling unit only once the petition is handed over (交办), and the handling
    deadline only until the reply: after it, the case waits in the 复查 window, not overdue."""
    handed_over = bool(data.get("handed_over_at"))
    replied = bool(data.get("replied_at")) and "review_window_end" in data
    return {
        "handling_group": data.get("handling_group") if handed_over else None,
        "due_at": None if replied else data.get("due_at"),
    }


# ---- The declaration the platform reads (service/procedure.py).

CHAIN_GROUPS = frozenset({"xfk", "office_leader", "secretary_general", "leadership"})

PROCEDURE = Procedure(
    key=PROCESS_KEY,
    name="信访件办理",
    numbering=Numbering(BUSINESS_KEY_PREFIX, BUSINESS_KEY_DIGITS),
    starters=Starters(
        groups=frozenset({OWN_GROUP}), label="登记信访", refusal="只有信访科可以登记信访件", path="/petitions/new",
        hint="提交后系统自动生成统一编号，并按收件时间计算各环节期限（收件当日不计，末日遇法定节假日顺延）。"
             "信访人个人信息仅办理链条内可见。",
    ),
    owners=frozenset({OWN_GROUP}),
    supervisors=frozenset({"leadership", "secretary_general", "office_leader"}),
    # 第九条(二): 信访科, the leaders who sign, and the unit handling this very petition.
    personal=PersonalData(maskers=MASKERS, readers=CHAIN_GROUPS, handling_unit=True),
    helpers=HELPERS,
    validators=VALIDATORS,
    notice_kinds=ladder_texts.KINDS,
    deadline_notices=ladder_texts.DEADLINE_KINDS,
    notice_text=notice_text,
    settings=(
        SettingSpec("handling_days", 60, "办理期限：自收件次日起计算的日数（信访工作办法 第八条(一)）",
                    minimum=1, maximum=365),
        SettingSpec("route_days", 15, "登记、分类和交办期限（条例 第二十二条、第二十三条）", minimum=1, maximum=90),
        SettingSpec("max_extension_days", 30, "延期累计上限（条例 第三十四条）", minimum=1, maximum=90),
        SettingSpec("review_window_days", 30, "答复后等待复查申请的日数（条例 第三十五条）", minimum=1, maximum=90),
        SettingSpec("collective_threshold", 5, "集体访人数：达到此人数的信访同时启动突发事件应急处置", unit="人",
                    minimum=2, maximum=1000),
        SettingSpec("collective_major_threshold", 30, "集体访人数：达到此人数建议按重大突发事件处置", unit="人",
                    minimum=2, maximum=10000),
        *ladder_settings(),  # the 督办 ladder's offsets, defaults of service/deadlines.py
        *petition_documents.SETTINGS,  # the printed papers' letterhead and number prefix (text)
    ),
    ladder=True,
    labels={
        "business_key": "统一编号",
        "due_at": "办结期限",
        "route_due_at": "登记分流期限",
        "extension_total": "累计延期天数",
        "handed_over_at": "交办时间",
        "handling_group": "办理单位",
        "review_window_end": "复查申请截止",
        "review_requested": "已申请复查",
        "duplicate_of": "重复信访（原件编号）",
        "handling_days": "办理期限（日）",
        "route_days": "登记分流期限（日）",
        "review_window_days": "复查申请期（日）",
        "returned_group": "退回单位",
        "returned_at": "退回时间",
    },
    messages=(MessageRule(
        "review_request", "复查申请", frozenset({OWN_GROUP}), refusal="只有信访科可以登记复查申请",
        action="登记复查申请", prompt="本案已答复，正在等待复查申请期满。信访人在期限内请求复查的，请登记：",
        confirm="确认登记信访人的复查申请？登记后本案转复查并结束。", deadline_key="review_window_end",
        form_key="petition_review_request"),),
    # 改派: the handling steps go to another department or county (or stay with their unit); the
    # approvals and 信访科's own steps stay with their own group (to another of its members only).
    reassign_to={"handle": (UNITS,), "explain": (UNITS,)},
    # 退回信访科: 信访科 sees at 归纳分类 who sent the case back, why and when.
    step_notes={"classify": ("办理单位退回", ("returned_group", "return_reason", "returned_at"))},
    receipts=frozenset({"handle"}),  # 签收回执: the handling unit's receipt of the 交办
    title_keys=("subject",),
    duplicate_key="petitioner_id_number",
    search_keys={"petitioner_name": "信访人姓名", "petitioner_id_number": "身份证号码"},
    relations={"duplicate": "重复信访", "emergency": "集体访转突发事件"},
    project=project,
    recompute=recompute_deadlines,
    ledgers=(petition_report.LEDGER,),
    documents=petition_documents.DOCUMENTS,  # 信访登记表, 交办单, 答复书, 不予受理告知书 (打印, PDF)
)
