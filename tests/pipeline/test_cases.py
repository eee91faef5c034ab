import datetime as dt

import geopandas as gpd
import pytest
from shapely.geometry import box

from pipeline.cases import read_register, update_register

CRS = "EPSG:4549"
X, Y = 529000.0, 3493000.0
D1, D2 = dt.date(2026, 3, 10), dt.date(2026, 5, 12)
COVER = box(X, Y, X + 200, Y + 200)


def viol(*items):
    return gpd.GeoDataFrame(
        {"category": [c for c, _ in items], "object_class": ["shed"] * len(items),
         "area_m2": [g.area for _, g in items], "confidence": [0.9] * len(items),
         "parcel_id": ["P1"] * len(items), "district": ["Liangxi"] * len(items),
         "squad": ["Liangxi-1"] * len(items), "source": ["o.tif"] * len(items)},
        geometry=[g for _, g in items], crs=CRS)


A = ("illegal_construction", box(X + 10, Y + 10, X + 16, Y + 15))
B = ("green_encroachment", box(X + 50, Y + 50, X + 60, Y + 58))
A2 = ("illegal_construction", box(X + 10.4, Y + 9.8, X + 16.3, Y + 15.2))  # same shed, noisy
C = ("illegal_billboard", box(X + 100, Y + 100, X + 108, Y + 101))


def test_cases_keep_ids_resolve_and_open(tmp_path):
    reg = tmp_path / "cases.gpkg"
    u1 = update_register(reg, "S1", D1, COVER, viol(A, B))
    assert list(u1.tasks.status) == ["new", "new"]
    assert len(u1.resolved) == 0
    u2 = update_register(reg, "S2", D2, COVER, viol(A2, C))
    ids1 = dict(zip(u1.tasks.category, u1.tasks.task_id))
    ids2 = dict(zip(u2.tasks.category, u2.tasks.task_id))
    assert ids2["illegal_construction"] == ids1["illegal_construction"]
    assert ids2["illegal_billboard"] not in ids1.values()
    status = dict(zip(u2.tasks.category, u2.tasks.status))
    assert status == {"illegal_construction": "persisting", "illegal_billboard": "new"}
    assert list(u2.resolved.task_id) == [ids1["green_encroachment"]]
    assert u2.resolved.resolved_on.iloc[0] == D2.isoformat()
    cases = read_register(reg, CRS)["cases"].set_index("task_id")
    assert cases.at[ids1["illegal_construction"], "first_seen"] == D1.isoformat()
    assert cases.at[ids1["illegal_construction"], "last_seen"] == D2.isoformat()
    assert cases.at[ids1["illegal_construction"], "surveys"] == "S1,S2"
    assert set(u2.tasks.priority) <= {1, 2, 3, 4}
    assert all("m²" in r for r in u2.tasks.priority_reason)


def test_uncovered_case_stays_open(tmp_path):
    reg = tmp_path / "cases.gpkg"
    update_register(reg, "S1", D1, COVER, viol(A, B))
    u2 = update_register(reg, "S2", D2, box(X, Y, X + 30, Y + 30), viol(A2))
    assert len(u2.resolved) == 0
    cases = read_register(reg, CRS)["cases"]
    assert sorted(cases.status) == ["open", "open"]


def test_same_survey_twice_changes_nothing(tmp_path):
    reg = tmp_path / "cases.gpkg"
    update_register(reg, "S1", D1, COVER, viol(A, B))
    first = update_register(reg, "S2", D2, COVER, viol(A2, C))
    layers1 = read_register(reg, CRS)
    again = update_register(reg, "S2", D2, COVER, viol(A2, C))
    layers2 = read_register(reg, CRS)
    assert list(first.tasks.task_id) == list(again.tasks.task_id)
    for name in ("observations", "cases"):
        a, b = layers1[name], layers2[name]
        assert len(a) == len(b)
        assert a.drop(columns="geometry").equals(b.drop(columns="geometry")), name
    assert len(layers2["surveys"]) == 2


def test_crash_mid_write_leaves_register_as_it_was(tmp_path, monkeypatch):
    reg = tmp_path / "cases.gpkg"
    update_register(reg, "S1", D1, COVER, viol(A, B))
    before = reg.read_bytes()
    calls = {"n": 0}
    real = gpd.GeoDataFrame.to_file

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed mid-survey")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(gpd.GeoDataFrame, "to_file", flaky)
    with pytest.raises(KeyboardInterrupt):
        update_register(reg, "S2", D2, COVER, viol(A2, C))
    assert reg.read_bytes() == before
    assert not list(tmp_path.glob("*.tmp.gpkg"))


def test_squad_results_are_imported_but_do_not_close_cases(tmp_path):
    from openpyxl import Workbook

    from pipeline.cases import import_squad_results
    from skypatrol.errors import InputError

    reg = tmp_path / "cases.gpkg"
    u1 = update_register(reg, "S1", D1, COVER, viol(A, B))
    ids = list(u1.tasks.task_id)
    wb = Workbook()
    ws = wb.active
    ws.append(["task_id", "category", "result", "result_date", "result_note"])
    ws.append([ids[0], "illegal_construction", "rectified", "2026-03-20", "demolished"])
    ws.append([ids[1], "green_encroachment", "disputed", "2026-03-21", "owner has a <b>permit</b>"])
    wb.save(tmp_path / "back.xlsx")
    assert import_squad_results(reg, tmp_path / "back.xlsx") == 2
    cases = read_register(reg, CRS)["cases"].set_index("task_id")
    assert cases.at[ids[0], "squad_result"] == "rectified"
    assert cases.at[ids[1], "squad_note"] == "owner has a <b>permit</b>"
    assert set(cases.status) == {"open"}, "a squad's word does not close a case"
    # the results survive the next survey's write, and a re-survey then verifies
    u2 = update_register(reg, "S2", D2, COVER, viol(B))
    assert list(u2.resolved.task_id) == [ids[0]]
    cases = read_register(reg, CRS)["cases"].set_index("task_id")
    assert cases.at[ids[0], "squad_result"] == "rectified"
    ws.append(["SP-NOPE", "x", "rectified", "", ""])
    wb.save(tmp_path / "bad.xlsx")
    with pytest.raises(InputError, match="row 4: unknown task_id 'SP-NOPE'"):
        import_squad_results(reg, tmp_path / "bad.xlsx")
