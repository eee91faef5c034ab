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


def _survey(reg, squads=("Huishan-1", "Xinwu/2")):
    from pipeline.outputs import enrich_tasks

    n = len(squads) * 2
    v = gpd.GeoDataFrame(
        {"category": ["illegal_construction", "green_encroachment"] * len(squads),
         "object_class": ["shed", "cleared_ground"] * len(squads),
         "area_m2": [20.0] * n, "confidence": [0.9] * n, "parcel_id": ["P1"] * n,
         "district": ["D"] * n, "squad": [s for s in squads for _ in (0, 1)],
         "source": ["o.tif"] * n},
        geometry=[box(X + 20 * i, Y, X + 20 * i + 5, Y + 4) for i in range(n)], crs=CRS)
    u = update_register(reg, "S1", dt.date(2026, 3, 1), box(X - 50, Y - 50, X + 200, Y + 50), v)
    return enrich_tasks(u.tasks, {"o.tif": None})


@pytest.mark.parametrize("lang, words", [("en", ("Rectified", "Disputed", "Not found")),
                                         ("zh", ("已整改", "有异议", "现场未发现"))])
def test_the_squads_workbook_round_trips_in_both_languages(tmp_path, lang, words):
    from openpyxl import load_workbook

    from pipeline.outputs import write_workbook

    reg = tmp_path / "cases.gpkg"
    tasks = _survey(reg)
    path = write_workbook(tmp_path / "tasks.xlsx", tasks, lang)
    wb = load_workbook(path)
    assert wb.sheetnames[0] == ("汇总" if lang == "zh" else "Summary")
    assert wb.sheetnames[1:] == ["Huishan-1", "Xinwu-2"]
    for ws in wb.worksheets[1:]:
        header = [c.value for c in ws[1]]
        assert header[0] == ("任务编号" if lang == "zh" else "Task ID")
        assert ws.auto_filter.ref and ws.freeze_panes == "B2"
        col = {h: i + 1 for i, h in enumerate(header)}
        first = ws.cell(2, col["首次发现" if lang == "zh" else "First seen"])
        assert isinstance(first.value, dt.datetime) and first.number_format == "yyyy-mm-dd"
        assert ws.column_dimensions["A"].width >= 12
        lists = [dv for dv in ws.data_validations.dataValidation if dv.type == "list"]
        assert lists and all(w in lists[0].formula1 for w in words)
        ev = ws.cell(2, col["取证图" if lang == "zh" else "Evidence"])
        assert ev.hyperlink.target.startswith("evidence/")
        nav = ws.cell(2, col["导航" if lang == "zh" else "Navigate"])
        assert "callnative=1" in nav.hyperlink.target
        why = ws.cell(2, col["优先级原因" if lang == "zh" else "Why this priority"]).value
        # in the sheet's words, not the register's codes
        assert "illegal_construction" not in why and "green_encroachment" not in why
        labels = ("违法建设", "侵占绿地") if lang == "zh" else ("Illegal construction",
                                                               "Green-space encroachment")
        assert why.startswith(labels)
        assert ("新发现" in why and "米内另有" in why) if lang == "zh" else "within 50 m" in why
    # the squads fill in their sheets, in the sheet's own words, and send the file back
    ids = {}
    for ws, (result, note) in zip(wb.worksheets[1:], [(words[0], "gone"), (words[1], "permit")]):
        header = [c.value for c in ws[1]]
        r_col = header.index("处理结果" if lang == "zh" else "Result") + 1
        ws.cell(2, r_col, result)
        ws.cell(2, r_col + 1, dt.date(2026, 3, 20))  # a real date, as a spreadsheet stores it
        ws.cell(2, r_col + 2, note)
        ids[ws.title] = ws.cell(2, 1).value
    wb.save(tmp_path / "back.xlsx")
    assert import_squad_results(reg, tmp_path / "back.xlsx") == 2
    cases = read_register(reg, CRS)["cases"].set_index("task_id")
    assert cases.at[ids["Huishan-1"], "squad_result"] == "rectified"
    assert cases.at[ids["Xinwu-2"], "squad_result"] == "disputed"
    assert cases.at[ids["Xinwu-2"], "squad_result_date"] == "2026-03-20"
    # a bad row is named by its sheet and row number, and nothing is recorded
    ws = wb.worksheets[2]
    r_col = [c.value for c in ws[1]].index("处理结果" if lang == "zh" else "Result") + 1
    ws.cell(3, r_col, "maybe")
    wb.save(tmp_path / "bad.xlsx")
    with pytest.raises(InputError, match=r"sheet 'Xinwu-2': row 3: result 'maybe'"):
        import_squad_results(reg, tmp_path / "bad.xlsx")


def test_the_work_orders_results_file_is_checked_entry_by_entry(tmp_path):
    import base64
    import json

    reg = tmp_path / "cases.gpkg"
    tasks = _survey(reg)
    jpeg = base64.b64encode(b"\xff\xd8\xff\xe0fake").decode()
    doc = {"format": "skypatrol-results/1", "survey_id": "S1", "squad": "Huishan-1",
           "results": [{"task_id": tasks.task_id[0], "result": "not_found",
                        "result_date": "2026-03-21", "result_note": "", "photo": None},
                       {"task_id": tasks.task_id[1], "result": "rectified",
                        "result_date": "2026-03-21", "result_note": "",
                        "photo": "data:image/jpeg;base64," + jpeg}]}
    (tmp_path / "r.json").write_text(json.dumps(doc))
    assert import_squad_results(reg, tmp_path / "r.json") == 2
    assert (tmp_path / "cases-photos" / f"{tasks.task_id[1]}-2026-03-21.jpg").exists()
    doc["results"][0]["result"] = "whatever"
    doc["results"][1]["photo"] = "data:text/html;base64,PGI+"
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    rows, problems = read_results(tmp_path / "bad.json", TODAY)
    assert rows == [] and len(problems) == 2
    assert "entry 1: result 'whatever'" in problems[0] and "entry 2: photo" in problems[1]
    (tmp_path / "other.json").write_text('{"results": 3}')
    assert "not a results file" in read_results(tmp_path / "other.json", TODAY)[1][0]
