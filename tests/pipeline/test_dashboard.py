import datetime as dt
import json
import re

import geopandas as gpd
import html5lib
from shapely.geometry import box

from pipeline.cases import read_register, update_register
from pipeline.dashboard import write_dashboard

CRS = "EPSG:4549"
X, Y = 529000.0, 3493000.0


def viol(*items, squad="Liangxi-1", district="Liangxi"):
    return gpd.GeoDataFrame(
        {"category": [c for c, _ in items], "object_class": ["shed"] * len(items),
         "area_m2": [g.area for _, g in items], "confidence": [0.9] * len(items),
         "parcel_id": ["<script>alert(1)</script>"] * len(items),
         "district": [district] * len(items), "squad": [squad] * len(items),
         "source": ["o.tif"] * len(items)},
        geometry=[g for _, g in items], crs=CRS)


def test_dashboard_totals_match_the_register_and_page_is_offline(tmp_path):
    reg = tmp_path / "cases.gpkg"
    cover = box(X, Y, X + 300, Y + 300)
    a = ("illegal_construction", box(X + 10, Y + 10, X + 20, Y + 16))
    b = ("green_encroachment", box(X + 100, Y + 100, X + 110, Y + 105))
    c = ("illegal_billboard", box(X + 200, Y + 200, X + 208, Y + 201))
    update_register(reg, "S1", dt.date(2026, 3, 1), cover,
                    viol(a, b, c, squad='<img src=x onerror="alert(1)">'))
    update_register(reg, "S2", dt.date(2026, 5, 1), cover, viol(a))
    path = write_dashboard(reg, tmp_path / "dash", "zh", date_to=dt.date(2026, 6, 1))
    data = json.loads((tmp_path / "dash" / "dashboard.json").read_text())
    cases = read_register(reg, CRS)["cases"]
    resolved = cases[cases.status == "resolved"]
    assert data["verified"]["regreened_m2"] == round(
        resolved.loc[resolved.category == "green_encroachment", "area_m2"].sum(), 1) == 50.0
    assert data["verified"]["billboards_removed"] == 1
    assert data["verified"]["demolished_m2"] == 0.0  # the shed is still there
    assert data["open"]["count"] == 1 and data["open"]["area_m2"] == 60.0
    assert data["by_month"]["2026-05"]["green_encroachment"] == 50.0
    # trends across surveys, overdue cases, units apart
    assert data["trend"]["dates"] == ["2026-03-01", "2026-05-01"]
    assert data["trend"]["open_count"]["illegal_construction"] == [1, 1]
    assert data["trend"]["open_count"]["green_encroachment"] == [1, 0]
    assert data["boards_by_month"] == {"2026-05": 1}
    assert [o["age_days"] for o in data["overdue"]] == [92]
    assert data["period"]["from"] == "2026-03-01"
    assert len(data["sites"]) == 3
    page = path.read_text(encoding="utf-8")
    assert "领导驾驶舱" in page and "超期案件（超过30天未整改）" in page
    dom = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(page)  # valid
    for el in dom.iter():
        for attr in ("src", "href"):
            assert not re.match(r"(https?:)?//", el.get(attr, "")), "no external resources"
        assert el.tag != "img" or "onerror" not in el.attrib, "registry text is escaped"
    assert all(s.get("src") is None for s in dom.iter("script")), "scripts are inlined"
    assert "onerror=\"alert" not in page
