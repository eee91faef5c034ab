import datetime as dt

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from shapely.geometry import Point, box

from geodata.registry import read_registry, write_registry
from pipeline.diff import DiffConfig, areal, cleared_ground, diff_registry, roof_contrast

CRS = "EPSG:4549"
X, Y = 529000.0, 3493000.0
DATE = dt.date(2026, 4, 1)
#: every check on (the tests of checks that are off by default switch them on)
ALL_ON = DiffConfig(off=frozenset())


@pytest.fixture
def registry(tmp_path):
    parcels = gpd.GeoDataFrame(
        {"parcel_id": ["P1", "G1"], "land_use": ["residential", "green"],
         "district": ["Liangxi", "Liangxi"]},
        geometry=[box(X, Y, X + 50, Y + 50), box(X + 50, Y, X + 100, Y + 50)], crs=CRS)
    permits = gpd.GeoDataFrame(
        {"permit_id": ["BP1", "SP1"], "parcel_id": ["P1", "P1"], "kind": ["building", "shed"]},
        geometry=[box(X + 10, Y + 10, X + 30, Y + 30), box(X + 40, Y + 40, X + 44, Y + 44)],
        crs=CRS)
    boards = gpd.GeoDataFrame(
        {"permit_id": ["AD1", "AD2"], "valid_until": [None, dt.date(2026, 1, 1)]},
        geometry=[Point(X + 5, Y + 45), Point(X + 5, Y + 5)], crs=CRS)
    jur = gpd.GeoDataFrame({"district": ["Liangxi"], "squad": ["Liangxi-1"]},
                           geometry=[box(X, Y, X + 100, Y + 50)], crs=CRS)
    path = write_registry(tmp_path / "r.gpkg", parcels=parcels, permitted_structures=permits,
                          billboard_permits=boards, jurisdictions=jur)
    return read_registry(path)


def dets(*items):
    return gpd.GeoDataFrame({"class": [c for c, _ in items], "score": [0.9] * len(items),
                             "source": ["ortho.tif"] * len(items)},
                            geometry=[g for _, g in items], crs=CRS)


def test_permitted_building_with_footprint_noise_is_legal(registry):
    noisy = box(X + 9.7, Y + 10.3, X + 30.3, Y + 29.8)  # +-30 cm around the permit
    assert len(diff_registry(dets(("building", noisy)), registry, DATE)) == 0


def test_extension_counts_only_the_excess(registry):
    extended = box(X + 10, Y + 10, X + 35, Y + 30)  # 5 m x 20 m beyond the permit
    v = diff_registry(dets(("building", extended)), registry, DATE)
    assert len(v) == 1 and v.category[0] == "illegal_construction"
    assert v.area_m2[0] == pytest.approx(100.0, rel=0.02)
    assert v.parcel_id[0] == "P1" and v.squad[0] == "Liangxi-1"


def test_an_extension_also_seen_as_a_shed_is_one_site(registry):
    """The extension's strip seen twice (in its building's outline and as a shed) is counted
    once; a separate shed beside it is not swallowed."""
    extended = box(X + 10, Y + 10, X + 35, Y + 30)      # 5 m x 20 m beyond the permit
    strip = box(X + 30.5, Y + 12, X + 35, Y + 22)       # the same strip's upper part
    yard = box(X + 36, Y + 12, X + 40, Y + 16)          # a shed of its own, beside it
    v = diff_registry(dets(("building", extended), ("shed", strip), ("shed", yard)),
                      registry, DATE)
    assert sorted(v.object_class) == ["building", "shed"]
    assert v.area_m2.sum() == pytest.approx(100.0 + 16.0, rel=0.02)


def test_an_extension_seen_in_part_as_a_shed_is_one_site(registry):
    """The building's outline takes in one part of the extension, a shed detection another
    part, overlapping it: one site whose area is the extension's, not the two parts' sum."""
    building = box(X + 10, Y + 10, X + 33, Y + 30)       # 3 m of the 5 m strip
    shed = box(X + 31.5, Y + 10, X + 35, Y + 30)         # the strip's outer 3.5 m
    v = diff_registry(dets(("building", building), ("shed", shed)), registry, DATE)
    assert len(v) == 1 and v.category[0] == "illegal_construction"
    assert v.area_m2[0] == pytest.approx(100.0, rel=0.02)


def test_a_permitted_shed_seen_as_a_building_is_legal(registry):
    """The two structure classes blur: a "building" on a permitted shed's footprint, whole or
    a part of it, is that shed; a building well beyond it is not covered by a permit of its
    kind (the contract): all of it counts."""
    part = box(X + 40.2, Y + 40.2, X + 42.8, Y + 43.8)
    assert len(diff_registry(dets(("building", part)), registry, DATE)) == 0
    bigger = box(X + 36, Y + 36, X + 46, Y + 46)
    v = diff_registry(dets(("building", bigger)), registry, DATE)
    assert len(v) == 1 and v.area_m2[0] == pytest.approx(100.0, rel=0.01)


def test_rooftop_shed_on_a_permitted_building_is_illegal(registry):
    v = diff_registry(dets(("shed", box(X + 15, Y + 15, X + 20, Y + 21))), registry, DATE)
    assert list(v.category) == ["illegal_construction"]
    assert v.area_m2[0] == pytest.approx(30.0, rel=0.01)


def test_permitted_shed_is_legal_and_unpermitted_is_not(registry):
    v = diff_registry(dets(("shed", box(X + 40, Y + 40, X + 44, Y + 44)),
                           ("shed", box(X + 2, Y + 35, X + 6, Y + 39))), registry, DATE)
    assert len(v) == 1 and v.area_m2[0] == pytest.approx(16.0, rel=0.01)


def test_shed_in_green_parcel_is_green_encroachment_only(registry):
    v = diff_registry(dets(("shed", box(X + 60, Y + 10, X + 66, Y + 15))), registry, DATE)
    assert list(v.category) == ["green_encroachment"]
    assert v.area_m2[0] == pytest.approx(30.0, rel=0.01)


def test_one_paved_yard_in_a_park_is_one_site(registry):
    d = dets(("shed", box(X + 60, Y + 10, X + 66, Y + 15)),
             ("building", box(X + 66, Y + 10, X + 72, Y + 15)),
             ("cleared_ground", box(X + 60, Y + 15.2, X + 72, Y + 20)),
             ("shed", box(X + 85, Y + 30, X + 90, Y + 35)))  # a separate site
    v = diff_registry(d, registry, DATE)
    assert list(v.category) == ["green_encroachment"] * 2
    assert sorted(v.area_m2) == pytest.approx([25.0, 60.0 + 57.6], rel=0.01)


def test_billboard_permits_by_place_and_date(registry):
    v = diff_registry(dets(
        ("billboard", box(X + 1, Y + 44.5, X + 9, Y + 45.5)),   # valid licence, no expiry
        ("billboard", box(X + 1, Y + 4.5, X + 9, Y + 5.5)),     # licence expired 2026-01-01
        ("billboard", box(X + 30, Y + 44.5, X + 38, Y + 45.5)),  # no licence near
        ("billboard", box(X + 30, Y + 35, X + 32.5, Y + 36)),    # 2.5 m²: below a violation
    ), registry, DATE)
    assert sorted(v.area_m2) == pytest.approx([8.0, 8.0])
    assert set(v.category) == {"illegal_billboard"}
    earlier = diff_registry(dets(("billboard", box(X + 1, Y + 4.5, X + 9, Y + 5.5))),
                            registry, dt.date(2025, 12, 1))
    assert len(earlier) == 0


@pytest.mark.parametrize("grass,soil,concrete", [
    ((80, 130, 50), (160, 135, 100), (150, 148, 140)),
    # a green white balance: the paving's raw index is 0.095, concrete looks greenish
    ((101, 145, 80), (156, 185, 166), (150, 175, 155)),
])
def test_cleared_ground_is_found_from_the_imagery(registry, make_geotiff, grass, soil,
                                                  concrete):
    gsd = 0.1
    h, w = 500, 1000
    img = np.zeros((3, h, w), np.uint8)
    img[:] = np.array(concrete, np.uint8)[:, None, None]  # the residential parcel's yard
    img[:, :, 500:] = np.array(grass, np.uint8)[:, None, None]  # the green parcel
    # a 10 m x 8 m patch of bare soil inside the green parcel (x 60..70, y 20..28)
    r0, r1 = int((50 - 28) / gsd), int((50 - 20) / gsd)
    c0, c1 = int(60 / gsd), int(70 / gsd)  # columns from X
    img[:, r0:r1, c0:c1] = np.array(soil, np.uint8)[:, None, None]
    # the same soil in the residential parcel is not a violation
    img[:, 100:200, 100:200] = np.array(soil, np.uint8)[:, None, None]
    path = make_geotiff(w, h, Affine(gsd, 0, X, 0, -gsd, Y + 50), CRS, data=img)
    found = cleared_ground([str(path)], registry, None, ALL_ON)
    assert len(found) == 1
    assert found.geometry.iloc[0].area == pytest.approx(80.0, rel=0.1)
    v = diff_registry(found, registry, DATE)
    assert list(v.category) == ["green_encroachment"] and v.object_class[0] == "cleared_ground"


def test_a_wedge_of_outline_noise_is_not_an_extension(registry):
    # the outline leans off the permit: 1.5 m deep at one end, nothing at the other
    wedge = box(X + 10, Y + 10, X + 30, Y + 30).union(
        gpd.GeoSeries.from_wkt([f"POLYGON (({X + 10} {Y + 30}, {X + 30} {Y + 30}, "
                                f"{X + 30} {Y + 31.5}, {X + 10} {Y + 30}))"])[0])
    assert len(diff_registry(dets(("building", wedge)), registry, DATE)) == 0


def test_a_shed_that_is_part_of_the_roof_is_not_a_rooftop_shed(registry, make_geotiff):
    gsd = 0.1
    img = np.full((3, 500, 1000), 120, np.uint8)
    r0, r1, c0, c1 = int(20 / gsd), int(40 / gsd), int(10 / gsd), int(30 / gsd)
    img[:, r0:r1, c0:c1] = np.array([70, 90, 160], np.uint8)[:, None, None]  # a blue steel roof
    # a white shed on it at x 22..26, y 22..26 (rows from the top: y 50 is row 0)
    img[:, int(24 / gsd):int(28 / gsd), int(22 / gsd):int(26 / gsd)] = 235
    path = make_geotiff(1000, 500, Affine(gsd, 0, X, 0, -gsd, Y + 50), CRS, data=img)
    d = dets(("shed", box(X + 12, Y + 12, X + 17, Y + 28)),   # a strip of the blue roof
             ("shed", box(X + 22, Y + 22, X + 26, Y + 26)))   # the white rooftop shed
    d["source"] = str(path)
    d["roof_contrast"] = roof_contrast(d, registry)
    assert d.roof_contrast[0] < 2 and d.roof_contrast[1] > 20
    v = diff_registry(d, registry, DATE, ALL_ON)  # roof_colour: off by default
    assert len(v) == 1 and v.area_m2[0] == pytest.approx(16.0, rel=0.01)


def test_blank_detections_give_no_violations(registry):
    assert len(diff_registry(dets(), registry, DATE)) == 0


def test_spreadsheet_formulas_in_fields_are_shown_as_text(tmp_path):
    from openpyxl import load_workbook

    from pipeline.outputs import TASK_FIELDS, safe_cell, write_task_files

    assert safe_cell("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert safe_cell("P0001") == "P0001" and safe_cell(3.5) == 3.5
    row = {f: None for f in TASK_FIELDS}
    row.update(task_id="SP-1", category="illegal_construction", object_class="shed",
               area_m2=12.0, parcel_id="=1+2", district="@SUM(A1)", squad="+cmd",
               status="new", priority=2, confidence=0.9, lon=120.3, lat=31.5,
               lon_gcj02=120.305, lat_gcj02=31.498, evidence="evidence/SP-1.jpg",
               survey_id="S", first_seen="2026-04-01", last_seen="2026-04-01",
               source="o.tif", source_sha256="0" * 64, priority_reason="r")
    tasks = gpd.GeoDataFrame([row], geometry=[box(X, Y, X + 3, Y + 4)], crs=CRS)
    write_task_files(tmp_path, tasks, "zh")
    wb = load_workbook(tmp_path / "tasks.xlsx")
    for ws in wb.worksheets:  # the summary (squad names) and the squad's sheet
        values = [c.value for c in next(ws.iter_rows(min_row=2, max_row=2))]
        assert "'+cmd" in values or ws.title != wb.sheetnames[0]
        assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)
    values = [c.value for c in next(wb.worksheets[1].iter_rows(min_row=2, max_row=2))]
    assert "'=1+2" in values and "'@SUM(A1)" in values
    assert "'=1+2" in (tmp_path / "tasks.csv").read_text(encoding="utf-8-sig")


def test_visiting_order_keeps_priority_and_walks_short():
    from pipeline.outputs import visiting_order

    pts = [(0, 0, 2), (100, 0, 1), (10, 0, 2), (200, 0, 2), (110, 0, 1)]
    tasks = gpd.GeoDataFrame({"priority": [p for _, _, p in pts]},
                             geometry=[box(X + x, Y + y, X + x + 1, Y + y + 1)
                                       for x, y, _ in pts], crs=CRS)
    order = visiting_order(tasks)
    assert [pts[i][2] for i in order] == [1, 1, 2, 2, 2]
    assert order[:2] == [1, 4]
    assert order[2:] == [3, 2, 0]  # from x=110: x=200 is 90 m away, then x=10, then x=0


def district_registry(tmp_path, permitted):
    """One 100 m x 50 m residential parcel with these permitted (x0, y0, x1, y1, kind)."""
    parcels = gpd.GeoDataFrame({"parcel_id": ["P1"], "land_use": ["residential"],
                                "district": ["Liangxi"]}, geometry=[box(X, Y, X + 100, Y + 50)],
                               crs=CRS)
    permits = gpd.GeoDataFrame(
        {"permit_id": [f"B{i}" for i in range(len(permitted))],
         "parcel_id": ["P1"] * len(permitted), "kind": [p[4] for p in permitted]},
        geometry=[box(X + a, Y + b, X + c, Y + d) for a, b, c, d, _ in permitted], crs=CRS)
    boards = gpd.GeoDataFrame({"permit_id": [], "valid_until": []},
                              geometry=gpd.GeoSeries([], crs=CRS), crs=CRS)
    jur = gpd.GeoDataFrame({"district": ["Liangxi"], "squad": ["Liangxi-1"]},
                           geometry=[box(X, Y, X + 100, Y + 50)], crs=CRS)
    return read_registry(write_registry(tmp_path / "r.gpkg", parcels=parcels,
                                        permitted_structures=permits, billboard_permits=boards,
                                        jurisdictions=jur))


def test_a_structure_in_a_buildings_shadow_is_not_held_to_the_shadow_test(tmp_path,
                                                                        make_geotiff):
    """A yard shed in a tall building's shadow cannot show its own: it is not tested; a flat
    lot whose sunlit side only lies in that shadow is (its shadow side is bright ground)."""
    import dataclasses

    from pipeline.diff import shadow_evidence

    gsd, h, w = 0.1, 500, 1000
    img = np.full((3, h, w), 150, np.uint8)

    def fill(x0, y0, x1, y1, value):
        img[:, int((50 - y1) / gsd):int((50 - y0) / gsd), int(x0 / gsd):int(x1 / gsd)] = value

    refs = [(10, 5, 18, 13), (30, 5, 38, 13), (50, 5, 58, 13)]
    for x0, y0, x1, y1 in refs:  # the sun in the east: 3 m shadows to the west
        fill(x0 - 3, y0, x0, y1, 60)
        fill(x0, y0, x1, y1, 200)
    fill(68, 20, 80, 45, 60)         # a tall building's 12 m shadow
    fill(80, 20, 95, 45, 200)
    fill(71, 30, 75, 34, 180)        # a shed standing in it
    fill(56, 21, 69, 27, 95)         # a flat lot whose east edge meets the shadow
    path = make_geotiff(w, h, Affine(gsd, 0, X, 0, -gsd, Y + 50), CRS, data=img)
    reg = district_registry(tmp_path, [(*r, "building") for r in [*refs, (80, 20, 95, 45)]])
    d = dets(("shed", box(X + 71, Y + 30, X + 75, Y + 34)),
             ("building", box(X + 56, Y + 21, X + 69, Y + 27)))
    d["source"] = str(path)
    s = shadow_evidence(d, reg, ALL_ON)
    assert np.isnan(s[0])                                  # in the shadow: not tested
    assert s[1] < ALL_ON.shadow_unreadable_ratio     # tested, and no shadow of its own
    # without a building towards the sun, the same shed fails the test
    alone = shadow_evidence(d, reg, dataclasses.replace(ALL_ON, shadow_reach_m=0.0))
    assert alone[0] < ALL_ON.min_shadow_ratio


def test_a_structure_must_cast_a_shadow_like_the_registered_ones(tmp_path, make_geotiff):
    from pipeline.diff import shadow_evidence

    gsd, h, w = 0.1, 500, 1000
    img = np.full((3, h, w), 150, np.uint8)

    def px(x0, y0, x1, y1):  # world metres from (X, Y) to array slices
        return slice(int((50 - y1) / gsd), int((50 - y0) / gsd)), slice(int(x0 / gsd),
                                                                        int(x1 / gsd))

    def building(x0, y0, x1, y1, shadow=True):
        if shadow:  # the sun in the east: shadows fall 3 m to the west
            r, c = px(x0 - 3, y0, x0, y1)
            img[:, r, c] = 60
        r, c = px(x0, y0, x1, y1)
        img[:, r, c] = 200

    permitted = [(10, 10, 20, 20), (30, 10, 40, 22), (50, 25, 62, 35), (70, 5, 80, 15)]
    for b in permitted:
        building(*b)
    building(85, 30, 93, 38)                 # an unpermitted shed, standing
    r, c = px(84, 5, 92, 13)
    img[:, r, c] = 45                        # dark asphalt, and on it a shed (its shadow
    r, c = px(83, 7, 86, 11)                 # lost on the asphalt) with a white car parked
    img[:, r, c] = 235                       # on its shadow side
    r, c = px(86, 7, 90, 11)
    img[:, r, c] = 180
    r, c = px(20, 30, 32, 42)
    img[:, r, c] = 90                        # a flat asphalt lot, no shadow
    r, c = px(40, 38, 60, 50)
    img[:, r, c] = 95                        # a 240 m² yard around a permitted shed
    path = make_geotiff(w, h, Affine(gsd, 0, X, 0, -gsd, Y + 50), CRS, data=img)
    reg = district_registry(tmp_path, [*[(*b, "building") for b in permitted],
                                       (45, 42, 48, 45, "shed")])
    d = dets(("shed", box(X + 85, Y + 30, X + 93, Y + 38)),
             ("building", box(X + 20, Y + 30, X + 32, Y + 42)),
             ("building", box(X + 10, Y + 10, X + 20, Y + 20)),  # on a permit: not tested
             ("building", box(X + 40, Y + 38, X + 60, Y + 50)),  # the yard, seen as a roof
             ("building", box(X + 20, Y + 10, X + 24, Y + 20)))  # an annex: not tested
    d["source"] = str(path)
    s = shadow_evidence(d, reg, ALL_ON)
    assert s[0] > 0.8 and s[1] < 0.2 and np.isnan(s[2])
    assert s[3] < 0.2 and np.isnan(s[4])

    from pipeline.survey import find_violations

    parked = dets(("shed", box(X + 86, Y + 7, X + 90, Y + 11)),
                  ("building", box(X + 20, Y + 30, X + 32, Y + 42)))
    parked["source"] = str(path)
    parked["score"] = 0.8  # the shadow test vetoes only what the model is unsure of
    assert shadow_evidence(parked, reg, ALL_ON)[0] < ALL_ON.shadow_unreadable_ratio
    v = find_violations(parked, [str(path)], reg, DATE, ALL_ON)
    assert list(v.object_class) == ["shed"]  # unreadable shadow: kept; the flat lot: dropped
    from pipeline.survey import decide

    seen, _ = decide(parked, [str(path)], reg, DATE, ALL_ON)
    assert list(seen.finding) == ["illegal_construction", ""]  # every detection, as it came
    assert seen.checks[0] == "" and seen.checks[1].startswith("shadow:drop")
    # switched off, the shadow test decides nothing: the flat lot is a finding
    seen, v = decide(parked, [str(path)], reg, DATE, DiffConfig(off=frozenset({"shadow"})))
    assert len(v) == 2 and "shadow" not in "".join(seen.checks)
    parked["unconfirmed"] = [True, False]  # ... unless its neighbouring tiles did not see it
    assert len(find_violations(parked, [str(path)], reg, DATE, ALL_ON)) == 0
    parked["score"] = 0.95  # a sure model is not overruled by the shadow test
    assert len(find_violations(parked, [str(path)], reg, DATE, ALL_ON)) == 2

    # a shed the colour of the roof it stands on: a part of the roof, unless it casts a
    # shadow on it
    r, c = px(33, 13, 35, 19)
    img[:, r, c] = 60                        # the shed's shadow, on B1's roof
    standing = make_geotiff(w, h, Affine(gsd, 0, X, 0, -gsd, Y + 50), CRS, data=img,
                            name="standing.tif")
    for source, found in ((path, 0), (standing, 1)):
        shed = dets(("shed", box(X + 35, Y + 13, X + 38, Y + 19)))
        shed["source"] = str(source)
        v = find_violations(shed, [str(source)], reg, DATE, ALL_ON)
        assert len(v) == found


def test_a_shed_on_a_roof_must_cast_a_shadow_on_it(tmp_path, make_geotiff):
    """A removed rooftop shed leaves a pale scar of another colour than the roof: with no
    shadow it is not a shed (when the model is unsure); a standing one casts its shadow."""
    from pipeline.survey import find_violations

    gsd, h, w = 0.1, 500, 1000
    img = np.full((3, h, w), 150, np.uint8)

    def fill(x0, y0, x1, y1, value):
        img[:, int((50 - y1) / gsd):int((50 - y0) / gsd), int(x0 / gsd):int(x1 / gsd)] = value

    refs = [(10, 5, 18, 13), (30, 5, 38, 13), (50, 5, 58, 13), (30, 20, 60, 45)]
    for x0, y0, x1, y1 in refs:  # the sun in the east: 3 m shadows to the west
        fill(x0 - 3, y0, x0, y1, 60)
        fill(x0, y0, x1, y1, 110)
    fill(36, 30, 40, 34, 190)        # the pale scar of a removed shed on the big roof
    fill(48, 30, 52, 34, 190)        # a shed of the same paint, standing: its shadow
    fill(46, 30, 48, 34, 45)
    path = make_geotiff(w, h, Affine(gsd, 0, X, 0, -gsd, Y + 50), CRS, data=img)
    reg = district_registry(tmp_path, [(*r, "building") for r in refs])
    d = dets(("shed", box(X + 36, Y + 30, X + 40, Y + 34)),
             ("shed", box(X + 48, Y + 30, X + 52, Y + 34)))
    d["source"] = str(path)
    d["score"] = 0.7
    v = find_violations(d, [str(path)], reg, DATE, ALL_ON)
    assert len(v) == 1 and v.geometry[0].centroid.x == pytest.approx(X + 50)
    d["score"] = 0.95  # a sure model is not overruled by the shadow test
    assert len(find_violations(d, [str(path)], reg, DATE, ALL_ON)) == 2


def test_an_outline_spilling_onto_the_yard_is_not_an_extension(registry, make_geotiff):
    """For a model whose outlines spill (the test is off by default: see DiffConfig)."""
    from pipeline.survey import find_violations

    cfg = DiffConfig(min_ground_contrast=12.0, off=frozenset())

    gsd = 0.1
    img = np.full((3, 500, 1000), 120, np.uint8)  # the yard

    def paint(x0, y0, x1, y1, rgb):
        img[:, int((50 - y1) / gsd):int((50 - y0) / gsd), int(x0 / gsd):int(x1 / gsd)] = \
            np.array(rgb, np.uint8)[:, None, None]

    paint(50, 0, 100, 50, (80, 130, 50))    # the park
    paint(10, 10, 30, 30, (200, 200, 205))  # the permitted building BP1
    paint(30, 12, 35, 28, (180, 60, 50))    # a red annex glued to BP1's east wall
    path = make_geotiff(1000, 500, Affine(gsd, 0, X, 0, -gsd, Y + 50), CRS, data=img)
    annexed = dets(("building", box(X + 10, Y + 10, X + 35, Y + 30)))
    spilled = dets(("building", box(X + 7, Y + 10, X + 30, Y + 30)))  # 3 m onto the yard
    for d in (annexed, spilled):
        d["source"] = str(path)
    v = find_violations(annexed, [str(path)], registry, DATE, cfg)
    assert list(v.category) == ["illegal_construction"]
    assert v.area_m2[0] == pytest.approx(100.0, rel=0.05)
    assert len(find_violations(spilled, [str(path)], registry, DATE, cfg)) == 0

    # a pale yard, and the annex in the host's own pale material: the roof goes on (an
    # extension, though its colour is near the yard's); the spill is still the yard
    paint(0, 0, 50, 50, (190, 190, 194))
    paint(10, 10, 35, 30, (200, 200, 205))  # BP1 and its annex, one material
    pale = make_geotiff(1000, 500, Affine(gsd, 0, X, 0, -gsd, Y + 50), CRS, data=img,
                        name="pale.tif")
    for d in (annexed, spilled):
        d["source"] = str(pale)
    v = find_violations(annexed, [str(pale)], registry, DATE, cfg)
    assert list(v.category) == ["illegal_construction"]
    assert len(find_violations(spilled, [str(pale)], registry, DATE, cfg)) == 0
    # off by default: the spill is reported as the building's excess
    assert len(find_violations(spilled, [str(pale)], registry, DATE, ALL_ON)) == 1


def test_a_rooftop_shed_by_the_roof_edge_is_not_taken_for_a_spill(registry, make_geotiff):
    from pipeline.survey import find_violations

    cfg = DiffConfig(min_ground_contrast=12.0, off=frozenset())

    gsd = 0.1
    img = np.full((3, 500, 1000), 120, np.uint8)  # the yard
    img[:, :, 500:] = np.array((80, 130, 50), np.uint8)[:, None, None]  # the park
    img[:, 200:400, 100:300] = np.array((200, 200, 205), np.uint8)[:, None, None]  # BP1's roof
    # a shed on the roof, 1 m from its south edge, the yard's colour: the yard lies within 3 m
    img[:, 300:390, 150:250] = 120
    path = make_geotiff(1000, 500, Affine(gsd, 0, X, 0, -gsd, Y + 50), CRS, data=img)
    shed = dets(("shed", box(X + 15, Y + 11, X + 25, Y + 20)))
    shed["source"] = str(path)
    v = find_violations(shed, [str(path)], registry, DATE, cfg)
    assert list(v.category) == ["illegal_construction"]
    assert v.area_m2[0] == pytest.approx(90.0, rel=0.02)


def test_a_shed_with_a_permitted_buildings_outline_is_that_building(registry):
    building = box(X + 10.2, Y + 9.8, X + 30.1, Y + 30.3)  # BP1, seen as a "shed"
    assert len(diff_registry(dets(("shed", building)), registry, DATE)) == 0
    half = box(X + 10, Y + 10, X + 20, Y + 30)  # half the roof: a rooftop shed
    assert len(diff_registry(dets(("shed", half)), registry, DATE)) == 1


def test_a_trees_shadow_on_the_lawn_is_not_cleared_ground(registry, make_geotiff):
    grass, soil = (150, 160, 80), (160, 135, 100)  # dry grass in full sun
    gsd = 0.1
    img = np.zeros((3, 500, 1000), np.uint8)
    img[:] = np.array(grass, np.uint8)[:, None, None]
    # a tree's shadow: half the lawn's light, lit by the blue sky (a low green index), yet
    # above the absolute dark bar
    img[:, 100:200, 600:700] = np.array((75, 78, 70), np.uint8)[:, None, None]
    img[:, 300:380, 800:900] = np.array(soil, np.uint8)[:, None, None]  # and bare soil
    path = make_geotiff(1000, 500, Affine(gsd, 0, X, 0, -gsd, Y + 50), CRS, data=img)
    found = cleared_ground([str(path)], registry, None, ALL_ON)
    assert len(found) == 1
    assert found.geometry.iloc[0].area == pytest.approx(80.0, rel=0.1)


def test_a_shadow_of_the_structures_own_colour_is_more_of_its_surface(tmp_path, make_geotiff):
    """Part of a red painted court seen as a building has the rest of the court on its
    shadow side: as dark as a shadow, but its own colour, so no shadow. A red shed casting a
    real (grey) shadow still stands."""
    from pipeline.diff import shadow_evidence

    gsd, h, w = 0.1, 500, 1000
    img = np.full((3, h, w), 150, np.uint8)

    def fill(x0, y0, x1, y1, value):
        img[:, int((50 - y1) / gsd):int((50 - y0) / gsd), int(x0 / gsd):int(x1 / gsd)] = \
            np.array(value, np.uint8)[:, None, None]

    refs = [(10, 5, 18, 13), (30, 5, 38, 13), (50, 5, 58, 13)]
    for x0, y0, x1, y1 in refs:  # the sun in the east: 3 m shadows to the west
        fill(x0 - 3, y0, x0, y1, (60, 60, 60))
        fill(x0, y0, x1, y1, (200, 200, 200))
    fill(20, 30, 40, 42, (150, 40, 40))      # a red court; the model saw its east half
    fill(62, 30, 65, 38, (60, 60, 60))       # a red shed and its shadow
    fill(65, 30, 73, 38, (150, 40, 40))
    path = make_geotiff(w, h, Affine(gsd, 0, X, 0, -gsd, Y + 50), CRS, data=img)
    reg = district_registry(tmp_path, [(*r, "building") for r in refs])
    d = dets(("building", box(X + 30, Y + 30, X + 40, Y + 42)),
             ("shed", box(X + 65, Y + 30, X + 73, Y + 38)))
    d["source"] = str(path)
    s = shadow_evidence(d, reg, ALL_ON)
    assert s[0] == 0.0                       # darker beside it, but the court goes on
    assert s[1] > 0.8                        # a shadow: the ground, darkened
    import dataclasses
    off = shadow_evidence(d, reg, dataclasses.replace(ALL_ON, min_shadow_contrast=0.0))
    assert off[0] > ALL_ON.min_shadow_ratio  # brightness alone took it for a shadow


def test_each_finding_names_the_checks_that_decided_it(registry):
    """A trail per finding; a check switched off decides nothing (and the finding changes)."""
    from pipeline.checks import deciding, describe

    outline = box(X + 10.2, Y + 10.1, X + 29.9, Y + 30.2)  # a permitted building, as a shed
    extended = box(X + 10, Y + 10, X + 35, Y + 30.4)       # an extension, with 0.4 m noise
    from pipeline.diff import DiffOutcome

    result = DiffOutcome()
    v = diff_registry(dets(("shed", outline), ("building", extended)), registry, DATE,
                      outcome=result)
    outcome = result.trails
    assert result.members == [[1]]  # the one violation came from the second detection
    # relabelled by its permit's outline; what sticks out of the permit is outline noise
    assert deciding(outcome[0]) == ["permit_fit", "extension_depth"]
    assert "from=shed to=building" in outcome[0] and "extension_depth:drop" in outcome[0]
    assert len(v) == 1 and deciding(v.checks[0]) == ["extension_depth"]
    assert "扩建进深" in describe(v.checks[0], "zh") and describe("", "en") == "the model alone"
    zh = describe(outcome[0], "zh")  # the reasons too, in the output language
    assert "彩钢棚→建筑" in zh and "IoU" in zh and "shed" not in zh
    assert describe(float("nan"), "en") == ""  # no trail at all: a site an analyst added
    # permit_fit off: the "shed" has no shed permit, so it is an illegal shed of its own
    off = diff_registry(dets(("shed", outline)), registry, DATE,
                        DiffConfig(off=frozenset({"permit_fit"})))
    assert list(off.category) == ["illegal_construction"] and off.checks[0] == ""
    with pytest.raises(ValueError, match="unknown check"):
        DiffConfig(off=frozenset({"shade"}))


def test_a_low_scored_board_must_be_shaped_like_one(registry, make_geotiff):
    """board_shape: below the card's general threshold only a thin slab is a billboard (the
    bounds hold for the model's masks, before the card's outline pull-in); dropped ones stay
    in the detections with the reason, and become no finding."""
    from models.runtime import Detector
    from pipeline.survey import decide

    path = make_geotiff(2000, 1000, Affine(0.05, 0, X, 0, -0.05, Y + 50), CRS,
                        data=np.full((3, 1000, 2000), 120, np.uint8))
    board = box(X + 60, Y + 20, X + 63.9, Y + 20.9)   # 3.9 m x 0.9 m, pulled in by 6 cm
    car = box(X + 70, Y + 20, X + 72, Y + 22)         # 2 m x 2 m
    d = dets(("billboard", board), ("billboard", car))
    d["source"] = str(path)
    d["score"] = 0.35
    seen, v = decide(d, [str(path)], registry, DATE, ALL_ON, Detector())
    assert seen.checks[0].startswith("board_shape:keep") and seen.finding[0] == "illegal_billboard"
    assert seen.checks[1].startswith("board_shape:drop") and seen.finding[1] == ""
    boards = lambda v: list(v.category).count("illegal_billboard")  # noqa: E731
    assert boards(v) == 1  # (the grey image is cleared ground in the green parcel too)
    _, v = decide(d, [str(path)], registry, DATE, DiffConfig(off=frozenset({"board_shape"})),
                  Detector())
    assert boards(v) == 2  # switched off: the car is a billboard


#: A village world's building against its four permits (2026-12-03, held-out world 22005 with a
#: newly trained model): the difference is a collection with lines, which GEOS could not
#: intersect with the opened polygon ("Unable to determine overlay result geometry dimension").
TOUCHING_BUILDING = (
    "POLYGON ((526050.1 3497347.1, 526050.1 3497346.4, 526050 3497346.4, 526050 3497345.8, 52"
    "6049.9 3497345.8, 526049.9 3497344.9, 526049.8 3497344.9, 526049.8 3497343.9, 526045.9 3"
    "497343.9, 526045.9 3497344, 526044.7 3497344, 526044.7 3497344.1, 526044 3497344.1, 5260"
    "44 3497344.2, 526042.9 3497344.2, 526042.9 3497344.3, 526039.8 3497344.3, 526039.8 34973"
    "44.4, 526038.3 3497344.4, 526038.3 3497344.5, 526038.1 3497344.6, 526038.1 3497344.7, 52"
    "6037.9 3497344.7, 526037.9 3497346.1, 526036.05 3497346.1, 526036.05 3497346.1, 526036.0"
    "5 3497346.8, 526031.9 3497346.8, 526031.9 3497351, 526032 3497351, 526032.1 3497353, 526"
    "032.2 3497353, 526032.2 3497353.5, 526032.3 3497353.5, 526032.3 3497354.2, 526032.4 3497"
    "354.2, 526032.4 3497354.95, 526032.4 3497354.95, 526032.3 3497354.95, 526032.3 3497354.9"
    "5, 526032.4 3497354.95, 526032.4 3497354.95, 526032.4 3497355.5, 526036.05 3497355.5, 52"
    "6036.05 3497355.6, 526036.05 3497355.6, 526036.3 3497355.6, 526036.3 3497355.5, 526036.5"
    " 3497355.5, 526036.5 3497355.4, 526036.7 3497355.4, 526036.7 3497355.3, 526037 3497355.3"
    ", 526037 3497355.2, 526038.5 3497355.2, 526038.5 3497355.3, 526038.7 3497355.3, 526038.7"
    " 3497355.4, 526038.8 3497355.4, 526038.8 3497355.6, 526038.9 3497355.6, 526038.9 3497355"
    ".1, 526041.6 3497355.1, 526041.6 3497355, 526041.4 3497355, 526041.4 3497354.95, 526050."
    "3 3497354.95, 526050.3 3497354.95, 526050.3 3497347.6, 526050.2 3497347.6, 526050.2 3497"
    "347.1, 526050.1 3497347.1))"
)
TOUCHING_PERMITS = (
    "MULTIPOLYGON (((526048.964 3497333.736, 526048.119 3497323.789, 526036.691 3497324.76, 5"
    "26036.915 3497327.4, 526030.258 3497327.966, 526030.878 3497335.273, 526031.586 3497343."
    "602, 526038.919 3497342.979, 526049.672 3497342.065, 526048.964 3497333.736)), ((526031."
    "829 3497346.46, 526032.611 3497355.667, 526038.615 3497355.156, 526050.697 3497354.13, 5"
    "26049.914 3497344.924, 526037.833 3497345.95, 526031.829 3497346.46)), ((526033.37 34973"
    "64.595, 526039.532 3497364.072, 526038.774 3497355.143, 526032.611 3497355.667, 526033.3"
    "7 3497364.595)), ((526039.781 3497366.997, 526051.704 3497365.984, 526050.697 3497354.13"
    ", 526038.774 3497355.143, 526039.781 3497366.997)))"
)


def test_an_excess_whose_difference_leaves_lines_is_measured(tmp_path):
    import shapely

    from pipeline.diff import extension_excess

    geom = shapely.from_wkt(TOUCHING_BUILDING)
    permits = list(shapely.get_parts(shapely.from_wkt(TOUCHING_PERMITS)))
    ground = shapely.box(*geom.union(shapely.from_wkt(TOUCHING_PERMITS)).buffer(20).bounds)
    gdf = lambda cols, geoms: gpd.GeoDataFrame(cols, geometry=geoms, crs="EPSG:32650")  # noqa: E731
    reg = read_registry(write_registry(
        tmp_path / "r.gpkg",
        parcels=gdf({"parcel_id": ["P1"], "land_use": ["residential"], "district": ["D"]},
                    [ground]),
        permitted_structures=gdf({"permit_id": [f"BP{k}" for k in range(len(permits))],
                                  "parcel_id": ["P1"] * len(permits),
                                  "kind": ["building"] * len(permits)}, permits),
        billboard_permits=gdf({"permit_id": ["AD1"], "valid_until": [None]},
                              [shapely.Point(ground.bounds[:2])]),
        jurisdictions=gdf({"district": ["D"], "squad": ["D-1"]}, [ground])))
    diff = geom.difference(reg.permitted_by_kind["building"])
    assert diff.geom_type == "GeometryCollection"
    kept = areal(diff)  # the polygons of the difference stay, whole; the lines go
    assert kept.geom_type in ("Polygon", "MultiPolygon")
    assert kept.area == pytest.approx(diff.area) and kept.area > 1.0
    excess = extension_excess(geom, reg, "building", DiffConfig())
    assert excess.geom_type in ("Polygon", "MultiPolygon")
    assert excess.area <= kept.area
