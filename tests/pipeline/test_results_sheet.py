"""Returned squad sheets: Chinese words and encodings, honest row numbers, every problem."""

import datetime as dt

import geopandas as gpd
import pytest
from openpyxl import Workbook
from shapely.geometry import box

from pipeline.cases import import_squad_results, read_register, update_register
from pipeline.results_sheet import read_results
from skypatrol.errors import InputError

CRS = "EPSG:4549"
X, Y = 529000.0, 3493000.0
TODAY = dt.date(2026, 6, 30)


def test_chinese_words_and_a_gbk_csv_are_read(tmp_path):
    sheet = tmp_path / "back.csv"
    sheet.write_bytes("任务编号,处理结果,处理日期,备注\nT1,已整改,2026-06-10,已拆除\nT2,有异议,,业主有许可\n"
                      .encode("gbk"))
    rows, problems = read_results(sheet, TODAY)
    assert problems == []
    assert [(r.task_id, r.result, r.result_date, r.note) for r in rows] == [
        ("T1", "rectified", "2026-06-10", "已拆除"), ("T2", "disputed", None, "业主有许可")]


def test_blank_lines_keep_row_numbers_and_every_problem_is_named(tmp_path):
    sheet = tmp_path / "back.csv"
    sheet.write_text("task_id,result,result_date\n\nT1,rectified,2026-06-10 garbage!\n\n"
                     "T2,rectified,1900-01-01\nT3,maybe,2026-06-01\nT4,rectified,2099-01-01\n",
                     encoding="utf-8")
    rows, problems = read_results(sheet, TODAY)
    assert len(problems) == 4
    assert "row 3" in problems[0] and "garbage" in problems[0]
    assert "row 5" in problems[1] and "1900" in problems[1]
    assert "row 6" in problems[2] and "maybe" in problems[2]
    assert "row 7" in problems[3] and "2099" in problems[3]


def test_a_formula_without_a_computed_value_is_a_problem_not_a_silent_skip(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["task_id", "result"])
    ws.append(["T1", '=IF(1,"rectified","")'])  # openpyxl saves no cached value
    wb.save(tmp_path / "back.xlsx")
    rows, problems = read_results(tmp_path / "back.xlsx", TODAY)
    assert rows == [] and "row 2" in problems[0] and "formula" in problems[0]


def test_two_sheets_with_one_bad_row_record_nothing(tmp_path):
    reg = tmp_path / "cases.gpkg"
    v = gpd.GeoDataFrame({"category": ["illegal_construction"], "object_class": ["shed"],
                          "area_m2": [20.0], "confidence": [0.9], "parcel_id": ["P1"],
                          "district": ["D"], "squad": ["S"], "source": ["o.tif"]},
                         geometry=[box(X, Y, X + 5, Y + 4)], crs=CRS)
    u = update_register(reg, "S1", dt.date(2026, 3, 1), box(X - 50, Y - 50, X + 50, Y + 50), v)
    tid = u.tasks.task_id.iloc[0]
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(f"task_id,result\n{tid},rectified\n")
    bad.write_text("task_id,result\nSP-NOPE,rectified\n")
    before = reg.read_bytes()
    with pytest.raises(InputError, match="nothing was recorded") as info:
        import_squad_results(reg, [good, bad])
    assert "bad.csv: row 2: unknown task_id 'SP-NOPE'" in str(info.value)
    assert reg.read_bytes() == before
    assert import_squad_results(reg, [good]) == 1
    assert len(read_register(reg, CRS)["squad_results"]) == 1
