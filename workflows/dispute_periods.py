"""重要时期 (important periods) of the daily dispute screening (PROCEDURES.md §2b): the offices'
declared date ranges (全国两会 03-01…03-15) inside which a round starts every working day.

`within(session)` gives the round's schedule (service.schedule.WorkingDays) the stored ranges;
`BLUEPRINTS` holds the page `/important-periods` and the JSON API `/api/v1/important-periods`
(API.md `dispute_screening_daily`), registered through the daily procedure's `blueprints`.
Who may keep the periods is declared here once (`MANAGERS`: the dispute procedures' owners; the
platform administrator too) and decided by service/policy.py (`require_manage`); storing,
validating and recording every change is service/important_periods.py's."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import Session

from service import clock, duty_roster, important_periods, policy, schedule
from service.actors import Actor
from service.errors import Invalid, NotFound
from service.web.api_support import api_actor, json_body, once, token_required
from service.web.context import csrf, services
from service.web.form_tokens import submit_once
from service.web.guards import current_actor

# The dispute procedures' owners (DISPUTE_CONTRACT: 机关综治办); `admin` comes from the policy.
MANAGERS: frozenset[str] = frozenset({"zzb"})
REFUSAL = "只有系统管理员和机关综治办可以管理重要时期"
TEMPLATE = "dispute/important_periods.html"  # workflows/templates/, this blueprint's template folder
WEEKDAYS = "一二三四五六日"


def within(session: Session) -> list[tuple[date, date, str]]:
    """(first day, last day, name) of every important period, for the daily round's schedule —
    those ending inside (twice) the schedule's catch-up window; older ones can start nothing."""
    ending_from = clock.now().date() - timedelta(days=2 * schedule.CATCH_UP_DAYS)
    return important_periods.ranges(session, ending_from)


def _rows(session: Session) -> list[dict[str, Any]]:
    """The page's rows: each period with its length, its working days, where today stands and
    whether its duty roster is complete."""
    today = clock.now().date()
    rows = []
    for item in important_periods.listed(session):
        first, last = date.fromisoformat(item["first_day"]), date.fromisoformat(item["last_day"])
        days, working = important_periods.day_counts(first, last)
        state = "已结束" if last < today else ("未开始" if first > today else "进行中")
        rows.append({**item, "days": days, "working_days": working, "state": state,
                     "first_weekday": WEEKDAYS[first.weekday()], "last_weekday": WEEKDAYS[last.weekday()],
                     # 值班安排: whether every day has both shifts with officer and leader (seeds 000–003)
                     "duty": duty_roster.coverage(session, first, last)})
    return rows


def blueprint(managers: frozenset[str], refusal: str = REFUSAL) -> Blueprint:
    """The page and the JSON API, for the groups `managers` (and the administrator, the policy's)."""
    pages = Blueprint("important_periods", __name__, template_folder="templates")
    api = Blueprint("important_periods_api", __name__, url_prefix="/api/v1")
    pages.register_blueprint(api)
    csrf.exempt(api)

    def allowed(actor: Actor) -> Actor:
        policy.require_manage(actor, managers, refusal)
        return actor

    @pages.app_template_global("important_periods_url")
    def link() -> str | None:
        """The page's address for a user who may keep the periods (for menus), else None."""
        if not current_user.is_authenticated or not policy.may_manage(current_actor(), managers):
            return None
        return url_for("important_periods.page")

    def render(values: dict[str, str] | None = None, exc: Invalid | None = None, status: int = 200) -> Any:
        with services().db.read() as session:
            rows = _rows(session)
        errors = {d.get("field", ""): d.get("message", "") for d in (exc.details if exc else [])}
        return render_template(TEMPLATE, rows=rows, values=values or {}, errors=errors,
                               message=exc.message if exc else None, max_days=important_periods.MAX_DAYS,
                               max_name=important_periods.MAX_NAME,
                               today=clock.now().date().isoformat()), status

    # ----- the page ---------------------------------------------------------------------------

    @pages.get("/important-periods")
    @login_required
    def page() -> Any:
        allowed(current_actor())
        return render()

    @pages.post("/important-periods")
    @login_required
    def add() -> Any:
        actor = allowed(current_actor())
        values = {k: request.form.get(k, "").strip() for k in important_periods.FIELDS}

        def create() -> tuple[str, str]:
            made = important_periods.create(services().db, actor.username, values)
            return (url_for("important_periods.page"),
                    f"已添加重要时期「{made['name']}」（{made['first_day']} 至 {made['last_day']}），"
                    "期间每个工作日自动发起每日排查")

        try:
            return submit_once(create)
        except Invalid as exc:
            return render(values, exc, 422)

    @pages.post("/important-periods/<int:period_id>/delete")
    @login_required
    def delete(period_id: int) -> Any:
        actor = allowed(current_actor())
        try:
            gone = important_periods.remove(services().db, actor.username, period_id)
            flash(f"已删除重要时期「{gone['name']}」，此后不再为其发起每日排查（已发起的不受影响）", "success")
        except NotFound as exc:
            flash(exc.message, "error")
        return redirect(url_for("important_periods.page"))

    # ----- the JSON API -----------------------------------------------------------------------

    @api.get("/important-periods")
    @token_required
    def list_periods() -> Any:
        allowed(api_actor())
        with services().db.read() as session:
            return jsonify(important_periods.listed(session))

    @api.post("/important-periods")
    @token_required
    def post_period() -> Any:
        actor = allowed(api_actor())
        body = json_body()
        return once(lambda: (important_periods.create(services().db, actor.username, body), 201))

    @api.delete("/important-periods/<int:period_id>")
    @token_required
    def delete_period(period_id: int) -> Any:
        actor = allowed(api_actor())
        return jsonify(important_periods.remove(services().db, actor.username, period_id))

    return pages


BLUEPRINTS: tuple[Any, ...] = (blueprint(MANAGERS),)
