"""The petition's sample case (信访件样例), shared by the tests, the bench and demos.

One letter petition (来信) about unpaid wages, and the steps that take it down the `dept` route
from 归纳分类 to 答复: the same data everywhere a "typical petition" is needed, so the tests, the
figures of `govflow bench` and the demos all exercise one case.

- `START_BASE`: the start form data without `received_at`;
- `start(now)`: the start data received `now` (default: the service clock), so every deadline
  and ladder timer lies in the future;
- `dept_route(now)`: (user, bpmn_id, form data) of each user task classify → reply, completed
  by the demo users (`xfk1`, `bgs`, `msz`, `fgw1`); after `reply` the case waits for the review window;
- `load_petition_model()`: the parsed `petition` process of bpmn/petition.bpmn.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from service import clock

START_BASE: dict[str, Any] = {
    "channel": "来信",
    "people_count": 1,
    "petitioner_name": "张三",
    "petitioner_id_number": "530102199001071234",
    "petitioner_phone": "13812345678",
    "petitioner_address": "云南省临沧市临翔区南塘街1号",
    "subject": "反映某公司拖欠工资",
    "content": "某公司拖欠工资三个月，请求督促解决。",
}


def start(now: datetime | None = None) -> dict[str, Any]:
    """The sample start data, received `now` (default: the service clock)."""
    now = now or clock.now()
    return {**START_BASE, "received_at": now.isoformat(timespec="seconds")}


def dept_route(now: datetime | None = None) -> list[tuple[str, str, dict[str, Any]]]:
    """(user, bpmn_id, form data) of the `dept` route, classify → reply."""
    today = (now or clock.now()).date().isoformat()
    return [
        ("xfk1", "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"}),
        ("xfk1", "propose", {"proposal": "建议交法制工作委员会办理"}),
        ("bgs", "leader_sign", {"decision": "approve", "comment": "同意"}),
        ("msz", "sg_approve", {"decision": "approve", "comment": "同意"}),
        ("fgw1", "handle", {"outcome": "done", "result": "已督促企业支付工资"}),
        ("xfk1", "review_result", {"decision": "accept"}),
        ("xfk1", "reply", {"reply_text": "经查，工资已支付。", "replied_at": today, "delivery": "邮寄"}),
    ]


def load_petition_model() -> Any:
    """The `petition` process spec of bpmn/petition.bpmn, parsed as deploys parse it."""
    from service.config import Settings
    from service.deploy import safe_parse
    from service.engine import parse_processes

    path = Settings(secret_key="sample").bpmn_dir / "petition.bpmn"
    return parse_processes(safe_parse(path.read_bytes()), "petition.bpmn")["petition"]
