"""值班表 (duty roster) of the emergency procedure (seeds 000–003: 24-hour duty, 领导带班): the page
`/duty-roster?month=YYYY-MM`, its JSON API (`GET/PUT /api/v1/duty-roster?month=`, `POST
/api/v1/duty-roster/import`, `GET /api/v1/duty-roster/export?month=`), the navigation entry, and
the script helper `emergency_response.on_duty()` the report's start script notifies first.

Who may keep the roster is declared here (`MANAGERS`: 机关综治办, the emergency office; the platform
administrator comes from service/policy.py); every logged-in user may read it (the login is the
check). Storing, validating and the Excel files are the platform's (service/duty_roster.py,
service/duty_excel.py), which name no group."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request, url_for
from flask_login import current_user, login_required

from service import audit, clock, duty_excel, duty_roster, policy, script_context
from service.actors import Actor
from service.errors import Invalid
from service.ledger_excel import XLSX_MIME
from service.procedure import NavLink
from service.report_periods import Period
from service.store.duty_models import MAX_NOTE, SHIFT_KINDS
from service.web.api_support import api_actor, json_body, once, token_required
from service.web.context import csrf, services
from service.web.form_tokens import submit_once
from service.web.guards import current_actor

MANAGERS: frozenset[str] = frozenset({"zzb"})  # edit and import (and `admin`, the policy's)
# The top bar's entry: the emergency office, the leading group and the leaders who lead shifts.
SHOWN_TO: frozenset[str] = frozenset({"zzb", "emergency_group", "leadership", "secretary_general", "office_leader"})
REFUSAL = "只有机关综治办和系统管理员可以编排值班表"
TEMPLATE = "emergency/duty_roster.html"


def may_manage(actor: Actor) -> bool:
    return policy.may_manage(actor, MANAGERS)


def in_nav(actor: Actor) -> bool:
    """Whether the top bar shows 值班表 (anyone logged in may still open the page)."""
    return policy.may_manage(actor, SHOWN_TO)


# Who holds the shift covering a moment (`[{username, name, role, …}]`, role 值班人员/带班领导): the
# situation page names them (workflows/emergency_situation.py).
on_duty_at = duty_roster.on_duty_at


def on_duty() -> list[str]:
    """Script helper `emergency_response.on_duty()`: who holds the shift covering now (the duty
    officer, then the duty leader) as notice targets `user:<username>`, from the committed roster
    of the running step's database; [] when nobody is rostered (or outside a step)."""
    database = script_context.database()
    if database is None:
        return []
    with database.read() as session:
        return [f"user:{p['username']}" for p in duty_roster.on_duty_at(session, clock.now())]


def _excel(period: Period) -> Response:
    with services().db.read() as session:
        body = duty_excel.export(session, period)
    audit.write(services().db, audit.EXPORT, target=duty_excel.TITLE, detail=f"Excel：{period.label}")
    return Response(body, mimetype=XLSX_MIME, headers={"Content-Disposition": duty_excel.content_disposition(period)})


def _uploaded() -> bytes:
    upload = request.files.get("file")
    return upload.read() if upload is not None else b""


def _blueprint() -> Blueprint:
    pages = Blueprint("duty_roster", __name__, template_folder="templates")
    api = Blueprint("duty_roster_api", __name__, url_prefix="/api/v1")
    pages.register_blueprint(api)
    csrf.exempt(api)

    @pages.app_template_global("duty_roster_url")
    def link(day: str | None = None) -> str | None:
        """The roster page (of the month of `day`, YYYY-MM-DD) for a logged-in user, else None."""
        if not current_user.is_authenticated:
            return None
        return url_for("duty_roster.page", month=day[:7]) if day else url_for("duty_roster.page")

    def render(period: Period, values: dict[str, str] | None = None, exc: Invalid | None = None,
               status: int = 200, form: str = "") -> Any:
        actor = current_actor()
        with services().db.read() as session:
            days = duty_roster.month_table(session, period)
            people = duty_roster.active_people(session) if may_manage(actor) else []
        month_start = period.start.date()
        before = Period.of_month(month_start.year - (month_start.month == 1), (month_start.month - 2) % 12 + 1)
        after = Period.of_month(period.end.year, period.end.month)
        errors = {d.get("field", ""): d.get("message", "") for d in (exc.details if exc else [])}
        return render_template(
            TEMPLATE, period=period, days=days, may_edit=may_manage(actor), people=people,
            before=before, after=after, values=values or {}, errors=errors, form=form,
            problems=[d.get("message", "") for d in (exc.details if exc else [])],
            message=exc.message if exc else None, kinds=[(k, duty_roster.KIND_LABELS[k],
                                                          duty_roster.KIND_HOURS[k]) for k in SHIFT_KINDS],
            max_note=MAX_NOTE, held=sum(1 for d in days for s in d["shifts"].values() if s)), status

    # ----- the page ---------------------------------------------------------------------------

    @pages.get("/duty-roster")
    @login_required
    def page() -> Any:
        period = duty_roster.parse_month(request.args.get("month"))
        values = {}
        if may_manage(current_actor()) and request.args.get("day"):
            values = {"day": request.args.get("day", ""), "kind": request.args.get("kind", "day")}
            with services().db.read() as session:
                shift = next((s for d in duty_roster.month_table(session, period) if d["day"] == values["day"]
                              for k, s in d["shifts"].items() if k == values["kind"] and s), None)
            if shift:
                values.update(officer=shift["officer"], leader=shift["leader"] or "", note=shift["note"])
        return render(period, values)

    @pages.post("/duty-roster/shift")
    @login_required
    def save_shift() -> Any:
        actor = current_actor()
        policy.require_manage(actor, MANAGERS, REFUSAL)
        values = {k: request.form.get(k, "").strip() for k in ("day", "kind", "officer", "leader", "note")}
        period = duty_roster.parse_month(values["day"][:7] if len(values["day"]) >= 7 else None)

        def save() -> tuple[str, str]:
            done = duty_roster.save_shifts(services().db, actor.username, [(1, values)], "编辑", where="",
                                           clearing=True)
            label = f"{values['day']} {duty_roster.KIND_LABELS.get(values['kind'], values['kind'])}"
            return (url_for("duty_roster.page", month=values["day"][:7]),
                    f"已清除 {label} 的值班安排" if done["cleared"] or not values["officer"] else f"已保存 {label} 的值班安排")

        try:
            return submit_once(save)
        except Invalid as exc:
            return render(period, values, exc, 422, form="shift")

    @pages.post("/duty-roster/import")
    @login_required
    def import_page() -> Any:
        actor = current_actor()
        policy.require_manage(actor, MANAGERS, REFUSAL)
        period = duty_roster.parse_month(request.form.get("month"))
        content = _uploaded()

        def load() -> tuple[str, str]:
            done = duty_excel.import_file(services().db, actor.username, content)
            month = (done["first_day"] or period.arg)[:7]
            return (url_for("duty_roster.page", month=month),
                    f"已导入 {done['saved']} 个班次（{done['first_day']} 至 {done['last_day']}）")

        try:
            return submit_once(load)
        except Invalid as exc:
            return render(period, None, exc, 422, form="import")

    @pages.get("/duty-roster/export")
    @login_required
    def export_page() -> Any:
        return _excel(duty_roster.parse_month(request.args.get("month")))

    # ----- the JSON API -----------------------------------------------------------------------

    @api.get("/duty-roster")
    @token_required
    def get_roster() -> Any:
        period = duty_roster.parse_month(request.args.get("month"))
        with services().db.read() as session:
            return jsonify(duty_roster.month_json(session, period))

    @api.put("/duty-roster")
    @token_required
    def put_roster() -> Any:
        actor = api_actor()
        policy.require_manage(actor, MANAGERS, REFUSAL)
        period = duty_roster.parse_month(request.args.get("month"))
        body = json_body()
        return once(lambda: (duty_roster.replace_month(services().db, actor.username, period, body), 200))

    @api.post("/duty-roster/import")
    @token_required
    def post_import() -> Any:
        actor = api_actor()
        policy.require_manage(actor, MANAGERS, REFUSAL)
        content = _uploaded() or (request.get_data() if request.mimetype == XLSX_MIME else b"")
        return once(lambda: (duty_excel.import_file(services().db, actor.username, content), 200))

    @api.get("/duty-roster/export")
    @token_required
    def export_api() -> Any:
        return _excel(duty_roster.parse_month(request.args.get("month")))

    return pages


BLUEPRINTS: tuple[Any, ...] = (_blueprint(),)
NAV: tuple[NavLink, ...] = (NavLink("值班表", "duty_roster.page", in_nav),)
