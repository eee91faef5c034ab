"""Notebooks run in the test suite: their code cells execute against a real register."""

import datetime as dt
import json
from pathlib import Path

import geopandas as gpd
from shapely.geometry import box

from pipeline.cases import update_register

ROOT = Path(__file__).resolve().parents[1]


def test_leadership_totals_notebook_runs(tmp_path, monkeypatch):
    x, y = 529000.0, 3493000.0
    v = gpd.GeoDataFrame({"category": ["green_encroachment"], "object_class": ["shed"],
                          "area_m2": [50.0], "confidence": [0.9], "parcel_id": ["G1"],
                          "district": ["Binhu"], "squad": ["Binhu-1"], "source": ["o.tif"]},
                         geometry=[box(x, y, x + 10, y + 5)], crs="EPSG:4549")
    reg = tmp_path / "cases.gpkg"
    update_register(reg, "S1", dt.date(2026, 3, 1), box(x - 50, y - 50, x + 50, y + 50), v)
    update_register(reg, "S2", dt.date(2026, 5, 1), box(x - 50, y - 50, x + 50, y + 50),
                    v.iloc[0:0])
    monkeypatch.setenv("SKYPATROL_CASES", str(reg))
    nb = json.loads((ROOT / "notebooks" / "leadership_totals.ipynb").read_text())
    scope: dict = {}
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), "notebook", "exec"), scope)  # noqa: S102
    assert scope["data"]["verified"]["regreened_m2"] == 50.0
    assert scope["trend"].loc["2026-05", "green_encroachment"] == 50.0
    assert scope["by_district"].area_m2.sum() == 50.0
