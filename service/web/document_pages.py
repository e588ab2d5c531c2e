"""Printed documents on the web (service/documents.py): the print view
`/instances/<id>/documents/<key>` (an A4 sheet with 打印 and 下载 PDF), its PDF
`/instances/<id>/documents/<key>.pdf`, and in the API (nested blueprint, token, CSRF-exempt)
`GET /api/v1/instances/<id>/documents` and `GET /api/v1/instances/<id>/documents/<key>.pdf`.

Every endpoint asks the policy through queries.instance_detail (404 for no such case, 403 for
one the user may not see) and prints the data as the policy shows it to that user (personal data
masked for those outside the chain). The PDF is the same HTML rendered by WeasyPrint; without
WeasyPrint the PDF is a 503 and the print view keeps working. The procedures' templates live
outside service/: a loader on this blueprint finds them in their declared folders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, current_app, jsonify, render_template, url_for
from flask_login import login_required
from jinja2 import BaseLoader, Environment, FileSystemLoader, TemplateNotFound

from service import audit, clock, documents, policy, queries
from service.actors import Actor
from service.documents import CaseFacts, Document
from service.errors import Unavailable
from service.store.models import Instance
from service.web.api_support import api_actor, token_required
from service.web.context import csrf, services
from service.web.guards import current_actor, group_names, user_names

document_pages = Blueprint("document_pages", __name__)
document_api = Blueprint("document_api", __name__, url_prefix="/api/v1")
document_pages.register_blueprint(document_api)
csrf.exempt(document_api)

NO_PDF = "服务器未安装 PDF 生成组件（WeasyPrint），暂不能下载 PDF；请在打印页使用“打印”按钮打印或另存为 PDF"


class ProcedureTemplates(BaseLoader):
    """Finds a document template in the folders the installed procedures' documents declare
    (read at each lookup, so a procedure installed later is found too)."""

    def get_source(self, environment: Environment, template: str) -> Any:
        for folder in documents.template_dirs():
            try:
                return FileSystemLoader(str(folder)).get_source(environment, template)
            except TemplateNotFound:
                continue
        raise TemplateNotFound(template)


document_pages.jinja_loader = ProcedureTemplates()  # Flask asks every blueprint's loader
document_pages.add_app_template_filter(documents.cn_date, "cn_date")


# ----- what a document is printed from -------------------------------------------------------------


def _facts(actor: Actor, instance_id: int) -> tuple[CaseFacts, bool]:
    """The case as this user may see it (the policy: 404/403), and whether its personal data
    is masked for them."""
    svc = services()
    with svc.db.read() as session:
        detail = queries.instance_detail(session, svc.runtime, actor, instance_id)
        inst = session.get(Instance, instance_id)
        masked = inst is not None and not policy.may_see_personal(actor, inst)
        facts = documents.facts_from(detail, group_names(session), user_names(session))
    return facts, masked


def _prepared(actor: Actor, instance_id: int, doc_key: str) -> tuple[CaseFacts, Document, dict[str, Any] | None, bool]:
    """The case, the document (404 unless declared and reached) and its number, issued now if
    this is its first print."""
    facts, masked = _facts(actor, instance_id)
    doc = documents.find(facts.process, doc_key)
    documents.require_available(facts, doc)
    issued = documents.issue(services().db, instance_id, facts.process, doc, actor.username)
    return facts, doc, issued, masked


def _html(facts: CaseFacts, doc: Document, issued: dict[str, Any] | None, masked: bool, for_pdf: bool) -> str:
    extra = doc.context(facts) if doc.context else {}
    print_css = ""
    if for_pdf:
        print_css = (Path(current_app.static_folder or "") / "print.css").read_text(encoding="utf-8")
    return render_template(
        doc.template, doc=doc, facts=facts, data=facts.data, issued=issued, masked=masked, for_pdf=for_pdf,
        letterhead=documents.letterhead(facts.process, doc), print_css=print_css,
        issued_on=issued["issued_at"] if issued else clock.now().isoformat(),
        pdf_url=url_for("document_pages.document_pdf", instance_id=facts.id, doc_key=doc.key),
        back_url=url_for("cases.instance_page", instance_id=facts.id), **extra,
    )


def to_pdf(html: str) -> bytes:
    """The HTML as a PDF (WeasyPrint, print media). The HTML references nothing outside itself
    (the stylesheet is inlined, no base URL), so nothing is fetched."""
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:  # not installed, or its system libraries (pango) missing
        raise Unavailable(NO_PDF) from exc
    return HTML(string=html).write_pdf()  # type: ignore[no-any-return]


def _pdf_response(actor: Actor, instance_id: int, doc_key: str) -> Response:
    facts, doc, issued, masked = _prepared(actor, instance_id, doc_key)
    body = to_pdf(_html(facts, doc, issued, masked, for_pdf=True))
    audit.write(services().db, audit.EXPORT, target=facts.business_key,
                detail=f"PDF：{doc.name}" + ("（个人信息已遮蔽）" if masked else "（含明文个人信息）"))
    response = Response(body, mimetype="application/pdf")
    response.headers["Content-Disposition"] = content_disposition(facts.business_key, doc)
    response.headers["Cache-Control"] = "no-store"
    return response


def content_disposition(business_key: str, doc: Document) -> str:
    """RFC 6266 / 5987: an ASCII fallback, and the Chinese name percent-encoded in UTF-8."""
    fallback = f"{business_key}-{doc.key}.pdf"
    name = f"{business_key}-{doc.name}.pdf"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


# ----- pages -------------------------------------------------------------------------------------


@document_pages.get("/instances/<int:instance_id>/documents/<doc_key>.pdf")
@login_required
def document_pdf(instance_id: int, doc_key: str) -> Any:
    return _pdf_response(current_actor(), instance_id, doc_key)


@document_pages.get("/instances/<int:instance_id>/documents/<doc_key>")
@login_required
def document_page(instance_id: int, doc_key: str) -> Any:
    facts, doc, issued, masked = _prepared(current_actor(), instance_id, doc_key)
    return _html(facts, doc, issued, masked, for_pdf=False)


def _listing(facts: CaseFacts, numbers: dict[str, dict[str, Any]], only_offered: bool) -> list[dict[str, Any]]:
    rows = []
    for doc in documents.declared(facts.process):
        available = doc.available(facts)
        if only_offered and not available:
            continue
        rows.append({
            "key": doc.key, "name": doc.name, "available": available, "numbered": doc.numbered,
            "number": numbers.get(doc.key, {}).get("number"),
            "url": url_for("document_pages.document_page", instance_id=facts.id, doc_key=doc.key),
            "pdf_url": url_for("document_pages.document_pdf", instance_id=facts.id, doc_key=doc.key),
            "api_pdf_url": url_for("document_pages.document_api.api_document_pdf", instance_id=facts.id, doc_key=doc.key),
        })
    return rows


@document_pages.app_template_global("case_documents")
def case_documents(case: dict[str, Any]) -> list[dict[str, Any]]:
    """The case page's list (_documents.html): the documents the case has reached, with their
    numbers if issued. `case` is the page's detail, already checked by the policy."""
    facts = documents.facts_from(case)
    if not documents.declared(facts.process):
        return []
    with services().db.read() as session:
        numbers = documents.issued(session, facts.id)
    return _listing(facts, numbers, only_offered=True)


# ----- API ---------------------------------------------------------------------------------------


@document_api.get("/instances/<int:instance_id>/documents")
@token_required
def api_documents(instance_id: int) -> Any:
    facts, _masked = _facts(api_actor(), instance_id)
    with services().db.read() as session:
        numbers = documents.issued(session, instance_id)
    return jsonify(_listing(facts, numbers, only_offered=False))


@document_api.get("/instances/<int:instance_id>/documents/<doc_key>.pdf")
@token_required
def api_document_pdf(instance_id: int, doc_key: str) -> Any:
    return _pdf_response(api_actor(), instance_id, doc_key)
