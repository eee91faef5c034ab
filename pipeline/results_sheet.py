"""Squads' returned results: task sheets (XLSX or CSV) and the work order's results file (JSON).

Every row is read and checked, every problem named with its sheet and row (or entry).
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

from openpyxl import load_workbook

#: The results a squad can report, in the order the work order's form offers them.
FORM_RESULTS = ("rectified", "disputed", "not_found")
#: What squads write in the result column (the dropdowns offer the words of the sheet's
#: language; the others are what people type).
RESULT_WORDS = {"rectified": "rectified", "disputed": "disputed", "not found": "not_found",
                "not_found": "not_found", "已整改": "rectified", "整改": "rectified",
                "已处理": "rectified", "已拆除": "rectified", "有异议": "disputed",
                "异议": "disputed", "现场未发现": "not_found", "未发现": "not_found",
                "未找到": "not_found"}
#: Column names as squads may have them (the English and Chinese sheets' headers too).
COLUMN_WORDS = {"task_id": "task_id", "task id": "task_id", "任务编号": "task_id",
                "result": "result", "处理结果": "result", "result_date": "result_date",
                "result date": "result_date", "日期": "result_date", "处理日期": "result_date",
                "result_note": "result_note", "result note": "result_note", "note": "result_note",
                "备注": "result_note"}
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
    row: int  # the row number a spreadsheet program shows (header is row 1); entry for JSON
    photo: bytes | None = None  # a JPEG the squad attached in the work order's form


def _sheets_xlsx(path: Path) -> list[tuple[str, list[list[object]]]]:
    """Each worksheet's name and rows (formulas never computed are named, not skipped)."""
    values = load_workbook(path, read_only=True, data_only=True)
    formulas = load_workbook(path, read_only=True, data_only=False)
    out = []
    for vs, fs in zip(values.worksheets, formulas.worksheets):
        rows = []
        for vrow, frow in zip(vs.iter_rows(values_only=True), fs.iter_rows(values_only=True)):
            rows.append([f"=formula without a computed value: {f}"
                         if v is None and isinstance(f, str) and f.startswith("=") else v
                         for v, f in zip(vrow, frow)])
        out.append((vs.title, rows))
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
    """Every filled-in result of a returned file, and every problem found (with its row).

    A workbook's sheets are all read (one per squad; sheets without a task column, such as
    the summary, are passed over). Rows without a result are not results and are passed
    over; blank lines keep the row numbers a spreadsheet program shows. A ``.json`` file is
    the work order's saved form.
    """
    p = Path(path)
    today = today or dt.date.today()
    try:
        if p.suffix.lower() == ".json":
            return _read_form(p, today)
        sheets = _sheets_xlsx(p) if p.suffix.lower() in (".xlsx", ".xlsm") \
            else [("", _rows_csv(p))]
    except Exception as exc:  # noqa: BLE001 - any unreadable sheet is the user's input
        return [], [f"{p}: cannot read the file ({exc})"]
    tables = [(name, table) for name, table in sheets if table]
    if not tables:
        return [], [f"{p}: the sheet is empty"]
    with_tasks = [(name, table) for name, table in tables if "task_id" in _header(table)]
    if not with_tasks:  # name what is missing in the first sheet
        with_tasks = tables[:1]
    rows: list[ResultRow] = []
    problems: list[str] = []
    for name, table in with_tasks:
        where = f"{p}: sheet '{name}'" if len(sheets) > 1 else str(p)
        found, bad = _read_table(where, str(p), table, today)
        rows += found
        problems += bad
    return rows, problems


def _header(table: list[list[object]]) -> list[str]:
    return [COLUMN_WORDS.get(_cell(h).lower(), COLUMN_WORDS.get(_cell(h), _cell(h)))
            for h in table[0]]


def _check_row(where: str, raw: str, tid: str, date: str, today: dt.date
               ) -> tuple[str | None, str | None, list[str]]:
    """The result word and ISO date of one row, and its problems."""
    problems = []
    result = RESULT_WORDS.get(raw.lower(), RESULT_WORDS.get(raw))
    if result is None:
        problems.append(f"{where}: result '{raw}' is not one of rectified / disputed / "
                        "not found (已整改 / 有异议 / 现场未发现)")
    if not tid:
        problems.append(f"{where}: a result without a task_id")
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
    return result, iso, problems


def _read_table(label: str, source: str, table: list[list[object]], today: dt.date
                ) -> tuple[list[ResultRow], list[str]]:
    header = _header(table)
    missing = [c for c in ("task_id", "result") if c not in header]
    if missing:
        return [], [f"{label}: column '{c}' missing (have: {', '.join(map(str, table[0]))})"
                    for c in missing]
    col = {name: header.index(name) for name in COLUMN_WORDS.values() if name in header}
    rows, problems = [], []
    for n, values in enumerate(table[1:], start=2):
        cells = {k: _cell(values[i]) if i < len(values) else "" for k, i in col.items()}
        raw = cells.get("result", "")
        if not raw:
            continue
        where = f"{label}: row {n}"
        if raw.startswith("=formula"):
            problems.append(f"{where}: result is a {raw[1:]}; open and save the sheet in a "
                            "spreadsheet program, or type the value")
            continue
        tid = cells.get("task_id", "").lstrip("'")
        result, iso, bad = _check_row(where, raw, tid, cells.get("result_date", ""), today)
        problems += bad
        if result is not None and tid and not bad:
            rows.append(ResultRow(tid, result, iso, cells.get("result_note", ""), source, n))
    return rows, problems


def _read_form(p: Path, today: dt.date) -> tuple[list[ResultRow], list[str]]:
    """The results file a work order's form saves (``skypatrol-results/1``)."""
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [], [f"{p}: not a results file saved by a work order ({exc})"]
    if not isinstance(doc, dict) or doc.get("format") != "skypatrol-results/1" \
            or not isinstance(doc.get("results"), list):
        return [], [f"{p}: not a results file saved by a work order (format "
                    "skypatrol-results/1 with a list of results expected)"]
    rows, problems = [], []
    for n, entry in enumerate(doc["results"], start=1):
        where = f"{p}: entry {n}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: not an object")
            continue
        raw = str(entry.get("result") or "").strip()
        if not raw:
            continue
        tid = str(entry.get("task_id") or "").strip()
        result, iso, bad = _check_row(where, raw, tid, str(entry.get("result_date") or ""),
                                      today)
        photo = None
        if entry.get("photo"):
            head, _, b64 = str(entry["photo"]).partition(",")
            try:
                photo = base64.b64decode(b64, validate=True)
            except (binascii.Error, ValueError):
                photo = None
            if not head.startswith("data:image/jpeg") or not photo:
                bad.append(f"{where}: photo is not a JPEG data URI")
        problems += bad
        if result is not None and tid and not bad:
            rows.append(ResultRow(tid, result, iso, str(entry.get("result_note") or ""),
                                  str(p), n, photo))
    return rows, problems
