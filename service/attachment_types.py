"""Which files a case may carry, decided by their content: the first bytes (and, for the zip-based
formats, the parts inside) must be those of a format whose extension the file has. A ".pdf"
that is really an HTML page, or an ".exe" renamed ".docx", is refused; the type served back
on download is the verified one, never what the browser declared."""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass

ALLOWED_TEXT = "仅允许上传 PDF、OFD、JPG、PNG、Word、Excel、TXT 文件"


@dataclass(frozen=True)
class FileType:
    name: str  # as the errors say it
    media_type: str
    extensions: tuple[str, ...]


PDF = FileType("PDF", "application/pdf", (".pdf",))
OFD = FileType("OFD", "application/ofd", (".ofd",))
JPEG = FileType("JPG", "image/jpeg", (".jpg", ".jpeg"))
PNG = FileType("PNG", "image/png", (".png",))
DOCX = FileType("Word", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", (".docx",))
XLSX = FileType("Excel", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (".xlsx",))
DOC = FileType("Word", "application/msword", (".doc",))
XLS = FileType("Excel", "application/vnd.ms-excel", (".xls",))
TXT = FileType("TXT", "text/plain; charset=utf-8", (".txt",))
TXT_GB = FileType("TXT", "text/plain; charset=gb18030", (".txt",))

TYPES = (PDF, OFD, JPEG, PNG, DOCX, XLSX, DOC, XLS, TXT)
BY_EXTENSION = {ext: t for t in TYPES for ext in t.extensions}

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the compound file of Word 97-2003 and Excel 97-2003
_ZIP = b"PK\x03\x04"
# text that a browser would run if it were ever shown inline
_MARKUP = re.compile(rb"<\s*(script|html|iframe|svg|object|embed)\b|<!doctype\s+html", re.IGNORECASE)
_TEXT_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _zip_parts(content: bytes) -> set[str] | None:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return set(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        return None


def _text_type(content: bytes) -> FileType | None:
    if _MARKUP.search(content[:65536]):
        return None
    for encoding, found in (("utf-8-sig", TXT), ("gb18030", TXT_GB)):
        try:
            decoded = content.decode(encoding)
        except UnicodeDecodeError:
            continue
        return None if _TEXT_CONTROLS.search(decoded) else found
    return None


def detect(content: bytes, extension: str) -> FileType | None:
    """The type the content is, if it is the allowed type its extension names; else None.

    The OLE2 container of .doc and .xls looks alike from outside: there the extension decides
    between the two (both are allowed; what matters is that it is not an executable or a page)."""
    expected = BY_EXTENSION.get(extension)
    if expected is None:
        return None
    if expected is PDF:
        return PDF if content.startswith(b"%PDF-") else None
    if expected is JPEG:
        return JPEG if content.startswith(b"\xff\xd8\xff") else None
    if expected is PNG:
        return PNG if content.startswith(b"\x89PNG\r\n\x1a\n") else None
    if expected in (DOC, XLS):
        return expected if content.startswith(_OLE2) else None
    if expected in (DOCX, XLSX, OFD):
        parts = _zip_parts(content) if content.startswith(_ZIP) else None
        if parts is None:
            return None
        needed = {DOCX: "word/document.xml", XLSX: "xl/workbook.xml", OFD: "OFD.xml"}[expected]
        return expected if needed in parts else None
    return _text_type(content)


# ----- file names ---------------------------------------------------------------------------------

MAX_NAME = 120
_UNSAFE = re.compile(r'[<>:"|?*]')


def clean_filename(raw: str | None) -> str:
    """The name to keep and to send back: the last path part only (a browser on Windows sends
    `C:\\…\\来信.pdf`, a forged request `../../etc/passwd`), without control or direction-override
    characters, nor characters Windows refuses; Chinese is kept. Long names are cut before the
    extension. Empty → 附件."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"))
    name = _UNSAFE.sub("_", name).strip().lstrip(".").strip()
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[: MAX_NAME - len(ext) - 1].rstrip() + "." + ext
        else:
            name = name[:MAX_NAME]
    return name or "附件"


def extension(filename: str) -> str:
    """The lower-case extension with its dot ("" when the name has none)."""
    stem, dot, ext = filename.rpartition(".")
    return f".{ext.lower()}" if dot and stem else ""
