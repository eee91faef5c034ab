"""Squads' returned task sheets (XLSX or CSV): every row read and checked, every problem named."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass
from pathlib import Path

from openpyxl import load_workbook

#: What squads write in the result column (the Chinese work order asks for 已整改/有异议).
RESULT_WORDS = {"rectified": "rectified", "disputed": "disputed",
                "已整改": "rectified", "整改": "rectified", "已处理": "rectified",
                "有异议": "disputed", "异议": "disputed"}
#: Column names as squads may have them (the Chinese sheet's headers too).
COLUMN_WORDS = {"task_id": "task_id", "任务编号": "task_id", "result": "result",
                "处理结果": "result", "result_date": "result_date", "日期": "result_date",
                "处理日期": "result_date", "result_note": "result_note", "备注": "result_note"}
#: CSV encodings tried in order: UTF-8 (with or without BOM), then the Chinese national one.
ENCODINGS = ("utf-8-sig", "gb18030")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T]00:00(?::00)?)?$")
#: Results dated before this year are typing errors (1900 is Excel's zero date).
EARLIEST_YEAR = 2000


@dataclass(frozen=True)
class ResultRow:
    """One squad's verdict on one task, as read from a sheet."""

    task_id: str
    result: str  # rectified | disputed
    result_date: str | None  # YYYY-MM-DD, None when not given
    note: str
    source: str
    row: int  # the row number a spreadsheet program shows (header is row 1)


def _rows_xlsx(path: Path) -> list[list[object]]:
    values = load_workbook(path, read_only=True, data_only=True).active
    formulas = load_workbook(path, read_only=True, data_only=False).active
    if values is None or formulas is None:
        return []
    out = []
    for vrow, frow in zip(values.iter_rows(values_only=True),
                          formulas.iter_rows(values_only=True)):
        # a formula whose result was never computed (saved by a script, not a spreadsheet
        # program) reads as empty: say so instead of silently skipping the row
        out.append([f"=formula without a computed value: {f}"
                    if v is None and isinstance(f, str) and f.startswith("=") else v
                    for v, f in zip(vrow, frow)])
    return out


def _rows_csv(path: Path) -> list[list[object]]:
    raw = path.read_bytes()
    for enc in ENCODINGS:
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValueError(f"not UTF-8 or GB18030 text; save it as CSV UTF-8 "
                         f"({', '.join(ENCODINGS)} tried)")
    return [list(r) for r in csv.reader(io.StringIO(text))]


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time() else v.isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v).strip()


def read_results(path: Path | str, today: dt.date | None = None
                 ) -> tuple[list[ResultRow], list[str]]:
    """Every filled-in result of a sheet, and every problem found (with its row number).

    Rows without a result are not results and are passed over; blank lines keep the row
    numbers a spreadsheet program shows.
    """
    p = Path(path)
    today = today or dt.date.today()
    try:
        table = _rows_xlsx(p) if p.suffix.lower() in (".xlsx", ".xlsm") else _rows_csv(p)
    except Exception as exc:  # noqa: BLE001 - any unreadable sheet is the user's input
        return [], [f"{p}: cannot read the spreadsheet ({exc})"]
    if not table:
        return [], [f"{p}: the sheet is empty"]
    header = [COLUMN_WORDS.get(_cell(h).lower(), COLUMN_WORDS.get(_cell(h), _cell(h)))
              for h in table[0]]
    missing = [c for c in ("task_id", "result") if c not in header]
    if missing:
        return [], [f"{p}: column '{c}' missing (have: {', '.join(map(str, table[0]))})"
                    for c in missing]
    col = {name: header.index(name) for name in COLUMN_WORDS.values() if name in header}
    rows, problems = [], []
    for n, values in enumerate(table[1:], start=2):
        cells = {k: _cell(values[i]) if i < len(values) else "" for k, i in col.items()}
        raw = cells.get("result", "")
        if not raw:
            continue
        where = f"{p}: row {n}"
        if raw.startswith("=formula"):
            problems.append(f"{where}: result is a {raw[1:]}; open and save the sheet in a "
                            "spreadsheet program, or type the value")
            continue
        result = RESULT_WORDS.get(raw.lower(), RESULT_WORDS.get(raw))
        if result is None:
            problems.append(f"{where}: result '{raw}' is not one of rectified / disputed "
                            "(已整改 / 有异议)")
        tid = cells.get("task_id", "").lstrip("'")
        if not tid:
            problems.append(f"{where}: a result without a task_id")
        date = cells.get("result_date", "")
        iso = None
        if date:
            m = _DATE.match(date)
            try:
                d = dt.date(int(m[1]), int(m[2]), int(m[3])) if m else None
            except ValueError:
                d = None
            if d is None:
                problems.append(f"{where}: result_date '{date}' is not a date (YYYY-MM-DD)")
            elif not EARLIEST_YEAR <= d.year or d > today + dt.timedelta(days=1):
                problems.append(f"{where}: result_date {d} is not a plausible date "
                                f"({EARLIEST_YEAR} to today)")
            else:
                iso = d.isoformat()
        if result is not None and tid:
            rows.append(ResultRow(tid, result, iso, cells.get("result_note", ""), str(p), n))
    return rows, problems
