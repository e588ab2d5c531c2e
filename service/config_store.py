"""Settings an administrator changes without editing code (ladder offsets, stalled days),
stored in the `settings` table and kept in memory; defaults come from their declarations
(the platform's below, each procedure's in its contract)."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import audit, clock, procedure
from service.errors import Invalid, NotFound
from service.procedure import SettingSpec
from service.store.models import Setting, SettingChange

# The platform's own settings; each procedure declares its own (stored as `<procedure>.<key>`).
PLATFORM: tuple[SettingSpec, ...] = (
    SettingSpec("supervision.stalled_days", 15, "停滞天数：在办案件连续多少天无人办理任何环节即列为停滞",
                minimum=1, maximum=365),
    SettingSpec("tasks.warn_days", 3,
                "到期提醒天数：期限前多少天起在各列表中标黄“即将到期”，过了期限标红“已超期”；按自然日计"
                "（期限当天也算，0 为仅期限当天标黄）", minimum=0, maximum=30),
    SettingSpec("forms.future_tolerance_minutes", 5,
                "时间容差：已发生事件的时间（如收件时间）最多可晚于当前时间多少分钟（各电脑时钟误差）",
                unit="分钟", minimum=0, maximum=1440),
    SettingSpec("attachments.max_mb", 10, "附件大小上限：每个附件最大多少 MB（前置 nginx 的 client_max_body_size "
                "须不小于 5 × 此值 + 1 MB）", unit="MB", minimum=1, maximum=50),
    SettingSpec("attachments.max_per_case", 20, "附件数量上限：每个案件最多多少个附件", unit="个", minimum=1, maximum=200),
    # 身份鉴别 (service/identity.py, service/lockout.py); the demo organisation skips forced change
    # and the second factor, never the lock or the session limits
    SettingSpec("identity.lockout_failures", 5, "账户锁定次数：同一账户（不论来源地址）在统计时段内登录失败多少次即锁定该账户",
                unit="次", minimum=3, maximum=20),
    SettingSpec("identity.lockout_address_failures", 20,
                "来源地址锁定次数：同一来源地址（不论账户）在统计时段内登录失败多少次即锁定该地址；"
                "办公网络多人共用一个出口地址，宜大于账户锁定次数", unit="次", minimum=3, maximum=500),
    SettingSpec("identity.lockout_window_minutes", 15, "登录失败统计时段：多少分钟内的失败次数累计计算",
                unit="分钟", minimum=1, maximum=1440),
    SettingSpec("identity.lockout_minutes", 30, "锁定时长：账户或来源地址锁定多少分钟后自动解锁（管理员可提前解锁）",
                unit="分钟", minimum=1, maximum=1440),
    SettingSpec("identity.password_min_length", 8, "密码最短长度：密码至少多少个字符（另须含大写字母、小写字母、数字、"
                "符号中的三类）", unit="个字符", minimum=8, maximum=64),
    SettingSpec("identity.password_history", 5, "密码历史：新密码不得与最近多少次使用过的密码相同",
                unit="次", minimum=1, maximum=24),
    SettingSpec("identity.password_max_days", 90, "密码有效期：密码使用多少天后须修改（0 为不强制定期修改）",
                minimum=0, maximum=365),
    SettingSpec("identity.idle_minutes", 30, "会话空闲超时：登录后连续多少分钟无操作即须重新登录",
                unit="分钟", minimum=5, maximum=480),
    SettingSpec("identity.session_hours", 12, "会话最长时长：登录后最多多少小时须重新登录（无论是否有操作）",
                unit="小时", minimum=1, maximum=72),
    SettingSpec("identity.second_factor_groups", "admin,@leaders",
                "须双因素认证的组：这些组（组编码，以逗号分隔；@leaders 表示各流程声明的督办领导组）的成员登录时须输入动态验证码（TOTP）",
                unit="", minimum=1, maximum=500),
    # 备份 (service/backup_schedule.py): the daily backup, once a day whichever node polls first
    SettingSpec("backup.at_minute", 120, "每日备份时间：每天几时自动备份数据库，填 0 点起的分钟数（如 120 即凌晨 2:00）",
                unit="分钟（0点起）", minimum=0, maximum=24 * 60 - 1),
    SettingSpec("backup.directory", "instance/backups", "备份目录：每日备份和“立即备份”写入的目录（相对路径以安装目录为起点）；"
                "应在另一块磁盘上，并由本单位定期复制到异地", unit="", minimum=1, maximum=500),
    SettingSpec("backup.keep", 7, "备份保留份数：备份目录中保留最新的多少份备份，每次备份成功后删除更早的",
                unit="份", minimum=1, maximum=365),
    # 安全审计 (service/audit.py): 网络安全法 第二十一条 — logs kept no less than six months
    SettingSpec("audit.keep_days", 180, "审计日志保留天数：审计记录至少保留多少天，更早的记录才可清理（不得少于 180 天）",
                unit="天", minimum=180, maximum=3650),
    # 访问频率限制 (service/web/rate_limits.py), per source address
    SettingSpec("ratelimit.login_per_minute", 10, "登录频率限制：同一来源地址每分钟最多尝试登录多少次",
                unit="次", minimum=1, maximum=1000),
    SettingSpec("ratelimit.api_per_minute", 600, "接口频率限制：同一来源地址（或同一令牌）每分钟最多调用接口多少次",
                unit="次", minimum=10, maximum=100000),
)

_lock = threading.Lock()
_values: dict[str, Any] = {}
_MISSING = object()


_specs: tuple[Any, dict[str, tuple[str | None, SettingSpec]]] | None = None


def specs() -> dict[str, tuple[str | None, SettingSpec]]:
    """Every setting: key → (procedure key or None for the platform, its declaration); built
    once per installed registry (timers read settings on every step)."""
    global _specs
    current = procedure.registry()
    cached = _specs
    if cached is None or cached[0] is not current:
        found: dict[str, tuple[str | None, SettingSpec]] = {s.key: (None, s) for s in PLATFORM}
        for key, (proc, spec) in current.settings().items():
            found[key] = (proc.key, spec)
        cached = _specs = (current, found)
    return cached[1]


def defaults() -> dict[str, Any]:
    return {key: spec.default for key, (_proc, spec) in specs().items()}


def get(key: str) -> Any:
    value = _values.get(key, _MISSING)
    if value is not _MISSING:
        return value
    found = specs().get(key)
    if found is None:
        raise KeyError(f"未知的设置项 {key}")
    return found[1].default


def load(session: Session) -> None:
    """Refresh the in-memory snapshot from the table (called at start and by the timer poll)."""
    global _values
    rows = {r.key: r.value for r in session.scalars(select(Setting).where(Setting.key.not_like("clock.%")))}
    known = specs()
    fresh: dict[str, Any] = {}
    for key, raw in rows.items():
        if key not in known:
            continue
        try:
            fresh[key] = json.loads(raw)
        except ValueError:
            continue
    # Swapped whole, never cleared and refilled: a get() on another thread meanwhile (a case
    # starting while the timer thread polls) must not see the default for an instant.
    with _lock:
        _values = fresh


def put(session: Session, key: str, value: Any) -> None:
    if key not in specs():
        raise KeyError(key)
    row = session.get(Setting, key)
    raw = json.dumps(value, ensure_ascii=False)
    if row is None:
        session.add(Setting(key=key, value=raw))
    else:
        row.value = raw
    with _lock:
        _values[key] = value


def all_values() -> dict[str, Any]:
    return {**defaults(), **_values}


# ----- changes by an administrator (the page and the API; audited) -----------------------------------

PLATFORM_GROUP = "通用"  # the heading of the platform's own settings
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")  # longer digit strings are not read at all
# A setting is a count of days (or similar): this much is a typo even where nothing bounds it.
_LIMIT = 10**9


def _amount(n: int, unit: str) -> str:
    return f"{n} {unit}" if unit else str(n)


def _bounds(spec: SettingSpec) -> str:
    """The allowed range in words, e.g. 最小为 1 天，最大为 365 天."""
    parts = []
    if spec.minimum is not None:
        parts.append(f"最小为 {_amount(spec.minimum, spec.unit)}")
    if spec.maximum is not None:
        parts.append(f"最大为 {_amount(spec.maximum, spec.unit)}")
    return "，".join(parts)


def _refuse(key: str, message: str) -> Invalid:
    return Invalid("设置值不正确", [{"field": key, "message": message}])


_TEXT_MAX = 200  # a text setting without a declared maximum length


def _validated_text(key: str, spec: SettingSpec, raw: Any) -> str:
    """A text setting: a string, trimmed, without control characters, of 1 (or `minimum`) to
    `maximum` characters."""
    if not isinstance(raw, str):
        raise _refuse(key, "应为文字")
    value = raw.strip()
    least, most = max(spec.minimum or 1, 1), spec.maximum or _TEXT_MAX
    if not value:
        raise _refuse(key, "不能为空")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise _refuse(key, "不能包含换行符等控制字符")
    if len(value) < least:
        raise _refuse(key, f"至少 {least} 个字")
    if len(value) > most:
        raise _refuse(key, f"不能超过 {most} 个字（现为 {len(value)} 个字）")
    problem = spec.check(value) if spec.check is not None else None
    if problem:
        raise _refuse(key, problem)
    return value


def validated(key: str, spec: SettingSpec, raw: Any) -> int | str:
    """The integer `raw` stands for (an int, or its digits as a form sends them), within the
    declaration's bounds; anything else is a 422 naming the bound and the unit. A bool is not
    an integer here (JSON `true` would otherwise be stored as 1). A text setting: see
    _validated_text."""
    if spec.is_text:
        return _validated_text(key, spec, raw)
    value: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str) and _INTEGER.fullmatch(raw.strip()):
        value = int(raw.strip())
    bounds = _bounds(spec)
    rule = f"：{bounds}" if bounds else ""
    if value is None:
        what = "请填写整数" if isinstance(raw, str) and not raw.strip() else "应为整数"
        raise _refuse(key, what + (f"（单位：{spec.unit}）" if spec.unit else "") + rule)
    below = spec.minimum is not None and value < spec.minimum
    above = spec.maximum is not None and value > spec.maximum
    if below or above:
        raise _refuse(key, f"不能设为 {_amount(value, spec.unit)}{rule}")
    if abs(value) >= _LIMIT:
        raise _refuse(key, f"数值过大，不能设为 {_amount(value, spec.unit)}")
    return value


def declared(key: str) -> SettingSpec:
    """The declaration of `key`; an undeclared key is a 404 for the page and the API."""
    found = specs().get(key)
    if found is None:
        raise NotFound(f"没有名为 {key} 的设置项")
    return found[1]


def _decoded(raw: str | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def change(session: Session, key: str, raw_value: Any, username: str) -> dict[str, Any]:
    """Validate and store an administrator's new value, with a SettingChange row saying who
    changed it from what (the value in the database, not this process's possibly older copy).
    The same value again writes nothing (`changed` False). Other processes take the value at
    their next timer poll (load())."""
    spec = declared(key)
    value = validated(key, spec, raw_value)
    row = session.get(Setting, key, with_for_update=True)  # PostgreSQL: two admins at once queue here
    before = spec.default if row is None else _decoded(row.value)
    if before == value:
        with _lock:
            _values[key] = value  # this process may not have polled since another one stored it
        return {"key": key, "value": value, "before": before, "changed": False}
    put(session, key, value)
    session.add(SettingChange(key=key, at=clock.now(), username=username,
                              before=None if before is None else json.dumps(before, ensure_ascii=False),
                              after=json.dumps(value, ensure_ascii=False)))
    audit.record(session, audit.SETTING, target=key, username=username,
                 detail=f"{spec.label.split('：')[0]}：{before} → {value}")
    return {"key": key, "value": value, "before": before, "changed": True}


def _group_name(proc_key: str | None) -> str:
    if proc_key is None:
        return PLATFORM_GROUP
    declared = procedure.registry().get(proc_key)
    return declared.name if declared is not None else proc_key


def listing() -> list[dict[str, Any]]:
    """Every setting with its meaning, default, bounds and current value, grouped: the
    platform's first (under 通用), then each procedure's under its name, in declaration order."""
    groups: dict[str | None, dict[str, Any]] = {}
    for key, (proc_key, spec) in specs().items():
        name = _group_name(proc_key)
        group = groups.setdefault(proc_key, {"group": name, "procedure": proc_key, "settings": []})
        group["settings"].append({
            "key": key, "label": spec.label, "unit": spec.unit, "default": spec.default, "value": get(key),
            "minimum": spec.minimum, "maximum": spec.maximum, "group": name,
        })
    return list(groups.values())


def history(session: Session, limit: int = 50) -> list[dict[str, Any]]:
    """The latest changes, newest first, with each key's label (a key no longer declared shows as is)."""
    known = specs()
    rows = session.scalars(select(SettingChange).order_by(SettingChange.id.desc()).limit(limit))
    out = []
    for r in rows:
        found = known.get(r.key)
        out.append({
            "id": r.id, "key": r.key, "at": clock.parse_datetime(r.at).isoformat(timespec="seconds"),
            "username": r.username, "before": _decoded(r.before), "after": _decoded(r.after),
            "label": found[1].label if found else r.key, "unit": found[1].unit if found else "",
            "group": _group_name(found[0]) if found else "",
        })
    return out


CLOCK_KEY = "clock.offset_seconds"


def load_clock(session: Session) -> None:
    """Every process follows the virtual clock offset stored in the database."""
    from datetime import timedelta

    from service import clock

    if not clock.is_virtual():
        return
    row = session.get(Setting, CLOCK_KEY)
    if row is not None:
        clock.set_offset(timedelta(seconds=float(row.value)))


def _span(seconds: float) -> str:
    """A duration in Chinese (3天4小时5分), for the audit row of a clock move."""
    minutes = int(seconds // 60)
    days, hours, rest = minutes // 1440, minutes % 1440 // 60, minutes % 60
    text = "".join(f"{n}{unit}" for n, unit in ((days, "天"), (hours, "小时"), (rest, "分")) if n)
    return text or f"{seconds:g}秒"


def advance_clock(session: Session, delta_seconds: float) -> float:
    """Move the shared virtual clock forward; returns the new offset in seconds."""
    from datetime import timedelta

    from service import clock

    if delta_seconds < 0:
        raise ValueError("时钟只能向前拨动")
    row = session.get(Setting, CLOCK_KEY)
    current = float(row.value) if row is not None else clock.offset().total_seconds()
    value = current + delta_seconds
    if row is None:
        session.add(Setting(key=CLOCK_KEY, value=str(value)))
    else:
        row.value = str(value)
    clock.set_offset(timedelta(seconds=value))
    audit.record(session, audit.CLOCK, target=CLOCK_KEY,
                 detail=f"模拟时钟向前拨动 {_span(delta_seconds)}（累计偏移 {_span(value)}）")
    return value
