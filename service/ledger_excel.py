"""A ledger as an Excel file (openpyxl): one sheet per table, the office, the report and its
period in a header block, dates as real dates, widths from the declaration."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from service.clock import BEIJING
from service.ledgers import Column, Ledger, as_date, as_datetime, office_name, total_row
from service.report_periods import Period

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# ----- Excel -----------------------------------------------------------------------------------------

NUMBER_FORMATS = {"int": "0", "float": "0.0", "date": "yyyy-mm-dd", "datetime": "yyyy-mm-dd hh:mm"}


def _cell_value(column: Column, value: Any) -> Any:
    """What openpyxl writes: real dates (Excel has no time zones: Beijing wall-clock time)."""
    if value is None or value == "":
        return None
    if column.kind == "date":
        return as_date(value)
    if column.kind == "datetime":
        moment = as_datetime(value)
        return moment.replace(tzinfo=None) if moment else None
    return value


def _sheet_title(name: str, used: set[str]) -> str:
    title = re.sub(r"[\[\]:*?/\\]", "", name)[:31] or "Sheet"
    base, n = title, 2
    while title in used:
        title = f"{base[:28]}({n})"
        n += 1
    used.add(title)
    return title


def workbook(tables: Sequence[tuple[Ledger, list[dict[str, Any]]]], period: Period,
             office: str | None = None, made_at: datetime | None = None) -> bytes:
    """An .xlsx file, one sheet per table: a header block (the office, the report's name, the
    period, when it was made), the bold column titles, the rows (and the 合计 row), column widths
    from the declaration, dates as Excel dates; ready to print (title rows repeat, fit to width)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    from service import clock

    office = office or office_name()
    made_at = (made_at or clock.now()).astimezone(BEIJING)
    book = Workbook()
    book.remove(book.active)
    book.properties.creator = office
    thin = Side(style="thin", color="999999")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    used: set[str] = set()
    for ledger, rows in tables:
        sheet = book.create_sheet(_sheet_title(ledger.name, used))
        width = max(len(ledger.columns), 2)
        last = get_column_letter(width)
        header = [(office, Font(bold=True, size=12)), (ledger.name, Font(bold=True, size=16)),
                  (f"统计期间：{period.label}", Font(size=11))]
        for number, (text, font) in enumerate(header, 1):
            sheet.cell(row=number, column=1, value=text).font = font
            sheet.cell(row=number, column=1).alignment = Alignment(horizontal="center", vertical="center")
            sheet.merge_cells(f"A{number}:{last}{number}")
        sheet.row_dimensions[2].height = 26
        sheet.cell(row=4, column=1, value="制表时间").font = Font(size=10, color="555555")
        stamp = sheet.cell(row=4, column=2, value=made_at.replace(tzinfo=None, microsecond=0))
        stamp.number_format = NUMBER_FORMATS["datetime"]
        stamp.alignment = Alignment(horizontal="left")
        stamp.font = Font(size=10, color="555555")
        title_row = 5
        fill = PatternFill("solid", fgColor="EEF1F5")
        for index, column in enumerate(ledger.columns, 1):
            cell = sheet.cell(row=title_row, column=index, value=column.title)
            cell.font = Font(bold=True)
            cell.fill = fill
            cell.border = border
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
            sheet.column_dimensions[get_column_letter(index)].width = column.width
        body = list(rows)
        total = total_row(ledger, rows)
        for offset, row in enumerate([*body, *([total] if total else [])], 1):
            for index, column in enumerate(ledger.columns, 1):
                cell = sheet.cell(row=title_row + offset, column=index, value=_cell_value(column, row.get(column.key)))
                cell.border = border
                if column.kind in NUMBER_FORMATS:
                    cell.number_format = NUMBER_FORMATS[column.kind]
                if total is not None and offset == len(body) + 1:
                    cell.font = Font(bold=True)
        sheet.freeze_panes = f"A{title_row + 1}"
        sheet.print_title_rows = f"{title_row}:{title_row}"
        sheet.page_setup.orientation = "landscape" if len(ledger.columns) > 6 else "portrait"
        sheet.page_setup.fitToWidth = 1
        sheet.page_setup.fitToHeight = 0
        sheet.sheet_properties.pageSetUpPr.fitToPage = True
        sheet.print_options.horizontalCentered = True
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_xlsx(ledger: Ledger, period: Period, rows: list[dict[str, Any]], office: str | None = None,
            made_at: datetime | None = None) -> bytes:
    """One ledger as an Excel file (rows as `build_rows` gives them: already masked)."""
    return workbook([(ledger, rows)], period, office, made_at)


def filename(ledger: Ledger, period: Period) -> str:
    return f"{ledger.name}（{period.label}）.xlsx"


def content_disposition(ledger: Ledger, period: Period) -> str:
    """RFC 6266 / 5987: an ASCII fallback, and the Chinese name percent-encoded in UTF-8."""

    fallback = f"{ledger.key}-{period.arg}.xlsx"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename(ledger, period), safe='')}"
