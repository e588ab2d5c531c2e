"""What the designer's-workshop tests share: a page session (logged in through /login with its
CSRF token, as the browser is) whose JSON calls carry the X-CSRFToken header, the petition's
diagram, and reads of the stored versions and drafts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

PASSWORD = "govflow-demo"
ROOT = Path(__file__).resolve().parent.parent
PETITION_XML = (ROOT / "bpmn" / "petition.bpmn").read_text(encoding="utf-8")
LEADER_SIGN_NAME = 'name="分管领导签阅"'


def petition_xml(leader_sign: str = "分管领导签阅", group: str | None = None) -> str:
    """The petition diagram with the leader_sign task renamed (and its group changed)."""
    xml = PETITION_XML.replace(LEADER_SIGN_NAME, f'name="{leader_sign}"', 1)
    if group is not None:
        xml = re.sub(r'(<bpmn:userTask id="leader_sign"[^>]*camunda:candidateGroups=")[^"]*"',
                     lambda m: f'{m.group(1)}{group}"', xml, count=1)
    return xml


class Session:
    """A logged-in page session: `csrf` goes with every POST/PUT/DELETE as the modeler sends it."""

    def __init__(self, app: Any, username: str) -> None:
        self.client = app.test_client()
        page = self.client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        self.csrf = token.group(1)
        r = self.client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": self.csrf})
        assert r.status_code == 302, r.get_data(as_text=True)

    def headers(self, csrf: bool = True) -> dict[str, str]:
        return {"X-CSRFToken": self.csrf} if csrf else {}

    def get(self, path: str) -> Any:
        return self.client.get(path)

    def post(self, path: str, json: Any = None, csrf: bool = True, **kwargs: Any) -> Any:
        return self.client.post(path, json=json, headers=self.headers(csrf), **kwargs)

    def put(self, path: str, json: Any = None, csrf: bool = True, **kwargs: Any) -> Any:
        return self.client.put(path, json=json, headers=self.headers(csrf), **kwargs)

    def delete(self, path: str, csrf: bool = True) -> Any:
        return self.client.delete(path, headers=self.headers(csrf))


def versions(app: Any, key: str = "petition") -> list[tuple[int, str | None, str | None]]:
    """(version, deployed_by, comment) of every version of `key`, oldest first."""
    from sqlalchemy import select

    from service.store.models import Definition

    with app.extensions["govflow"].db.read() as session:
        rows = session.execute(select(Definition.version, Definition.deployed_by, Definition.comment)
                               .where(Definition.key == key).order_by(Definition.version))
        return [(v, by, comment) for v, by, comment in rows]


def definition_id(app: Any, version: int, key: str = "petition") -> int:
    from sqlalchemy import select

    from service.store.models import Definition

    with app.extensions["govflow"].db.read() as session:
        found = session.scalar(select(Definition.id).where(Definition.key == key, Definition.version == version))
    assert found is not None
    return int(found)


def stored_draft(app: Any, key: str = "petition") -> dict[str, Any] | None:
    """The draft row as stored (None when there is none)."""
    import json

    from service import drafts

    with app.extensions["govflow"].db.read() as session:
        draft = drafts.get(session, key)
        if draft is None:
            return None
        return {"xml": draft.bpmn_xml, "forms": json.loads(draft.forms), "status": draft.status,
                "comment": draft.comment, "base_version": draft.base_version, "updated_by": draft.updated_by,
                "submitted_by": draft.submitted_by}
