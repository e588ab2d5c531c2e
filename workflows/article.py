"""网站稿件审核发布 (process key `article_publication`, PROCEDURES.md §3; seed 000 临沧人大网站管理制度
第三条–第十二条): 登记 → 编辑 → 审核 (五个要点，退回修改) → 上传发布 → 在网，可撤稿.

The diagram (bpmn/article_publication.bpmn) holds the order of steps; this module the rules it
cannot see: the columns (第五条), reprints (第六条), the same-day deadline (第八条), no classified
documents (第九条), county articles under their own admin and leader (第三条、第十一条)."""

from __future__ import annotations

from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Any

from service import clock
from service.attachment_rules import AttachmentRules
from service.errors import Invalid
from service.procedure import MessageRule, NavLink, Numbering, Procedure, SettingSpec, Starters
from workflows import article_models, article_pages, article_site, article_stats, organisation
from workflows.article_rules import (  # noqa: F401 - COUNTY_COLUMN, same_day_due re-exported
    CHECK_POINTS,
    COLUMNS_DEFAULT,
    COUNTY_COLUMN,
    PROCESS_KEY,
    columns,
    failed_points,
    same_day_due,
)

OFFICE_WEB = "web_admin"  # 网站管理员: registers, edits and publishes the office's articles
OFFICE_REVIEWER = "office_leader"  # 办公室分管领导: reviews them (第四条); 督办
COUNTY_WEB = "county_*_web"  # a county's web admin (第三条: 县(区)人大常委会办公室 runs its column)
COUNTY_LEADER_SUFFIX = "_leader"
WITHDRAW_MESSAGE = "withdraw"  # the diagram's message (Message_withdraw) and its MessageRule

FieldErrors = list[dict[str, str]]

# Script helpers, reachable in the diagram as `article_publication.<name>(...)`.
HELPERS: dict[str, Callable[..., Any]] = {"same_day_due": same_day_due, "failed_points": failed_points,
                                          "columns": columns}


# ---- Checks beyond the forms' JSON Schema (validators: form, the data before, every group key).

def _column_errors(form: dict[str, Any]) -> FieldErrors:
    column = form.get("column")
    if column and column not in columns():
        return [{"field": "column", "message": "请从“栏目”的可选项中选择"}]
    return []


def validate_start(form: dict[str, Any], instance: dict[str, Any], group_keys: set[str]) -> FieldErrors:
    """登记: no classified document (第九条), a reprint names its author and source (第六条), the
    column is one of the setting's, the submitting unit is a department or county congress."""
    if form.get("classified") is True:  # refused outright, whatever else the form says
        raise Invalid("标密文件不得上传", [{"field": "classified", "message": "标密文件不得上传"}])
    errors = _column_errors(form)
    if form.get("reprint") is True:
        for name in ("author", "source"):
            if not str(form.get(name) or "").strip():
                errors.append({"field": name, "message": "转载稿件须注明作者和来源（网站管理制度第六条）"})
    department = form.get("department")
    if department and (department not in group_keys or not organisation.is_unit(str(department))):
        errors.append({"field": "department", "message": "报送单位须为机关委室或县（区）人大常委会"})
    return errors


def validate_edit(form: dict[str, Any], instance: dict[str, Any], group_keys: set[str]) -> FieldErrors:
    """编辑: a county article stays in the county column; an office article may not move into it."""
    errors = _column_errors(form)
    column = form.get("column")
    if errors or not column:
        return errors
    if instance.get("county") and column != COUNTY_COLUMN:
        return [{"field": "column", "message": f"县（区）人大的稿件须留在“{COUNTY_COLUMN}”栏目"}]
    if not instance.get("county") and column == COUNTY_COLUMN:
        return [{"field": "column", "message": f"市人大常委会办公室的稿件不能移入“{COUNTY_COLUMN}”栏目"}]
    return []


def validate_review(form: dict[str, Any], instance: dict[str, Any], group_keys: set[str]) -> FieldErrors:
    """审核 (第四条): approving with a failed point is refused; a failed point needs its comment;
    a return needs a comment (the general one or a failed point's)."""
    checks = form.get("checks") if isinstance(form.get("checks"), dict) else {}
    comments = form.get("check_comments") if isinstance(form.get("check_comments"), dict) else {}
    failed = [key for key in CHECK_POINTS if checks.get(key) is False]
    errors: FieldErrors = []
    if form.get("decision") == "approve":
        errors += [{"field": f"checks.{key}", "message": f"“{CHECK_POINTS[key]}”未通过，不能审核通过，请退回修改"}
                   for key in failed]
    errors += [{"field": f"check_comments.{key}", "message": f"“{CHECK_POINTS[key]}”未通过，请填写意见"}
               for key in failed if not str(comments.get(key) or "").strip()]
    if form.get("decision") == "return" and not str(form.get("comment") or "").strip() \
            and not any(str(comments.get(key) or "").strip() for key in failed):
        errors.append({"field": "comment", "message": "退回修改须写明审核意见"})
    return errors


def validate_withdraw(form: dict[str, Any], instance: dict[str, Any], group_keys: set[str]) -> FieldErrors:
    """撤稿: the history keeps why, so a reason of blanks is no reason (the form's minLength counts them)."""
    if isinstance(form.get("reason"), str) and not form["reason"].strip():
        return [{"field": "reason", "message": "请写明撤稿理由"}]
    return []


# Keyed by bpmn_id, "start", or a message's name (checked with the message's form).
VALIDATORS = {"start": validate_start, "edit": validate_edit, "review": validate_review,
              WITHDRAW_MESSAGE: validate_withdraw}


# ---- Derived keys (from the groups of who registers): where the case goes.

def _county_webs(groups: frozenset[str]) -> list[str]:
    return sorted(g for g in groups if fnmatchcase(g, COUNTY_WEB) and organisation.county_of(g))


def derive_start(form: dict[str, Any], instance: dict[str, Any], groups: frozenset[str]) -> dict[str, Any]:
    """The county column only for a county web admin (第三条、第十一条), who may use no other; the
    county's article goes to its own admin and leader and counts for the county; an office article
    (and one registered by the administrator or the system) to 网站管理员 and 办公室分管领导."""
    county_webs = _county_webs(groups)
    if form.get("column") == COUNTY_COLUMN:
        if not county_webs:
            raise Invalid("表单填写有误，请检查标出的字段", [{
                "field": "column", "message": f"“{COUNTY_COLUMN}”栏目的稿件由县（区）人大网站管理员登记"}])
        web = county_webs[0]
        county = str(organisation.county_of(web))
        return {"county": county, "department": county, "register_group": web,
                "review_group": county + COUNTY_LEADER_SUFFIX, "registered_at": clock.now_iso()}
    if county_webs and OFFICE_WEB not in groups:
        raise Invalid("表单填写有误，请检查标出的字段", [{
            "field": "column", "message": f"县（区）人大网站管理员只能登记“{COUNTY_COLUMN}”栏目的稿件"}])
    if not form.get("department"):
        raise Invalid("表单填写有误，请检查标出的字段", [{"field": "department", "message": "请选择报送单位"}])
    return {"county": None, "register_group": OFFICE_WEB, "review_group": OFFICE_REVIEWER,
            "registered_at": clock.now_iso()}


def derive_review(form: dict[str, Any], instance: dict[str, Any], groups: frozenset[str]) -> dict[str, Any]:
    """This review's comments replace an earlier review's (a point left without comment now has
    none), so that a return names only what this review found; `prior_returns` (the returns
    before it) lets the history count the returns (the diagram's `returns` is no history)."""
    comments = form.get("check_comments") if isinstance(form.get("check_comments"), dict) else {}
    return {"check_comments": dict(comments), "comment": form.get("comment") or "",
            "prior_returns": int(instance.get("returns") or 0)}


def derive_publish(form: dict[str, Any], instance: dict[str, Any], groups: frozenset[str]) -> dict[str, Any]:
    """The moment of publication, recorded with the step (the site lists by it)."""
    return {"published_at": clock.now_iso()}


DERIVE = {"start": derive_start, "review": derive_review, "publish": derive_publish}


# ---- Deadlines after a calendar change; the case row's columns.

def recompute_deadlines(data: dict[str, Any], add_days: Callable[..., str]) -> dict[str, Any]:
    """The same-day deadline from the receipt, as the calendar now says."""
    received = data.get("received_at")
    if not isinstance(received, str) or not received or data.get("published_at"):
        return {}
    return {"due_at": same_day_due(received)}


def project(data: dict[str, Any]) -> dict[str, Any]:
    """The same-day deadline until the article is published; as handling unit the group that
    registers and publishes it (网站管理员 or the county's admin: the 督办 board lists it there), and
    for a county article its leader too, so that the county's own people see all its articles."""
    register, review = data.get("register_group"), data.get("review_group")
    groups = [g for g in (register, review if data.get("county") else None) if isinstance(g, str) and g]
    return {"handling_group": register, "handling_groups": groups,
            "due_at": None if data.get("published_at") else data.get("due_at")}


# ---- 附件: an article's pictures and downloads are published with it (第九条: nothing classified
# is uploaded at all), so none is personal data, not even one uploaded with the registration;
# the public site serves them once the article is published (workflows/site_files.py).
IMAGE_KIND = "稿件图片"
FILE_KIND = "稿件附件"
ATTACHMENTS = AttachmentRules(
    kinds=(IMAGE_KIND, FILE_KIND, "其他"), personal_kinds=frozenset(), start_kinds=(FILE_KIND, IMAGE_KIND, "其他"),
    start_personal=False, default_kind=FILE_KIND, task_kind=FILE_KIND, image_kind=IMAGE_KIND,
    start_label="稿件的图片和附件",
    start_hint="稿件发布后，其图片和附件随稿件在网站公开，请勿上传含个人信息或涉密的文件（第九条）。",
)

# ---- The declaration the platform reads (service/procedure.py).

PROCEDURE = Procedure(
    key=PROCESS_KEY,
    name="网站稿件审核发布",
    numbering=Numbering("GJ", 5),
    starters=Starters(
        groups=frozenset({OFFICE_WEB}), patterns=(COUNTY_WEB,), label="登记稿件",
        refusal="只有网站管理员和县（区）人大网站管理员可以登记稿件；被停权的管理员恢复权限前不能登记",
        path="/articles/new",
        hint="当天收到的稿件当天编审上传（第八条）；转载的须注明作者和来源（第六条）；标密文件不得上传（第九条）。"
             "县（区）人大网站管理员登记“县(区)人大”栏目的稿件，由本县（区）人大分管领导审核。",
    ),
    owners=frozenset({OFFICE_WEB}),
    supervisors=frozenset({OFFICE_REVIEWER}),
    suspendable=(COUNTY_WEB,),
    helpers=HELPERS,
    validators=VALIDATORS,
    derive=DERIVE,
    settings=(
        SettingSpec("columns", COLUMNS_DEFAULT,
                    "网站栏目：第五条的固定栏目和活动专题栏目，以逗号或顿号分隔；“县(区)人大”栏目由县（区）人大网站管理员登记。"
                    "栏目的重大调整须经常委会秘书长会议同意", unit="", minimum=1, maximum=1000),
        *article_site.SETTINGS,
        *article_stats.SETTINGS,
    ),
    labels={
        "business_key": "稿件编号",
        "title": "标题",
        "column": "栏目",
        "author": "作者",
        "source": "来源",
        "reprint": "转载稿件",
        "classified": "标密文件",
        "department": "报送单位",
        "received_at": "收稿时间",
        "body": "正文",
        "county": "县（区）",
        "register_group": "登记发布单位",
        "review_group": "审核人",
        "registered_at": "登记时间",
        "due_at": "编审上传期限",
        "returns": "退回次数",
        "prior_returns": "本次审核前退回次数",
        "edit_note": "编辑说明",
        "checks": "审核要点",
        "check_comments": "审核要点意见",
        "comment": "审核意见",
        "decision": "审核结论",
        "returned_at": "退回时间",
        "returned_points": "未通过的审核要点",
        "publish_note": "发布说明",
        "published_at": "发布时间",
        "withdraw_data": "撤稿登记",
        "withdrawn_at": "撤稿时间",
        "withdraw_reason": "撤稿理由",
    },
    unit_keys=frozenset({"county", "department"}),  # derived from who registers: read by the group's name
    messages=(MessageRule(
        WITHDRAW_MESSAGE, "撤稿", frozenset({OFFICE_WEB, OFFICE_REVIEWER}), refusal="只有网站管理员和办公室分管领导可以撤稿",
        action="撤稿", prompt="稿件已在网站发布。发现问题需要撤下的，请写明理由：",
        confirm="确认撤稿？撤稿后稿件立即从网站撤下，不能恢复。", form_key="article_withdraw"),),
    # 审核退回: the editor sees which points failed, the leader's comment and when.
    step_notes={"edit": ("审核退回意见", ("returned_points", "comment", "returned_at"))},
    title_keys=("title",),
    project=project,
    recompute=recompute_deadlines,
    read_models=article_models.READ_MODELS,
    ledgers=article_stats.LEDGERS,
    blueprints=(*article_pages.BLUEPRINTS, *article_site.BLUEPRINTS),
    attachments=ATTACHMENTS,
    nav=(NavLink("稿件列表", "article_pages.article_list", article_pages.may_list),),
)
