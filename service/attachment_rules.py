"""Which 附件 a procedure's cases carry: the kinds a file may have, which of them are personal
data, what the registration form offers, and whether a file uploaded with the registration is
personal data (a citizen's letter is; the pictures of a text meant for a public site are not).

Declared per procedure (`Procedure.attachments`); `DEFAULT` is the rule of a case file that
holds a citizen's letter, so a procedure that declares nothing keeps it. Read by
service/attachments.py (checking, storing) and the upload pages (service/web/attachment_pages.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AttachmentRules:
    """The kinds of a procedure's files. `default_kind` is preselected on the case page and given
    to a file posted without a kind; `task_kind` is preselected on a task's page; `image_kind` is
    the kind of a picture a rich-text editor uploads into the case."""

    kinds: tuple[str, ...] = ("来信扫描件", "身份证明", "答复草稿", "办理材料", "其他")
    personal_kinds: frozenset[str] = frozenset({"来信扫描件", "身份证明"})
    start_kinds: tuple[str, ...] = ("来信扫描件", "身份证明", "其他")  # what the registration form offers
    start_personal: bool = True  # a file uploaded with the registration is personal data
    default_kind: str = "其他"
    task_kind: str = "答复草稿"
    image_kind: str = "其他"
    # the registration form's file input: its label and the line under it
    start_label: str = "来信扫描件等文件"
    start_hint: str = "登记时上传的附件按个人信息保护，仅有权查看个人信息者可以下载。"

    def __post_init__(self) -> None:
        """A declaration naming a kind it does not list fails at start-up, not at an upload."""
        known = set(self.kinds)
        named = {*self.personal_kinds, *self.start_kinds, self.default_kind, self.task_kind, self.image_kind}
        if not self.kinds or not self.start_kinds or named - known:
            raise ValueError(f"附件类别声明有误：{sorted(named - known)} 不在 {list(self.kinds)} 中")

    def personal(self, kind: str, at_registration: bool) -> bool:
        """Whether a file of this kind (uploaded with the registration or not) is personal data."""
        return kind in self.personal_kinds or (at_registration and self.start_personal)

    def kind_refusal(self, kind: str, at_registration: bool = False) -> str | None:
        """The Chinese reason a kind is not one of this procedure's (None: it is)."""
        offered = self.start_kinds if at_registration else self.kinds
        if kind in offered:
            return None
        return f"{'登记时的' if at_registration else ''}附件类别应为：{'、'.join(offered)}"


DEFAULT = AttachmentRules()
