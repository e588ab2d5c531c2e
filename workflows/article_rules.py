"""The article procedure's pure rules that its declaration, read models and pages share (and the
public site and statistics may read): the columns of 第五条, the review points of 第四条, the
same-day deadline of 第八条, the stages of an article. No imports of the other article modules,
so that each of them may import this one."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from service import calendar, clock, config_store

PROCESS_KEY = "article_publication"
COUNTY_COLUMN = "县(区)人大"

# 第五条: the fixed columns, then the topic columns (活动专题栏目), adjusted from time to time.
FIXED_COLUMNS = ("人大要闻", "公告通知", "监督纵横", "代表工作", "代表大会会议", "常委会会议", "主任会议", "领导讲话",
                 "选举任免", "立法工作", "人大论坛", "法律法规", "常委会文件", "机关建设", "机关党建", "学习研究", "学习园地",
                 "工作调研", "文艺园地", "最新图片", COUNTY_COLUMN)
TOPIC_COLUMNS = ("主题教育", "代表为民办实事说实话")
COLUMNS_DEFAULT = ",".join((*FIXED_COLUMNS, *TOPIC_COLUMNS))
COLUMNS_SETTING = f"{PROCESS_KEY}.columns"

# 第四条: what a review checks, in the order of the rule.
CHECK_POINTS = {"wording": "文字", "secrecy": "保密", "ideology": "意识形态", "ethnic_religion": "民族宗教",
                "border": "涉边"}

# An article's stage (read model `articles`), in the order it passes them.
STAGES = {"editing": "编辑中", "reviewing": "待审核", "publishing": "待发布", "published": "已发布",
          "withdrawn": "已撤稿"}

_SPLIT = re.compile(r"[,，、\n\r]+")


def split_columns(raw: str) -> list[str]:
    return [c.strip() for c in _SPLIT.split(raw) if c.strip()]


def columns() -> list[str]:
    """The columns of the setting `article_publication.columns`, in its order."""
    return split_columns(str(config_store.get(COLUMNS_SETTING)))


def same_day_due(received_at: str | datetime) -> str:
    """第八条 (当天收到的稿件应当天编审上传): the end (23:59:59+08:00) of the day the article was
    received if that is a working day, else of the next working day (legal calendar)."""
    day = clock.parse_datetime(received_at).date()
    if not calendar.is_working_day(day):
        day = calendar.next_working_day(day)
    return calendar.deadline_end(day).isoformat()


def failed_points(checks: Any, comments: Any) -> str:
    """The failed review points with their comments, one Chinese line: 「保密：…；涉边：…」."""
    checks = checks if isinstance(checks, dict) else {}
    comments = comments if isinstance(comments, dict) else {}
    parts = []
    for key, title in CHECK_POINTS.items():
        if checks.get(key) is False:
            note = str(comments.get(key) or "").strip()
            parts.append(f"{title}：{note}" if note else f"{title}：未通过")
    return "；".join(parts)
