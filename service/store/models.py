"""SQLAlchemy 2 models. Lists and inboxes read the projected columns, never the state JSON."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from service.sealed import SealedText


class Base(DeclarativeBase):
    pass


class Group(Base):
    __tablename__ = "groups"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    # 组类别 (service/organisation.py KINDS): department, county, leaders, office, platform
    kind: Mapped[str] = mapped_column(String(16), default="office", server_default="office")


class UserGroup(Base):
    __tablename__ = "user_groups"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    group_key: Mapped[str] = mapped_column(ForeignKey("groups.key", ondelete="CASCADE"), primary_key=True)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    email: Mapped[str | None] = mapped_column(String(256), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    groups: Mapped[list[Group]] = relationship(secondary="user_groups", lazy="selectin")

    @property
    def group_keys(self) -> list[str]:
        return sorted(g.key for g in self.groups)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Definition(Base):
    """One deployed version of one process (a diagram file may hold several processes)."""

    __tablename__ = "definitions"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(128), index=True)
    name: Mapped[str] = mapped_column(String(256))
    version: Mapped[int] = mapped_column(Integer)
    bpmn_xml: Mapped[str] = mapped_column(Text, deferred=True)
    checksum: Mapped[str] = mapped_column(String(64))
    start_form_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    deployed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deployed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)  # the deployer's 版本说明


class Sequence(Base):
    """Gap-free counters (business keys): incremented inside the instance's transaction."""

    __tablename__ = "sequences"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class Instance(Base):
    __tablename__ = "instances"
    __table_args__ = (
        # (filter, id): lists are newest-first by id, so each filter reads its index backwards
        # and stops at the page size instead of sorting every match.
        Index("ix_instances_process_status", "process_key", "status", "id"),
        Index("ix_instances_process_id", "process_key", "id"),
        Index("ix_instances_status_id", "status", "id"),
        Index("ix_instances_status_due", "status", "due_at"),
        Index("ix_instances_status_last_step", "status", "last_step_at"),
        # 办结: finished cases, newest completed first
        Index("ix_instances_status_completed", "status", "completed_at"),
        # 重复信访 and the like: a new case looks for a running case of its procedure with the
        # same match hash (e.g. of the petitioner's ID number) — one index probe per start.
        Index("ix_instances_process_match", "process_key", "match_hash", "status"),
        UniqueConstraint("idempotency_key", name="uq_instances_idempotency_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("definitions.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(128))
    business_key: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(256), default="")
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    started_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_step_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    handling_group: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)  # the last engine failure (an incident)
    error_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    listed: Mapped[bool] = mapped_column(Boolean, default=False)
    listed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    serializer_version: Mapped[str] = mapped_column(String(16))
    # A hash (never the value: it is personal data) of the procedure's duplicate key.
    match_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # 演练: a drill runs like any case but is marked everywhere and left out of statistics.
    drill: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # 防篡改: the head of the case's history chain (service/hash_chain.py) — the last row's number
    # and the keyed link after it; moved by every history insert, under this row's lock.
    history_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    history_head: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The engine state lives in its own table: list scans read small rows only.
    state_row: Mapped[InstanceState] = relationship(lazy="select", uselist=False, cascade="all, delete-orphan")

    @property
    def state(self) -> str:
        return self.state_row.state

    @state.setter
    def state(self, value: str) -> None:
        if self.state_row is None:
            self.state_row = InstanceState(state=value)
        else:
            self.state_row.state = value


class InstanceState(Base):
    """The serialized SpiffWorkflow state of one instance (without the process definition)."""

    __tablename__ = "instance_states"

    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[str] = mapped_column(SealedText)  # sealed: it holds every form field


class HumanTask(Base):
    """Projection of the engine's ready user tasks, for fast inbox queries."""

    __tablename__ = "human_tasks"
    __table_args__ = (
        Index("ix_human_tasks_state_due", "state", "due_at"),
        Index("ix_human_tasks_assignee_state", "assignee", "state"),
        Index("ix_human_tasks_instance_state", "instance_id", "state"),
        # 已办: a user's completed tasks, newest first
        Index("ix_human_tasks_completed_by", "completed_by", "completed_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    process_key: Mapped[str] = mapped_column(String(128))
    business_key: Mapped[str] = mapped_column(String(64))
    bpmn_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(256))
    form_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    candidate_groups: Mapped[str] = mapped_column(String(512), default="")
    assignee: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    completed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class TaskCandidate(Base):
    """One row per (open task, candidate group): the inbox joins on the user's groups."""

    __tablename__ = "task_candidates"
    __table_args__ = (Index("ix_task_candidates_inbox", "group_key", "due_sort", "created_at"),)

    task_id: Mapped[str] = mapped_column(ForeignKey("human_tasks.id", ondelete="CASCADE"), primary_key=True)
    group_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Copied from the task so the inbox reads one index in order: due date (none = last), arrival.
    due_sort: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Timer(Base):
    """Projection of the engine's waiting timers; the scheduler polls this by due_at."""

    __tablename__ = "timers"
    __table_args__ = (Index("ix_timers_state_due", "state", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(256))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(16))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    fired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # A timer whose step keeps failing is counted; at the limit it is `failed` (an incident)
    # instead of being retried at every poll.
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class History(Base):
    """Append-only record of every action (who, what, when, data before/after)."""

    __tablename__ = "history"
    # one place per row in its case's chain: two writers can never fork a chain; it also serves
    # every lookup by case (a second index on instance_id alone was one more page per step)
    __table_args__ = (Index("ux_history_chain", "instance_id", "seq", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    task_bpmn_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    task_name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    task_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    data_before: Mapped[str | None] = mapped_column(SealedText, nullable=True)  # sealed: form data
    data_after: Mapped[str | None] = mapped_column(SealedText, nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    on_behalf_of: Mapped[str | None] = mapped_column(String(64), nullable=True)  # 委托: the delegator
    # 防篡改 (service/hash_chain.py): the row's place in its case's chain and its keyed hash
    seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    row_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Setting(Base):
    """Small shared settings (virtual clock offset, ladder offsets, stalled-days threshold)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Notice(Base):
    """An in-app notice (提醒/催办/要求汇报/催报…) to a user or to every member of a group."""

    __tablename__ = "notices"
    __table_args__ = (
        Index("ix_notices_user", "recipient_user", "created_at"),
        Index("ix_notices_group", "recipient_group", "created_at"),
        UniqueConstraint("dedup_key", name="uq_notices_dedup"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), nullable=True,
                                                    index=True)
    task_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    recipient_user: Mapped[str | None] = mapped_column(String(64), nullable=True)
    recipient_group: Mapped[str | None] = mapped_column(String(64), nullable=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    dedup_key: Mapped[str | None] = mapped_column(String(200), nullable=True)


class NoticeRead(Base):
    __tablename__ = "notice_reads"

    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    read_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Delivery(Base):
    """Outbox of notices to send through a channel (e-mail, SMS, WeCom): sent after commit."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_state", "state", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(256))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Supervision(Base):
    """The supervision log (督办台账): ladder rungs, manual 催办, 挂牌督办, reassignments."""

    __tablename__ = "supervision_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(32))
    username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    group_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    text: Mapped[str] = mapped_column(Text, default="")


class SettingChange(Base):
    """Who changed which setting when, and from what to what (before/after as JSON): a rule's
    number (a deadline, a ladder offset) decides cases, so every change of it is accountable."""

    __tablename__ = "setting_changes"
    # "Who changed 办理期限, and what was it on the day this case was registered?" reads one
    # key's changes in time order; without (key, at) it scans the whole log.
    __table_args__ = (Index("ix_setting_changes_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    username: Mapped[str] = mapped_column(String(64))
    before: Mapped[str | None] = mapped_column(Text, nullable=True)
    after: Mapped[str] = mapped_column(Text)


class InstanceLink(Base):
    """A relation between two cases (重复信访 `duplicate`, 集体访 → 应急 `emergency`, a round →
    its dispute cases `source`): one row, shown on both cases."""

    __tablename__ = "instance_links"
    __table_args__ = (
        # a case page reads its links from either end
        Index("ix_instance_links_from", "from_id"),
        Index("ix_instance_links_to", "to_id"),
        UniqueConstraint("from_id", "to_id", "relation", name="uq_instance_links"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    from_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    to_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    relation: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReadRow(Base):
    """A row a procedure keeps for itself (a read model: the public site's published articles,
    a round's per-department reports), written in the step's own transaction and rebuilt from
    the history by `govflow rebuild-read-models` if it is ever lost."""

    __tablename__ = "read_rows"
    __table_args__ = (
        UniqueConstraint("model", "row_key", name="uq_read_rows_model_key"),
        # a model's rows by tag (a column, a department) newest first: the public site's pages
        Index("ix_read_rows_model_tag_sort", "model", "tag", "sort_at"),
        # everything one case wrote: dropped and rewritten when it is rebuilt
        Index("ix_read_rows_instance", "instance_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(64))
    row_key: Mapped[str] = mapped_column(String(200))
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    tag: Mapped[str | None] = mapped_column(String(128), nullable=True)
    sort_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    data: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class InstanceGroup(Base):
    """Every group handling a case (one per department when a task goes to each): what lists,
    visibility and personal-data rules read when one `handling_group` column is not enough."""

    __tablename__ = "instance_groups"
    __table_args__ = (
        # a department's cases: the visibility check probes (group, instance)
        Index("ix_instance_groups_group", "group_key", "instance_id"),
    )

    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True)
    group_key: Mapped[str] = mapped_column(String(64), primary_key=True)


class Submission(Base):
    """One claimed submission (an API `Idempotency-Key`, a page form's one-time token): the first
    answer to it, so a repeat (a double click, a client retrying after a timeout) gets that answer
    instead of a second case. `status` is NULL while the first request is still running. Rows
    older than 24 h are ignored and purged (service/submissions.py)."""

    __tablename__ = "submissions"
    __table_args__ = (
        # the claim itself: a second request with the same (user, key) fails here and waits for the
        # first answer instead of running the action again
        UniqueConstraint("username", "key", name="uq_submissions_user_key"),
        # the purge of entries older than 24 h, run at each claim: a range scan, not the whole table
        Index("ix_submissions_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(210))
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    body: Mapped[str | None] = mapped_column(SealedText, nullable=True)  # sealed: an answer may echo form data
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
