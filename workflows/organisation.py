"""The demo organisation of API.md (`govflow init --demo`): the groups of PROCEDURES.md and a
user in each. Every demo user's password is `govflow-demo`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Organisation:
    groups: dict[str, str]  # group key → name
    users: list[tuple[str, str, list[str]]]  # (username, name, group keys)
    password: str


DEMO = Organisation(
    groups={
        "admin": "系统管理员",
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
    },
    users=[
        ("admin", "系统管理员", ["admin"]),
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
    ],
    password="govflow-demo",
)
