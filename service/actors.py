"""Who is acting: the user's name and groups, as the service layer needs them."""

from __future__ import annotations

from dataclasses import dataclass

ADMIN_GROUP = "admin"  # the platform's own role: designers and user administrators
# 流程设计员: may edit drafts of diagrams and forms and submit them; only `admin` deploys.
DESIGNER_GROUP = "designer"


@dataclass(frozen=True)
class Delegator:
    """委托: someone whose tasks this actor may act on now, in their name (service/delegations.py)."""

    username: str
    name: str = ""
    groups: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Actor:
    username: str
    name: str = ""
    groups: frozenset[str] = frozenset()  # the user's own groups: starting, supervising, administering
    # the active delegations this user holds (loaded per request): acting on tasks only, see
    # service.policy.acting_for
    delegators: tuple[Delegator, ...] = ()

    @property
    def is_admin(self) -> bool:
        return ADMIN_GROUP in self.groups

    @property
    def is_designer(self) -> bool:
        """May open the modeler and edit drafts (administrators and 流程设计员)."""
        return ADMIN_GROUP in self.groups or DESIGNER_GROUP in self.groups


SYSTEM = Actor(username="system", name="系统", groups=frozenset({"system"}))
