"""The procedure contract: what a procedure declares so that the platform can run it.

A procedure is its diagram(s) in bpmn/, its forms in forms/ and one `Procedure` declared in
workflows/. Everything in service/ reads procedures only through this contract (a registry
installed once at start-up, see service/bootstrap.py), so the engine room names no process,
group or rule of its own; adding a procedure touches nothing here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from service.attachment_rules import DEFAULT as DEFAULT_ATTACHMENTS
from service.attachment_rules import AttachmentRules

FieldErrors = list[dict[str, str]]
# (form data, the task's data before this step, every group key) → Chinese field errors
Validator = Callable[[dict[str, Any], dict[str, Any], set[str]], FieldErrors]
# (validated form data, the case data before this step ({} for the start), the acting user's own
# groups) → keys the step adds to what was submitted (kept in the workflow data and the history's
# data_after); may raise service.errors.Invalid (422, nothing written). See service/runtime/derive.py.
Deriver = Callable[[dict[str, Any], dict[str, Any], frozenset[str]], dict[str, Any]]
Masker = Callable[[str | None], str | None]


@dataclass(frozen=True)
class Numbering:
    """统一编号 `<prefix>-<year>-<n>`, sequential per year, allocated inside the start's transaction.

    `by_period`: a round is numbered by its period instead (`<prefix>-<YYYY>-<MM>` for a month,
    `<prefix>-<YYYYMMDD>` for a day, see service/schedule.py); a start without a period still
    gets the running number."""

    prefix: str
    digits: int = 6
    by_period: bool = False


@dataclass(frozen=True)
class Starters:
    """Who may start a case. Closed by default: nobody but the system administrator."""

    groups: frozenset[str] = frozenset()
    anyone: bool = False  # "any logged-in user" has to be said, never assumed
    label: str = "发起"  # the navigation entry / button, e.g. 登记信访
    refusal: str = "您无权发起此流程"
    hint: str = ""  # a line shown above the start form
    path: str | None = None  # an extra, readable URL of the start page, e.g. /petitions/new
    # fnmatch patterns of group keys whose members may start too (a family of groups, e.g. every
    # county's web admins); read by service.policy.may_start only.
    patterns: tuple[str, ...] = ()
    # Shown on every page as a big red button too (e.g. 报告突发事件), not only in the menu.
    prominent: bool = False


ANY_LOGGED_IN_USER = Starters(anyone=True)


@dataclass(frozen=True)
class MessageRule:
    """A BPMN message people may send to a waiting case (e.g. 复查申请), and who may send it."""

    name: str
    label: str  # what the message is, e.g. 复查申请 (history, flash)
    senders: frozenset[str]
    refusal: str = "您无权向此案件发送该消息"
    action: str = ""  # the case page's button, e.g. 登记复查申请
    prompt: str = ""  # the line beside the button
    confirm: str = ""  # the browser's confirmation question
    deadline_key: str | None = None  # a data key shown as the window's end
    # The form (forms/<key>.json) its payload is validated against, on the case page and the API
    # alike; the payload lands in the data as `<name>_data`. A validator declared under the
    # message's name in `Procedure.validators` applies too.
    form_key: str | None = None


@dataclass(frozen=True)
class PersonalData:
    """Fields shown in clear only to `readers` (and, if `handling_unit`, to the unit handling
    that very case); everyone else, every list, export and log line sees them masked."""

    maskers: Mapping[str, Masker]
    readers: frozenset[str]
    handling_unit: bool = True
    # Maskers of keys holding lists or objects that carry personal data inside (a screening
    # round's `reports`, each listing disputes and their parties): given the value, return a
    # masked copy.
    nested: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)

    def mask(self, data: dict[str, Any]) -> dict[str, Any]:
        masked = dict(data)
        for name, masker in self.maskers.items():
            value = masked.get(name)
            if isinstance(value, str):
                masked[name] = masker(value)
        for name, nested in self.nested.items():
            if masked.get(name) is not None:
                masked[name] = nested(masked[name])
        return masked


@dataclass(frozen=True)
class SettingSpec:
    """A number of the rules an administrator may change without editing code — or a text
    (a letterhead, a document-number prefix) when `default` is a str: then `minimum`/`maximum`
    bound its length in characters (at least 1) and `unit` is "".

    `key` is local to its procedure: the stored key is `<procedure>.<key>`."""

    key: str
    default: int | str
    label: str  # what it means, in Chinese
    unit: str = "天"
    minimum: int | None = None
    maximum: int | None = None
    # A text setting's own format rule (e.g. `栏目=金额` pairs): the Chinese error, or None if the
    # (trimmed) value reads; applied wherever settings are validated (service/config_store.py).
    check: Callable[[str], str | None] | None = field(default=None, compare=False)

    @property
    def is_text(self) -> bool:
        return isinstance(self.default, str)


@dataclass(frozen=True)
class NavLink:
    """A page of the procedure in the top navigation (e.g. 稿件列表), shown to those `may` lets in."""

    label: str
    endpoint: str  # the Flask endpoint of one of the procedure's blueprints
    may: Callable[[Any], bool]  # actor → whether the entry is shown (the page asks the same rule)


@dataclass(frozen=True)
class Procedure:
    """One procedure's declaration (workflows/ holds a complete example per procedure)."""

    key: str  # the BPMN process id
    name: str
    numbering: Numbering
    starters: Starters = Starters()
    owners: frozenset[str] = frozenset()  # see every case of it and receive what has no other addressee
    supervisors: frozenset[str] = frozenset()  # 督办: see, urge, list and reassign every case of it
    personal: PersonalData | None = None
    # Script helpers, reachable in the diagram as `<key>.<name>(...)` so names cannot collide.
    helpers: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    validators: Mapping[str, Validator] = field(default_factory=dict)  # bpmn_id (or "start") → rule beyond the JSON Schema
    # bpmn_id (or "start") → the keys that step adds once its form and validator passed (e.g. the
    # groups a case goes to, from who registers it); linked and scheduled starts derive as SYSTEM.
    derive: Mapping[str, Deriver] = field(default_factory=dict)
    # 停权: fnmatch patterns of the groups whose members the administrator may suspend (and restore);
    # a suspended member's Actor lacks that group (service/suspensions.py).
    suspendable: tuple[str, ...] = ()
    notice_kinds: Mapping[str, str] = field(default_factory=dict)  # kind → 中文名 of the notices its scripts raise
    deadline_notices: frozenset[str] = frozenset()  # kinds sent once per deadline and recipient
    notice_text: Callable[[str, dict[str, Any], dict[str, str], Any], str | None] | None = None
    settings: tuple[SettingSpec, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)  # Chinese labels of data keys no form has (computed ones)
    unit_keys: frozenset[str] = frozenset()  # computed data keys holding a group key: shown by the group's name
    messages: tuple[MessageRule, ...] = ()
    # 改派: bpmn_id → the groups a supervisor may move that step's task to, each a group key or a
    # prefix ending in "_" (a family of units); "*" is the default for steps not listed. A step listed
    # nowhere may go to its own groups only; the platform's `admin` group never.
    reassign_to: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # 签收回执: the steps (bpmn ids) handed to a unit whose first claim is recorded as a receipt,
    # shown on the case page (service/receipts.py).
    receipts: frozenset[str] = frozenset()
    # bpmn_id → (title, data keys): a box above that step's form showing those keys when the case
    # has them (e.g. why a unit sent the case back to 归纳分类), see service/web/step_notes.py.
    step_notes: Mapping[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    title_keys: tuple[str, ...] = ("subject", "title")
    # A start whose value of this key matches a running case of the procedure is a duplicate
    # (重复信访): its data gets `duplicate_of` (the other's number), both get a `duplicate` link.
    duplicate_key: str | None = None
    # Personal data keys 案件查询 may search by (exact match, kept only as a keyed hash in
    # case_search_keys, see service/search_keys.py): data key → its Chinese label.
    search_keys: Mapping[str, str] = field(default_factory=dict)
    # Chinese names of the relations its cases have with others (e.g. duplicate → 重复信访).
    relations: Mapping[str, str] = field(default_factory=dict)
    # Data → the case row's projected columns ("handling_group", "due_at"); default: the data as is.
    project: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    # Data, add_days → deadline keys recomputed after a calendar change.
    recompute: Callable[[dict[str, Any], Callable[..., str]], dict[str, Any]] | None = None
    # Whether the 督办 ladder's rungs exist for this procedure (offsets are its settings
    # `ladder.<rung>_days`, read by the `<key>.ladder_at` helper).
    ladder: bool = False
    # Rounds started by the system at their moment (service/schedule.py: Schedule).
    schedules: tuple[Any, ...] = ()
    # Rows the procedure keeps itself, written in the step's own transaction (service/readmodels.py).
    read_models: tuple[Any, ...] = ()
    # 台账: tables served as JSON, a page and an Excel file (service/ledgers.py: Ledger).
    ledgers: tuple[Any, ...] = ()
    # Extra Flask blueprints of the procedure (public ones allowed), registered by the app factory.
    blueprints: tuple[Any, ...] = ()
    # Papers the office prints for a case (信访登记表, 交办单, …; service/documents.py: Document),
    # each with its template, when it is offered and whether it gets a per-year document number.
    documents: tuple[Any, ...] = ()
    # Its pages in the top navigation (service/web/layout.py, base.html).
    nav: tuple[NavLink, ...] = ()
    # 附件: the kinds its files have, which are personal data, what registration offers
    # (service/attachment_rules.py; the default is a case file holding a citizen's letter).
    attachments: AttachmentRules = DEFAULT_ATTACHMENTS

    def setting_key(self, local: str) -> str:
        return f"{self.key}.{local}"

    def message(self, name: str) -> MessageRule | None:
        return next((m for m in self.messages if m.name == name), None)

    def title(self, data: dict[str, Any]) -> str:
        for key in self.title_keys:
            value = data.get(key)
            if value:
                return str(value)[:256]
        return ""


class Registry:
    """The installed procedures, by key, and what the platform derives from them."""

    def __init__(self, procedures: Iterable[Procedure] = (), organisation: Any = None) -> None:
        self._by_key: dict[str, Procedure] = {}
        self.organisation = organisation
        for procedure in procedures:
            if procedure.key in self._by_key:
                raise ValueError(f"流程 {procedure.key} 重复声明")
            self._by_key[procedure.key] = procedure

    def __iter__(self) -> Any:
        return iter(self._by_key.values())

    def get(self, key: str | None) -> Procedure | None:
        return self._by_key.get(key) if key else None

    def keys(self) -> list[str]:
        return list(self._by_key)

    def notice_kinds(self) -> dict[str, str]:
        kinds: dict[str, str] = {}
        for procedure in self:
            kinds.update(procedure.notice_kinds)
        return kinds

    def settings(self) -> dict[str, tuple[Procedure, SettingSpec]]:
        return {p.setting_key(s.key): (p, s) for p in self for s in p.settings}

    def relation_labels(self) -> dict[str, str]:
        labels: dict[str, str] = {}
        for procedure in self:
            labels.update(procedure.relations)
        return labels

    def supervisor_groups(self) -> frozenset[str]:
        groups: frozenset[str] = frozenset()
        for procedure in self:
            groups |= procedure.supervisors
        return groups

    def helper_namespaces(self, bound: Callable[[Procedure], Mapping[str, Callable[..., Any]]]) -> dict[str, Any]:
        """One namespace per procedure for the script engine: its own helpers plus the platform's
        procedure-bound ones (e.g. `ladder_at`, reading that procedure's offsets)."""
        spaces: dict[str, Any] = {}
        for procedure in self:
            names = {**bound(procedure), **procedure.helpers}
            bad = [n for n in names if n.startswith("_") or not n.isidentifier()]
            if bad:
                raise ValueError(f"流程 {procedure.key} 的脚本函数名不合法：{bad}")
            spaces[procedure.key] = SimpleNamespace(**names)
        return spaces


_installed = Registry()


def install(registry: Registry) -> None:
    """Set the procedures this process runs (bootstrap does it once, tests may add their own)."""
    global _installed
    _installed = registry


def registry() -> Registry:
    return _installed


def get(key: str | None) -> Procedure | None:
    return _installed.get(key)
