"""One-time form tokens: every page form that creates or completes something (登记, 办理, a
message, 督办) carries a random `submission_token`, and its POST runs through
service.submissions.once keyed by it, so a double click redirects twice to the same result
instead of registering a second case."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from typing import Any

from flask import flash, redirect, request

from service.errors import BadRequest
from service.submissions import MAX_KEY_LENGTH, once
from service.web.context import services
from service.web.guards import current_actor

TOKEN_FIELD = "submission_token"


def submission_token() -> str:
    """The token to render into a form (a Jinja global): the posted one when a refused form is
    shown again, so the corrected resubmit is still the same submission; else a fresh one."""
    posted = request.form.get(TOKEN_FIELD, "").strip() if request.method == "POST" else ""
    if posted and len(posted) <= MAX_KEY_LENGTH:
        return posted
    return secrets.token_urlsafe(24)


def submit_once(action: Callable[[], tuple[str, str]]) -> Any:
    """Run a page's POST once per form token. `action()` does the work and returns (where to go,
    the success message); a repeat of the token flashes the same message and goes to the same
    page. A form without a token (a page cached before tokens existed) works as before."""
    token = request.form.get(TOKEN_FIELD, "").strip()
    if not token:
        location, message = action()
    else:
        if len(token) > MAX_KEY_LENGTH:
            raise BadRequest("表单令牌无效，请刷新页面后重试")

        def run() -> tuple[int, str]:
            target, text = action()
            return 302, json.dumps({"location": target, "flash": text}, ensure_ascii=False)

        # scoped by the form's action: a page shown again after a refused post renders the posted
        # token into each of its forms, and 催办 must not answer for the 挂牌督办 next to it
        key = "form:" + hashlib.sha256(f"{request.path}\0{token}".encode()).hexdigest()
        _status, body = once(services().db, current_actor().username, key, run)
        answer = json.loads(body)
        location, message = answer["location"], answer["flash"]
    flash(message, "success")
    return redirect(location)
