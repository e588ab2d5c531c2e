"""What every blueprint shares with the app factory, in a module of its own so the blueprints
never import the factory (service/web/__init__.py) that imports them: the running app's
services, the CSRF guard, and Flask-Login's view of a user."""

from __future__ import annotations

from flask_wtf.csrf import CSRFProtect

from service import delegations, suspensions
from service.auth import actor_for
from service.bootstrap import Services
from service.store.models import User

csrf = CSRFProtect()


class LoginUser:
    """Flask-Login's view of a user: id plus the Actor the service layer wants."""

    def __init__(self, user: User) -> None:
        self.id = user.id
        self.username = user.username
        self.name = user.name
        # loaded on every request (Flask-Login's user loader): a revoked delegation stops at once,
        # and a suspended membership (停权) is gone from the actor's groups at once
        db = services().db
        self.actor = suspensions.restrict(db, delegations.attach(db, actor_for(user)))
        self.groups = sorted(self.actor.groups)
        self.is_authenticated = True
        self.is_active = user.active
        self.is_anonymous = False

    def get_id(self) -> str:
        return str(self.id)


def services() -> Services:
    from flask import current_app

    return current_app.extensions["govflow"]
