"""The demo organisation of API.md (`govflow init --demo`): the groups of PROCEDURES.md and a
user in each. Every demo user's password is `govflow-demo`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# A unit of the office (a 委室 `dept_*`, or a county-level congress `county_<x>`) as opposed to a
# role inside a county (its web admin `county_<x>_web`, its reviewing leader `county_<x>_leader`).
DEPARTMENT_PREFIX = "dept_"
COUNTY_PREFIX = "county_"
COUNTY_ROLES = ("_web", "_leader")
# The keys of units (a regex, fullmatch): what the unit pickers of the forms (`x-group-pattern`) and
# the 改派 rules (`reassign_to` entries starting with "^") offer. A county role has a further "_".
UNIT_PATTERN = "(dept|county)_[a-z0-9]+"


def county_of(group_key: str) -> str | None:
    """The county unit a county role belongs to (`county_linxiang_web` → `county_linxiang`)."""
    if group_key.startswith(COUNTY_PREFIX):
        for role in COUNTY_ROLES:
            if group_key.endswith(role) and len(group_key) > len(COUNTY_PREFIX) + len(role):
                return group_key[: -len(role)]
    return None


def is_unit(group_key: str) -> bool:
    """A department or a county congress: what handles cases, reports and is counted."""
    return re.fullmatch(UNIT_PATTERN, group_key) is not None


def is_county(group_key: str) -> bool:
    return is_unit(group_key) and group_key.startswith(COUNTY_PREFIX)


@dataclass(frozen=True)
class Organisation:
    groups: dict[str, str]  # group key → name
    users: list[tuple[str, str, list[str]]]  # (username, name, group keys)
    password: str
    # group key → 组类别 (service/organisation.py KINDS); a group not named here: demo_kind(key)
    kinds: dict[str, str] = field(default_factory=dict)


LEADER_GROUPS = ("office_leader", "secretary_general", "leadership", "emergency_group")


def demo_kind(group_key: str) -> str:
    """The kind of a demo group: the platform's roles, units by prefix, the leaders' groups."""
    if group_key in ("admin", "designer"):
        return "platform"
    if group_key in LEADER_GROUPS or group_key.endswith("_leader"):
        return "leaders"
    if group_key.startswith(DEPARTMENT_PREFIX):
        return "department"
    if group_key.startswith(COUNTY_PREFIX):
        return "county"
    return "office"


_DEMO_GROUPS = {
    "admin": "系统管理员",
    "designer": "流程设计员",
    "xfk": "信访科",
    "office_leader": "办公室分管领导",
    "secretary_general": "秘书长",
    "leadership": "常委会领导",
    "dept_fgw": "法制工作委员会",
    "dept_cjw": "财政经济委员会",
    "dept_jsw": "监察和司法委员会",
    "county_linxiang": "临翔区人大常委会",
    "county_fengqing": "凤庆县人大常委会",
    "zzb": "机关综治办",
    "emergency_group": "应急领导小组",
    "web_admin": "网站管理员",
    "county_linxiang_web": "临翔区人大网站管理员",
    "county_linxiang_leader": "临翔区人大分管领导",
    "county_fengqing_web": "凤庆县人大网站管理员",
    "county_fengqing_leader": "凤庆县人大分管领导",
}

DEMO = Organisation(
    groups=_DEMO_GROUPS,
    kinds={key: demo_kind(key) for key in _DEMO_GROUPS},
    users=[
        ("admin", "系统管理员", ["admin"]),
        ("sjy1", "流程设计员", ["designer"]),
        ("xfk1", "信访科 张科员", ["xfk"]),
        ("xfk2", "信访科 李科员", ["xfk"]),
        ("bgs", "办公室分管领导", ["office_leader"]),
        ("msz", "秘书长", ["secretary_general", "emergency_group"]),
        ("zr", "主任", ["leadership", "emergency_group"]),
        ("fgw1", "法制工作委员会", ["dept_fgw"]),
        ("cjw1", "财政经济委员会", ["dept_cjw"]),
        ("jsw1", "监察和司法委员会", ["dept_jsw"]),
        ("linxiang1", "临翔区人大常委会", ["county_linxiang"]),
        ("zzb1", "机关综治办", ["zzb"]),
        ("web1", "网站管理员", ["web_admin"]),
        ("lxweb1", "临翔区人大网站管理员", ["county_linxiang_web"]),
        ("lxld1", "临翔区人大分管领导", ["county_linxiang_leader"]),
    ],
    password="govflow-demo",
)
