"""值班表 in Excel (openpyxl): the export a month's roster prints from, and the import of a roster
filled in offline — the same five columns both ways (日期, 班次, 值班人员（用户名）, 带班领导（用户名）,
备注), so an exported file edited and imported again round-trips.

The export's header block follows the ledgers' (service/ledger_excel.py): the office, the title,
the month as the office writes it (2026年12月), when it was made. The import finds the column
titles in the first rows (an exported file's header block is skipped), refuses each bad row with
its row number in Chinese and saves nothing unless every row is right (service/duty_roster.py)."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session

from service import clock, duty_roster
from service.clock import BEIJING
from service.errors import Invalid
from service.ledger_excel import NUMBER_FORMATS
from service.ledgers import office_name
from service.report_periods import Period
from service.store.db import Database

TITLE = "值班表"
COLUMNS = (("day", "日期", 14), ("kind", "班次", 8), ("officer", "值班人员（用户名）", 20),
           ("leader", "带班领导（用户名）", 20), ("note", "备注", 36))
NAME_COLUMNS = (("officer_name", "值班人员姓名", 18), ("leader_name", "带班领导姓名", 18))  # export only, for reading
HEADER_SEARCH_ROWS = 12  # the column titles are looked for in the first rows
MAX_ROWS = 2000  # about two years of shifts: more is not a roster


def export(session: Session, period: Period, made_at: datetime | None = None) -> bytes:
    """The month's roster as an .xlsx file: header block, column titles, one row per held shift
    (by day, 白班 before 夜班), the people's names beside their usernames; ready to print."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    office = office_name()
    made_at = (made_at or clock.now()).astimezone(BEIJING)
    book = Workbook()
    sheet = book.active
    sheet.title = f"{TITLE}{period.arg}"
    book.properties.creator = office
    columns = (*COLUMNS, *NAME_COLUMNS)
    last = get_column_letter(len(columns))
    for number, (text, font) in enumerate([(office, Font(bold=True, size=12)), (TITLE, Font(bold=True, size=16)),
                                           (f"值班月份：{period.label}", Font(size=11))], 1):
        cell = sheet.cell(row=number, column=1, value=text)
        cell.font, cell.alignment = font, Alignment(horizontal="center", vertical="center")
        sheet.merge_cells(f"A{number}:{last}{number}")
    sheet.row_dimensions[2].height = 26
    sheet.cell(row=4, column=1, value="制表时间").font = Font(size=10, color="555555")
    stamp = sheet.cell(row=4, column=2, value=made_at.replace(tzinfo=None, microsecond=0))
    stamp.number_format, stamp.font = NUMBER_FORMATS["datetime"], Font(size=10, color="555555")
    stamp.alignment = Alignment(horizontal="left")
    thin = Side(style="thin", color="999999")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    title_row = 5
    for index, (_key, title, width) in enumerate(columns, 1):
        cell = sheet.cell(row=title_row, column=index, value=title)
        cell.font, cell.border = Font(bold=True), border
        cell.fill = PatternFill("solid", fgColor="EEF1F5")
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        sheet.column_dimensions[get_column_letter(index)].width = width
    for offset, shift in enumerate(duty_roster.month_json(session, period)["shifts"], 1):
        values = {**shift, "day": datetime.fromisoformat(shift["day"]), "kind": shift["kind_label"]}
        for index, (key, _title, _width) in enumerate(columns, 1):
            cell = sheet.cell(row=title_row + offset, column=index, value=values.get(key) or None)
            cell.border = border
            if key == "day":
                cell.number_format = NUMBER_FORMATS["date"]
    sheet.freeze_panes = f"A{title_row + 1}"
    sheet.print_title_rows = f"{title_row}:{title_row}"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight = 1, 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_options.horizontalCentered = True
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def filename(period: Period) -> str:
    return f"{TITLE}（{period.label}）.xlsx"


def content_disposition(period: Period) -> str:
    """RFC 6266 / 5987: an ASCII fallback, and the Chinese name percent-encoded in UTF-8."""
    return (f"attachment; filename=\"duty-roster-{period.arg}.xlsx\"; "
            f"filename*=UTF-8''{quote(filename(period), safe='')}")


def _refuse(message: str) -> Invalid:
    return Invalid(message, [{"row": 0, "field": "file", "message": message}])


def _entries(content: bytes) -> list[tuple[int, dict[str, Any]]]:
    """(Excel row number, entry) of every filled row under the column titles."""
    from openpyxl import load_workbook

    if not content:
        raise _refuse("请选择要导入的值班表文件（.xlsx）")
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # a zip that is no workbook fails in many ways, all the same to the user
        raise _refuse("文件不是有效的 Excel 文件（.xlsx），请使用导出的值班表格式") from exc
    try:
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        positions: dict[str, int] | None = None
        header_at = 0
        for number, row in enumerate(rows, 1):
            titles = [duty_roster.as_text(v) for v in row]
            if all(title in titles for _key, title, _w in COLUMNS):
                positions = {key: titles.index(title) for key, title, _w in COLUMNS}
                header_at = number
                break
            if number >= HEADER_SEARCH_ROWS:
                break
        if positions is None:
            wanted = "、".join(title for _key, title, _w in COLUMNS)
            raise _refuse(f"未找到表头：第一个工作表的前 {HEADER_SEARCH_ROWS} 行中应有一行依次写明 {wanted}")
        found: list[tuple[int, dict[str, Any]]] = []
        for number, row in enumerate(rows, header_at + 1):
            cells = list(row)
            entry = {key: cells[at] if at < len(cells) else None for key, at in positions.items()}
            if all(duty_roster.as_text(v) == "" for v in entry.values()):
                continue  # a blank line between weeks is not an error
            found.append((number, entry))
            if len(found) > MAX_ROWS:
                raise _refuse(f"一次最多导入 {MAX_ROWS} 个班次，请分月导入")
    finally:
        book.close()
    if not found:
        raise _refuse("文件中没有班次：表头下应每行一个班次（日期、班次、值班人员……）")
    return found


def import_file(db: Database, username: str, content: bytes) -> dict[str, Any]:
    """Import every row of the file's first sheet, all or nothing: each (day, shift) set to the
    row's officer, leader and note; the roster's other shifts stay as they are. A refused file
    raises Invalid listing each bad row (第N行：…) and writes nothing."""
    entries = _entries(content)
    try:
        result = duty_roster.save_shifts(db, username, entries, "导入")
    except Invalid as exc:
        raise Invalid(f"导入失败，未导入任何班次：共 {len(exc.details)} 处错误，请修改后重新导入",
                      exc.details) from exc
    return {**result, "rows": len(entries)}
