"""Who is acting: the user's name and groups, as the service layer needs them."""

from __future__ import annotations

from dataclasses import dataclass

SUPERVISOR_GROUPS = frozenset({"leadership", "secretary_general", "office_leader", "admin"})


@dataclass(frozen=True)
class Actor:
    username: str
    name: str = ""
    groups: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        return "admin" in self.groups

    @property
    def is_supervisor(self) -> bool:
        return bool(self.groups & SUPERVISOR_GROUPS)

    def may_act(self, candidate_groups: list[str] | str, assignee: str | None) -> bool:
        """A task is this user's if it is assigned to them or offered to one of their groups."""
        if assignee:
            return assignee == self.username
        groups = candidate_groups.split(",") if isinstance(candidate_groups, str) else candidate_groups
        return bool(self.groups.intersection(g for g in groups if g))


SYSTEM = Actor(username="system", name="系统", groups=frozenset({"system"}))
