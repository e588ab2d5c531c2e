"""Who is acting: the user's name and groups, as the service layer needs them."""

from __future__ import annotations

from dataclasses import dataclass

ADMIN_GROUP = "admin"  # the platform's own role: designers and user administrators


@dataclass(frozen=True)
class Actor:
    username: str
    name: str = ""
    groups: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        return ADMIN_GROUP in self.groups


SYSTEM = Actor(username="system", name="系统", groups=frozenset({"system"}))
